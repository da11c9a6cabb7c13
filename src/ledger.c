/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The commit ledger in shared memory: which relations committed writes
 *	  have reached, and when.
 *
 * Every cached result comes from one cluster: the fingerprint of an entry
 * includes the system identifier and the database, so only writes
 * committed in this cluster can make it stale.  This cluster's shared
 * memory is therefore where commits are recorded, and checking an entry
 * costs no Redis round trip at all, and a commit never waits on Redis.
 *
 * The ledger is a global sequence number and an array of slots; a relation
 * (database, OID) hashes to one slot, and (database, InvalidOid) is the
 * slot of a write to the whole database.  The Redis key of an entry
 * (which names its database) hashes to a slot too: cache_invalidate of
 * that key counts as a write to it (invalidations.c).  Each slot holds
 *
 *	last		the sequence number of the latest commit that wrote to a
 *				relation of the slot
 *	last_xid	the largest full transaction ID among those commits
 *	inflight	the number of transactions that wrote to a relation of the
 *				slot and are between pre-commit and the end of commit
 *
 * Note about ordering.  A writer raises inflight before its commit can
 * become visible (ledger_mark at pre-commit), and after it became visible
 * takes the next sequence number, stores it in last, and only then lowers
 * inflight (ledger_record_commit).  A reader that reads inflight first and
 * last second (ledger_slot_changed) therefore cannot miss a commit that
 * its snapshot may see: either the writer is still in flight, or its
 * sequence number is already in last.  A fill reads the sequence number
 * before its query takes its snapshot (the entry's "as of"); the entry is
 * valid as long as no slot of its relations has a last above it and none
 * has a writer in flight.  Collisions of the hash only cause extra misses.
 *
 * Shared memory does not survive a restart, but committed writes do: each
 * start of the cluster draws a random epoch, and entries of another epoch
 * are misses.  After a clean shutdown, though, the ledger was saved and
 * may be restored at the next start (ledger_save.c): then the entries of
 * the last run's epoch stay valid, checked against the restored slots as
 * before.  The new run still
 * draws an epoch of its own, for what it stores: a copy of the data
 * directory started elsewhere accepts what both had when they parted, not
 * what the other stored since.  valid_from is a sequence number before
 * which no entry is valid, raised when something unseen may have
 * committed (prepared transactions that survived a restart, see
 * prepared.c).
 *
 * Who marks and records commits is commits.c; who reads the ledger to
 * decide about an entry is validity.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "ledger.h"

typedef struct LedgerSlot
{
	pg_atomic_uint64 last;
	pg_atomic_uint64 last_xid;
	pg_atomic_uint32 inflight;
} LedgerSlot;

typedef struct Ledger
{
	uint64		epoch;			/* drawn at each start of the cluster */
	uint64		prev_epoch;		/* restored after a clean restart: the
								 * epoch of the last run, or 0 */
	pg_atomic_uint64 seq;		/* the last sequence number taken */
	pg_atomic_uint64 valid_from;	/* entries with an earlier as-of are
									 * misses */
	LedgerSlot	slots[LEDGER_SLOTS];
} Ledger;

static Ledger *ledger = NULL;

static inline void
atomic_max_u64(pg_atomic_uint64 *ptr, uint64 value)
{
	uint64		current = pg_atomic_read_u64(ptr);

	while (current < value &&
		   !pg_atomic_compare_exchange_u64(ptr, &current, value))
		;
}


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

Size
ledger_shmem_size(void)
{
	return MAXALIGN(sizeof(Ledger));
}

/*
 * Attach to the ledger, making it at the first start of the cluster with
 * a new epoch.  Returns true when it was made.  Called with
 * AddinShmemInitLock held.
 */
bool
ledger_shmem_init(void)
{
	bool		found;

	ledger = ShmemInitStruct("cacheaside ledger", ledger_shmem_size(), &found);
	if (found)
		return false;

	/* a new epoch: entries of every earlier start become misses */
	do
	{
		if (!pg_strong_random(&ledger->epoch, sizeof(ledger->epoch)))
			ledger->epoch = (uint64) GetCurrentTimestamp() ^
				((uint64) MyProcPid << 32);
	} while (ledger->epoch == 0);
	ledger->prev_epoch = 0;
	pg_atomic_init_u64(&ledger->seq, 0);
	pg_atomic_init_u64(&ledger->valid_from, 0);
	for (int i = 0; i < LEDGER_SLOTS; i++)
	{
		pg_atomic_init_u64(&ledger->slots[i].last, 0);
		pg_atomic_init_u64(&ledger->slots[i].last_xid, 0);
		pg_atomic_init_u32(&ledger->slots[i].inflight, 0);
	}
	return true;
}

/*
 * Is there a ledger?  Only when the library was preloaded.
 */
bool
ledger_attached(void)
{
	return ledger != NULL;
}


/* ----------------------------------------------------------------
 * Sequence, epoch and validity
 * ----------------------------------------------------------------
 */

uint64
ledger_epoch(void)
{
	Assert(ledger != NULL);
	return ledger->epoch;
}

/*
 * Is an entry of epoch made by this run of the ledger, or by the last run
 * when a clean restart restored it?
 */
bool
ledger_epoch_accepts(uint64 epoch)
{
	Assert(ledger != NULL);
	return epoch == ledger->epoch ||
		(epoch == ledger->prev_epoch && epoch != 0);
}

/*
 * A copy of the ledger, for saving at shutdown, when nothing commits any
 * more; marks in flight (prepared transactions) are not kept: their
 * registry is made again at the next start.
 */
void
ledger_image(LedgerImage *image)
{
	Assert(ledger != NULL);
	image->epoch = ledger->epoch;
	image->seq = pg_atomic_read_u64(&ledger->seq);
	image->valid_from = pg_atomic_read_u64(&ledger->valid_from);
	image->patterns_newest = 0;
	for (int i = 0; i < LEDGER_SLOTS; i++)
	{
		image->last[i] = pg_atomic_read_u64(&ledger->slots[i].last);
		image->last_xid[i] = pg_atomic_read_u64(&ledger->slots[i].last_xid);
	}
}

/*
 * Take up the ledger of the last run, at a start where nothing can have
 * been written since it was saved; the epoch drawn for this run stays.
 * Called in the postmaster, before any backend exists.
 */
void
ledger_restore(const LedgerImage *image)
{
	Assert(ledger != NULL);
	ledger->prev_epoch = image->epoch;
	pg_atomic_write_u64(&ledger->seq, image->seq);
	pg_atomic_write_u64(&ledger->valid_from, image->valid_from);
	for (int i = 0; i < LEDGER_SLOTS; i++)
	{
		pg_atomic_write_u64(&ledger->slots[i].last, image->last[i]);
		pg_atomic_write_u64(&ledger->slots[i].last_xid, image->last_xid[i]);
	}
}

/*
 * The last sequence number taken, read after every earlier read and write
 * of this backend: what a fill records as its "as of".
 */
uint64
ledger_sequence(void)
{
	Assert(ledger != NULL);
	pg_memory_barrier();
	return pg_atomic_read_u64(&ledger->seq);
}

uint64
ledger_valid_from(void)
{
	Assert(ledger != NULL);
	return pg_atomic_read_u64(&ledger->valid_from);
}

/*
 * Make every entry whose query began before now a miss.
 */
void
ledger_restart_validity(void)
{
	Assert(ledger != NULL);
	pg_atomic_write_u64(&ledger->valid_from,
						pg_atomic_add_fetch_u64(&ledger->seq, 1));
	pg_write_barrier();
}


/* ----------------------------------------------------------------
 * Slots
 * ----------------------------------------------------------------
 */

uint32
ledger_slot_of(Oid dbid, Oid relid)
{
	return hash_combine(murmurhash32(dbid), murmurhash32(relid)) &
		(LEDGER_SLOTS - 1);
}

/*
 * The slot of the entry under a Redis key, which cache_invalidate of that
 * key marks and records like a write (invalidations.c).  Hashed apart from
 * relations: a collision only causes extra misses.
 */
uint32
ledger_slot_of_key(Oid dbid, const char *key, size_t len)
{
	return hash_combine(murmurhash32(dbid),
						hash_bytes((const unsigned char *) key, (int) len)) &
		(LEDGER_SLOTS - 1);
}

/*
 * Take the next sequence number, for a record kept outside the slots
 * (patterns.c).  Called after what it records took effect.
 */
uint64
ledger_take_sequence(void)
{
	Assert(ledger != NULL);
	return pg_atomic_add_fetch_u64(&ledger->seq, 1);
}

/*
 * Record a change of slot that took effect now, without a mark in flight
 * before it: a cache_invalidate of a key, at the call.
 */
void
ledger_record_now(uint32 slot)
{
	Assert(ledger != NULL);
	atomic_max_u64(&ledger->slots[slot].last, ledger_take_sequence());
	pg_write_barrier();
}

static int
uint32_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * Sort slots and drop repeats, so that a writer marks each slot once
 * whatever the number of its relations hashed to it.  Returns how many
 * are left.
 */
int
ledger_distinct_slots(uint32 *slots, int nslots)
{
	int			n = 0;

	qsort(slots, nslots, sizeof(uint32), uint32_cmp);
	for (int i = 0; i < nslots; i++)
		if (n == 0 || slots[n - 1] != slots[i])
			slots[n++] = slots[i];
	return n;
}

/*
 * A writer of these slots is about to commit: until it is recorded (or
 * unmarked), entries of the slots are neither served nor stored.
 */
void
ledger_mark(const uint32 *slots, int nslots)
{
	Assert(ledger != NULL);
	for (int i = 0; i < nslots; i++)
		pg_atomic_fetch_add_u32(&ledger->slots[slots[i]].inflight, 1);
}

/*
 * A writer marked with ledger_mark did not commit.
 */
void
ledger_unmark(const uint32 *slots, int nslots)
{
	Assert(ledger != NULL);
	for (int i = 0; i < nslots; i++)
		pg_atomic_fetch_sub_u32(&ledger->slots[slots[i]].inflight, 1);
}

/*
 * A writer marked with ledger_mark committed, and its commit is visible:
 * a new sequence number in each of its slots, then it is no longer in
 * flight.
 */
void
ledger_record_commit(const uint32 *slots, int nslots, uint64 fxid)
{
	uint64		seq;

	Assert(ledger != NULL);
	seq = pg_atomic_add_fetch_u64(&ledger->seq, 1);
	for (int i = 0; i < nslots; i++)
	{
		atomic_max_u64(&ledger->slots[slots[i]].last, seq);
		atomic_max_u64(&ledger->slots[slots[i]].last_xid, fxid);
	}
	pg_write_barrier();
	ledger_unmark(slots, nslots);
}

/*
 * Has slot seen a commit after as_of, or is a writer of it committing now?
 * If not, raises *last_xid to the slot's largest committed writer.  Reads
 * inflight before last (see "Note about ordering" above).
 */
bool
ledger_slot_changed(uint32 slot, uint64 as_of, uint64 *last_xid)
{
	LedgerSlot *s = &ledger->slots[slot];
	uint32		inflight = pg_atomic_read_u32(&s->inflight);

	pg_read_barrier();
	if (inflight != 0 || pg_atomic_read_u64(&s->last) > as_of)
		return true;
	*last_xid = Max(*last_xid, pg_atomic_read_u64(&s->last_xid));
	return false;
}

/*
 * The full transaction ID of xid, a transaction ID of the last 2^31 (the
 * xmin of a snapshot, a prepared transaction): the ledger keeps full IDs.
 */
FullTransactionId
ledger_full_xid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return FullTransactionIdFromEpochAndXid(epoch, xid);
}
