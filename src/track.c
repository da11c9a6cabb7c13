/*-------------------------------------------------------------------------
 *
 * track.c
 *	  Automatic invalidation: which committed writes an entry has missed.
 *
 * Every cached result comes from one cluster: the fingerprint of an entry
 * includes the system identifier and the database, so only writes
 * committed in this cluster can make it stale.  This cluster's shared
 * memory is therefore where commits are recorded, and checking an entry
 * costs no Redis round trip at all, and a commit never waits on Redis.
 *
 * Shared memory holds a global sequence number and an array of slots; a
 * relation (database, OID) hashes to one slot.  Each slot holds
 *
 *	last		the sequence number of the latest commit that wrote to a
 *				relation of the slot
 *	last_xid	the largest transaction ID among those commits
 *	inflight	the number of transactions that wrote to a relation of the
 *				slot and are between pre-commit and the end of commit
 *
 * A writing transaction, at XACT_EVENT_PRE_COMMIT (before its commit can
 * become visible), finds the relations it wrote from the locks it holds
 * (RowExclusiveLock or stronger, save ShareUpdateExclusiveLock and
 * ShareLock, which VACUUM, ANALYZE and CREATE INDEX take; but
 * ShareUpdateExclusiveLock too if it wrote pg_inherits, as DETACH
 * PARTITION CONCURRENTLY does), adds their inheritance and partition
 * ancestors, and raises the slots' inflight counts.  At XACT_EVENT_COMMIT (after its commit became visible, before
 * COMMIT returns) it takes the next sequence number, stores it in the
 * slots' last, and lowers inflight again.  Locks cover every way of
 * writing: DML, MERGE, COPY, TRUNCATE, cascades and triggers, writes in
 * functions, DDL, logical replication apply, and extensions' own writes.
 *
 * A fill reads the sequence number before its query takes its snapshot
 * (the entry's "as of"), and records every relation its executor opened,
 * including those read inside functions.  The entry is valid as long as
 * no slot of its relations has a last above its as-of, and none has a
 * writer in flight.  Collisions of the hash only cause extra misses.
 *
 * Shared memory does not survive a restart, but committed writes do; each
 * start of the cluster draws a random epoch, and entries of another epoch
 * are misses.
 *
 * Prepared transactions: PREPARE records the transaction and what it wrote,
 * which stays in flight until the transaction ends; those that survived a
 * restart keep their whole database in flight (see "Prepared transactions"
 * below).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/twophase.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits_d.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "executor/spi.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/snapmgr.h"

#include "config.h"
#include "entry.h"
#include "privs.h"
#include "track.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 160000
#error "track.c reads the lock manager's per-backend state as laid out in PostgreSQL 15"
#endif

/* Number of slots: a power of two */
#define TRACK_SLOTS			65536

/*
 * How lock.c packs fast-path locks into PGPROC.fpLockBits (PostgreSQL 15):
 * three bits per slot, one per weak lock mode, AccessShareLock first.
 */
#define FP_BITS_PER_SLOT	3
#define FP_LOCKNUMBER_OFFSET 1
#define FP_GET_BITS(proc, n) \
	(((proc)->fpLockBits >> (FP_BITS_PER_SLOT * (n))) & ((1 << FP_BITS_PER_SLOT) - 1))
#define FP_HOLDS(bits, mode) \
	(((bits) & (1 << ((mode) - FP_LOCKNUMBER_OFFSET))) != 0)

/* Lock modes that writing a relation, or changing its definition, takes */
#define WRITE_LOCK_MASK \
	(LOCKBIT_ON(RowExclusiveLock) | LOCKBIT_ON(ShareRowExclusiveLock) | \
	 LOCKBIT_ON(ExclusiveLock) | LOCKBIT_ON(AccessExclusiveLock))

typedef struct TrackSlot
{
	pg_atomic_uint64 last;
	pg_atomic_uint64 last_xid;
	pg_atomic_uint32 inflight;
} TrackSlot;

/* Slots recorded per prepared transaction; more count as the database */
#define PREPARED_MAX_SLOTS	64

/* Whether the prepared transactions that survived the start are recorded */
#define RECOVERED_UNKNOWN	0
#define RECOVERED_RECORDING	1
#define RECOVERED_RECORDED	2

/* A prepared transaction that wrote (fxid 0: a free entry) */
typedef struct TrackPrepared
{
	uint64		fxid;
	int			nslots;
	uint32		slots[PREPARED_MAX_SLOTS];
} TrackPrepared;

typedef struct TrackShared
{
	uint64		epoch;
	pg_atomic_uint64 seq;
	TrackSlot	slots[TRACK_SLOTS];
	slock_t		prepared_lock;	/* protects the next two and the entries */
	int			nprepared;		/* entries in use */
	int			max_prepared;	/* max_prepared_transactions at start */
	pg_atomic_uint32 recovered_state;	/* RECOVERED_* */
	pg_atomic_uint64 valid_from;	/* entries with an earlier as-of are
									 * misses */
	/* then max_prepared TrackPrepared entries */
} TrackShared;

static TrackShared *shared = NULL;
static TrackPrepared *prepared_entries = NULL;

/* The transaction this backend is preparing, between PRE_PREPARE and PREPARE */
static uint64 preparing_fxid = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;

/* The fill running in this backend, innermost first */
static TrackFill *current_fill = NULL;

/* Slots this transaction marked in flight at pre-commit */
static uint32 *pending_slots = NULL;
static int	npending = 0;
static uint64 pending_xid = 0;
static bool exit_callback_registered = false;

/* One message per backend about tracking being unavailable */
static bool unavailable_warned = false;


/* ----------------------------------------------------------------
 * Slots
 * ----------------------------------------------------------------
 */

static inline uint32
slot_of(Oid dbid, Oid relid)
{
	return hash_combine(murmurhash32(dbid), murmurhash32(relid)) &
		(TRACK_SLOTS - 1);
}

static inline void
atomic_max_u64(pg_atomic_uint64 *ptr, uint64 value)
{
	uint64		current = pg_atomic_read_u64(ptr);

	while (current < value &&
		   !pg_atomic_compare_exchange_u64(ptr, &current, value))
		;
}

/*
 * Has slot seen a commit after as_of, or is a writer of it committing now?
 * The writer raises inflight before its commit is visible and lowers it
 * after setting last, so reading inflight first and last second cannot
 * miss a visible commit.
 */
static inline bool
slot_changed(uint32 slot, uint64 as_of, uint64 *last_xid)
{
	TrackSlot  *s = &shared->slots[slot];
	uint32		inflight = pg_atomic_read_u32(&s->inflight);

	pg_read_barrier();
	if (inflight != 0 || pg_atomic_read_u64(&s->last) > as_of)
		return true;
	*last_xid = Max(*last_xid, pg_atomic_read_u64(&s->last_xid));
	return false;
}

static void
slots_mark(const uint32 *slots, int nslots)
{
	for (int i = 0; i < nslots; i++)
		pg_atomic_fetch_add_u32(&shared->slots[slots[i]].inflight, 1);
}

static void
slots_unmark(const uint32 *slots, int nslots)
{
	for (int i = 0; i < nslots; i++)
		pg_atomic_fetch_sub_u32(&shared->slots[slots[i]].inflight, 1);
}

/*
 * Record a commit that wrote the given slots: a new sequence number in
 * each, then the writer is no longer in flight.
 */
static void
slots_bump(const uint32 *slots, int nslots, uint64 xid)
{
	uint64		seq = pg_atomic_add_fetch_u64(&shared->seq, 1);

	for (int i = 0; i < nslots; i++)
	{
		atomic_max_u64(&shared->slots[slots[i]].last, seq);
		atomic_max_u64(&shared->slots[slots[i]].last_xid, xid);
	}
	pg_write_barrier();
	slots_unmark(slots, nslots);
}


/*
 * The full transaction ID of xid, a transaction ID of the last 2^31 (the
 * xmin of a snapshot, a prepared transaction).
 */
static FullTransactionId
full_xid_of(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return FullTransactionIdFromEpochAndXid(epoch, xid);
}


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

static Size
track_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(TrackShared)),
					mul_size(max_prepared_xacts, sizeof(TrackPrepared)));
}

static void
track_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(track_shmem_size());
}

static void
track_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("cacheaside", track_shmem_size(), &found);
	prepared_entries = (TrackPrepared *)
		((char *) shared + MAXALIGN(sizeof(TrackShared)));
	if (!found)
	{
		/* a new epoch: entries of every earlier start become misses */
		do
		{
			if (!pg_strong_random(&shared->epoch, sizeof(shared->epoch)))
				shared->epoch = (uint64) GetCurrentTimestamp() ^
					((uint64) MyProcPid << 32);
		} while (shared->epoch == 0);
		pg_atomic_init_u64(&shared->seq, 0);
		for (int i = 0; i < TRACK_SLOTS; i++)
		{
			pg_atomic_init_u64(&shared->slots[i].last, 0);
			pg_atomic_init_u64(&shared->slots[i].last_xid, 0);
			pg_atomic_init_u32(&shared->slots[i].inflight, 0);
		}
		SpinLockInit(&shared->prepared_lock);
		pg_atomic_init_u32(&shared->recovered_state, RECOVERED_UNKNOWN);
		pg_atomic_init_u64(&shared->valid_from, 0);
		shared->nprepared = 0;
		shared->max_prepared = max_prepared_xacts;
		memset(prepared_entries, 0,
			   sizeof(TrackPrepared) * (Size) max_prepared_xacts);
	}
	LWLockRelease(AddinShmemInitLock);
}


/* ----------------------------------------------------------------
 * What a transaction wrote
 * ----------------------------------------------------------------
 */

static void
oid_array_add(OidArray *array, Oid oid)
{
	if (array->n == array->max)
	{
		array->max = Max(16, array->max * 2);
		array->oids = array->oids == NULL ?
			palloc(sizeof(Oid) * array->max) :
			repalloc(array->oids, sizeof(Oid) * array->max);
	}
	array->oids[array->n++] = oid;
}

/* Add oid unless the array has it already */
static void
oid_array_add_unique(OidArray *array, Oid oid)
{
	for (int i = 0; i < array->n; i++)
		if (array->oids[i] == oid)
			return;
	oid_array_add(array, oid);
}

static int
uint32_cmp(const void *a, const void *b)
{
	uint32		x = *(const uint32 *) a;
	uint32		y = *(const uint32 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* At most this many written relations are told apart at one commit */
#define MAX_WRITE_LOCKS		1024

/*
 * Collect the user relations of this database on which this backend holds
 * a lock of a writing mode.  Returns false if there were more than
 * MAX_WRITE_LOCKS of them (the caller then treats the whole database as
 * written).
 *
 * The fast-path slots and the main lock table are both read: another
 * backend may move our fast-path locks to the main table, which it does
 * only while holding our fpInfoLock, so holding that lock for the whole
 * scan sees every lock exactly once.  Nothing is allocated while LWLocks
 * are held.
 */
static bool
collect_write_locks(OidArray *out)
{
	Oid			found[MAX_WRITE_LOCKS];
	int			nfound = 0;
	Oid			sue[MAX_WRITE_LOCKS];	/* ShareUpdateExclusiveLock */
	int			nsue = 0;
	bool		inherits_written = false;
	bool		overflow = false;

	LWLockAcquire(&MyProc->fpInfoLock, LW_SHARED);

	for (int f = 0; f < FP_LOCK_SLOTS_PER_BACKEND; f++)
	{
		uint64		bits = FP_GET_BITS(MyProc, f);

		/* fast-path locks are weak: only RowExclusiveLock writes */
		if (FP_HOLDS(bits, RowExclusiveLock))
		{
			found[nfound++] = MyProc->fpRelId[f];
			if (MyProc->fpRelId[f] == InheritsRelationId)
				inherits_written = true;
		}
	}

	for (int p = 0; p < NUM_LOCK_PARTITIONS && !overflow; p++)
	{
		SHM_QUEUE  *procLocks = &MyProc->myProcLocks[p];
		PROCLOCK   *proclock;

		if (SHMQueueNext(procLocks, procLocks,
						 offsetof(PROCLOCK, procLink)) == NULL)
			continue;

		LWLockAcquire(LockHashPartitionLockByIndex(p), LW_SHARED);
		proclock = (PROCLOCK *) SHMQueueNext(procLocks, procLocks,
											 offsetof(PROCLOCK, procLink));
		while (proclock != NULL)
		{
			LOCK	   *lock = proclock->tag.myLock;

			if (lock->tag.locktag_type == LOCKTAG_RELATION &&
				lock->tag.locktag_lockmethodid == DEFAULT_LOCKMETHOD &&
				lock->tag.locktag_field1 == MyDatabaseId &&
				(proclock->holdMask & WRITE_LOCK_MASK) != 0)
			{
				if (nfound == MAX_WRITE_LOCKS)
				{
					overflow = true;
					break;
				}
				found[nfound++] = (Oid) lock->tag.locktag_field2;
				if (lock->tag.locktag_field2 == InheritsRelationId)
					inherits_written = true;
			}
			else if (lock->tag.locktag_type == LOCKTAG_RELATION &&
					 lock->tag.locktag_lockmethodid == DEFAULT_LOCKMETHOD &&
					 lock->tag.locktag_field1 == MyDatabaseId &&
					 (proclock->holdMask &
					  LOCKBIT_ON(ShareUpdateExclusiveLock)) != 0)
			{
				if (nsue == MAX_WRITE_LOCKS)
				{
					overflow = true;
					break;
				}
				sue[nsue++] = (Oid) lock->tag.locktag_field2;
			}
			proclock = (PROCLOCK *) SHMQueueNext(procLocks, &proclock->procLink,
												 offsetof(PROCLOCK, procLink));
		}
		LWLockRelease(LockHashPartitionLockByIndex(p));
	}

	LWLockRelease(&MyProc->fpInfoLock);

	for (int i = 0; i < nfound; i++)
		if (found[i] >= FirstNormalObjectId)
			oid_array_add(out, found[i]);

	/*
	 * ShareUpdateExclusiveLock is VACUUM's and ANALYZE's, which change no
	 * rows, but also that of ATTACH/DETACH PARTITION (CONCURRENTLY) on the
	 * parent, which change what it returns: those write pg_inherits.
	 */
	if (inherits_written)
		for (int i = 0; i < nsue; i++)
			if (sue[i] >= FirstNormalObjectId)
				oid_array_add(out, sue[i]);
	return !overflow;
}

/*
 * Direct parents of relations (from pg_inherits), cached per backend: a
 * commit would otherwise look each written table up.  Any relcache
 * invalidation empties the cache before its next use (inheritance changes
 * invalidate the relations involved; a concurrent change to the parents of
 * a table this transaction wrote needs a lock that conflicts with its
 * write).
 */
typedef struct ParentsEntry
{
	Oid			relid;			/* hash key */
	int			nparents;
	Oid		   *parents;
} ParentsEntry;

static HTAB *parents_cache = NULL;
static MemoryContext parents_cxt = NULL;
static bool parents_stale = false;

static void
parents_invalidate(Datum arg, Oid relid)
{
	parents_stale = true;
}

static ParentsEntry *
parents_of(Oid relid, Relation *inherits)
{
	ParentsEntry *entry;
	bool		found;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	OidArray	parents = {NULL, 0, 0};
	MemoryContext oldcxt;

	if (parents_cache == NULL)
	{
		HASHCTL		ctl;

		if (parents_cxt == NULL)
			parents_cxt = AllocSetContextCreate(TopMemoryContext,
												"cacheaside parents",
												ALLOCSET_SMALL_SIZES);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ParentsEntry);
		ctl.hcxt = parents_cxt;
		parents_cache = hash_create("cacheaside parents", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	entry = hash_search(parents_cache, &relid, HASH_FIND, NULL);
	if (entry != NULL)
		return entry;

	if (*inherits == NULL)
		*inherits = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(*inherits, InheritsRelidSeqnoIndexId, true,
							  NULL, 1, &key);
	oldcxt = MemoryContextSwitchTo(parents_cxt);
	while ((tuple = systable_getnext(scan)) != NULL)
		oid_array_add(&parents,
					  ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	MemoryContextSwitchTo(oldcxt);
	systable_endscan(scan);

	entry = hash_search(parents_cache, &relid, HASH_ENTER, &found);
	entry->nparents = parents.n;
	entry->parents = parents.oids;
	return entry;
}

/*
 * Add the inheritance and partition ancestors of every relation in rels:
 * a query on a parent reads its children, and a partition attached in
 * this transaction changes what its new parent returns.
 */
static void
add_ancestors(OidArray *rels)
{
	Relation	inherits = NULL;

	if (parents_stale)
	{
		parents_stale = false;
		parents_cache = NULL;
		if (parents_cxt != NULL)
			MemoryContextReset(parents_cxt);
	}

	/* rels grows as parents are found: they are searched in turn */
	for (int i = 0; i < rels->n; i++)
	{
		ParentsEntry *entry = parents_of(rels->oids[i], &inherits);

		for (int p = 0; p < entry->nparents; p++)
			oid_array_add_unique(rels, entry->parents[p]);
	}
	if (inherits != NULL)
		table_close(inherits, AccessShareLock);
}

static bool prepared_finish(uint64 fxid, bool committed);

/*
 * The transaction did not commit (or the backend exits in the middle):
 * lower whatever marks it raised.
 */
static void
release_marks(void)
{
	if (npending > 0)
		slots_unmark(pending_slots, npending);
	npending = 0;
	if (preparing_fxid != 0)
		(void) prepared_finish(preparing_fxid, false);
	preparing_fxid = 0;
}

static void
track_release_pending(int code, Datum arg)
{
	release_marks();
}

/*
 * The slots of what this transaction wrote, sorted and distinct, in
 * TopTransactionContext; returns their number (0: wrote nothing).
 */
static int
written_slots(uint32 **slots_out)
{
	MemoryContext oldcxt;
	OidArray	rels = {NULL, 0, 0};
	uint32	   *slots;
	int			n;
	int			nslots;

	*slots_out = NULL;
	if (!FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
		return 0;				/* wrote nothing */

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	if (collect_write_locks(&rels))
	{
		int			kept = 0;

		/*
		 * No query depends on an index, and queries that read sequences are
		 * not cached: leave them out, and with them their ancestors' look-up.
		 * A relation dropped by this transaction has no relkind any more and
		 * stays.
		 */
		for (int i = 0; i < rels.n; i++)
		{
			char		relkind = get_rel_relkind(rels.oids[i]);

			if (relkind != RELKIND_INDEX &&
				relkind != RELKIND_PARTITIONED_INDEX &&
				relkind != RELKIND_SEQUENCE)
				rels.oids[kept++] = rels.oids[i];
		}
		rels.n = kept;
		if (rels.n == 0)
		{
			MemoryContextSwitchTo(oldcxt);
			return 0;
		}
		add_ancestors(&rels);
		slots = palloc(sizeof(uint32) * rels.n);
		for (int i = 0; i < rels.n; i++)
			slots[i] = slot_of(MyDatabaseId, rels.oids[i]);
		n = rels.n;
	}
	else
	{
		/* too many to tell apart: the whole database */
		slots = palloc(sizeof(uint32));
		slots[0] = slot_of(MyDatabaseId, InvalidOid);
		n = 1;
	}
	MemoryContextSwitchTo(oldcxt);

	/* one mark per slot, whatever the number of relations hashed to it */
	qsort(slots, n, sizeof(uint32), uint32_cmp);
	nslots = 0;
	for (int i = 0; i < n; i++)
		if (nslots == 0 || slots[nslots - 1] != slots[i])
			slots[nslots++] = slots[i];
	*slots_out = slots;
	return nslots;
}

static void
register_exit_callback(void)
{
	if (!exit_callback_registered)
	{
		before_shmem_exit(track_release_pending, (Datum) 0);
		exit_callback_registered = true;
	}
}

/*
 * Pre-commit of a transaction that has written: find what it wrote and
 * mark those slots in flight, before the commit can become visible.
 */
static void
track_pre_commit(void)
{
	uint32	   *slots;
	int			nslots = written_slots(&slots);

	if (nslots == 0)
		return;
	register_exit_callback();
	pending_slots = slots;
	pending_xid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());

	/* nothing between these two can fail: abort unmarks exactly these */
	slots_mark(pending_slots, nslots);
	npending = nslots;
}


/* ----------------------------------------------------------------
 * Prepared transactions
 *
 * What a prepared transaction wrote becomes visible when it is committed,
 * later, by COMMIT PREPARED in any session, or by a logical replication
 * worker applying a two-phase transaction, which does not go through
 * COMMIT PREPARED as a statement.  So PREPARE records the transaction and
 * the slots it wrote in shared memory and leaves those slots in flight:
 * entries of those tables are neither served nor stored while it is
 * prepared.  Whoever checks entries next after it has ended (any hit or
 * store) records its commit; after a rollback that costs only misses.
 * Transactions prepared before the server started are recorded by the
 * first check, against their whole database.
 * ----------------------------------------------------------------
 */

/*
 * Remove the entry of the prepared transaction fxid if it is still there,
 * and then record its commit or release its marks.  Returns true if this
 * call did it.
 */
static bool
prepared_finish(uint64 fxid, bool committed)
{
	TrackPrepared *entry = NULL;
	TrackPrepared copy;

	SpinLockAcquire(&shared->prepared_lock);
	for (int i = 0; i < shared->max_prepared; i++)
		if (prepared_entries[i].fxid == fxid)
		{
			entry = &prepared_entries[i];
			copy = *entry;
			entry->fxid = 0;
			shared->nprepared--;
			break;
		}
	SpinLockRelease(&shared->prepared_lock);

	if (entry == NULL)
		return false;			/* someone else did it */
	if (committed)
		slots_bump(copy.slots, copy.nslots, fxid);
	else
		slots_unmark(copy.slots, copy.nslots);
	return true;
}

/*
 * Take a free entry for fxid, with no slots yet; NULL if there is none.
 */
static TrackPrepared *
prepared_reserve(uint64 fxid)
{
	TrackPrepared *entry = NULL;

	SpinLockAcquire(&shared->prepared_lock);
	for (int i = 0; i < shared->max_prepared; i++)
		if (prepared_entries[i].fxid == 0)
		{
			entry = &prepared_entries[i];
			entry->fxid = fxid;
			entry->nslots = 0;
			shared->nprepared++;
			break;
		}
	SpinLockRelease(&shared->prepared_lock);
	return entry;
}

/*
 * Mark the slots and only then give them to the reserved entry: whoever
 * finishes the entry unmarks exactly what was marked.  Nothing here fails.
 */
static void
prepared_publish(TrackPrepared *entry, const uint32 *slots, int nslots)
{
	slots_mark(slots, nslots);
	SpinLockAcquire(&shared->prepared_lock);
	memcpy(entry->slots, slots, sizeof(uint32) * nslots);
	entry->nslots = nslots;
	SpinLockRelease(&shared->prepared_lock);
}

/*
 * Find the prepared transactions that have ended since, and settle them.
 */
static void
prepared_settle(void)
{
	uint64		ended[64];
	int			nended = 0;
	uint64	   *fxids;
	int			n = 0;
	uint64		next;

	pg_read_barrier();
	if (shared->nprepared == 0)
		return;

	fxids = palloc(sizeof(uint64) * Max(shared->max_prepared, 1));
	SpinLockAcquire(&shared->prepared_lock);
	for (int i = 0; i < shared->max_prepared; i++)
		if (prepared_entries[i].fxid != 0)
			fxids[n++] = prepared_entries[i].fxid;
	SpinLockRelease(&shared->prepared_lock);

	/*
	 * An ended transaction counts as committed: a rollback only costs some
	 * misses, and the commit log of an old enough transaction may be gone.
	 * A prepared transaction holds back the freezing horizon, so one older
	 * than half the transaction ID space has ended.
	 */
	next = U64FromFullTransactionId(ReadNextFullTransactionId());
	for (int i = 0; i < n && nended < (int) lengthof(ended); i++)
	{
		TransactionId xid = XidFromFullTransactionId(FullTransactionIdFromU64(fxids[i]));

		if (next - fxids[i] < (UINT64CONST(1) << 31) &&
			TransactionIdIsInProgress(xid))
			continue;			/* still prepared (or still preparing) */
		ended[nended++] = fxids[i];
	}
	for (int i = 0; i < nended; i++)
		(void) prepared_finish(ended[i], true);
	pfree(fxids);
}

/*
 * Record the prepared transactions that survived the start of the server:
 * what they wrote is not known, so each marks its whole database in flight
 * until it ends.  Done once per start, by the first backend that needs it;
 * until it is done, nothing is served or stored, and entries whose query
 * began before it are misses (one of those transactions may have committed
 * unseen in between).  Returns false while another backend is at it.
 */
static bool
prepared_recovered_recorded(void)
{
	uint32		state = pg_atomic_read_u32(&shared->recovered_state);
	TrackFill  *saved_fill = current_fill;

	if (state == RECOVERED_RECORDED)
		return true;
	if (state == RECOVERED_RECORDING ||
		!pg_atomic_compare_exchange_u32(&shared->recovered_state, &state,
										RECOVERED_RECORDING))
		return false;

	/* what this reads is not what a fill in progress read */
	current_fill = NULL;
	PG_TRY();
	{
		int			rc;

		if ((rc = SPI_connect()) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
		rc = SPI_execute("SELECT transaction, dbid FROM pg_catalog.pg_prepared_xact()",
						 true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			TransactionId xid;
			Oid			dbid;
			uint64		fxid;
			uint32		dbslot;
			TrackPrepared *entry;

			xid = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc,
													  1, &isnull));
			dbid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc,
												  2, &isnull));
			fxid = U64FromFullTransactionId(full_xid_of(xid));
			dbslot = slot_of(dbid, InvalidOid);
			entry = prepared_reserve(fxid);
			if (entry == NULL)
				elog(ERROR, "no room to record prepared transaction %u", xid);
			prepared_publish(entry, &dbslot, 1);
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		current_fill = saved_fill;
		pg_atomic_write_u32(&shared->recovered_state, RECOVERED_UNKNOWN);
		PG_RE_THROW();
	}
	PG_END_TRY();
	current_fill = saved_fill;

	pg_atomic_write_u64(&shared->valid_from,
						pg_atomic_add_fetch_u64(&shared->seq, 1));
	pg_write_barrier();
	pg_atomic_write_u32(&shared->recovered_state, RECOVERED_RECORDED);
	return true;
}

/*
 * Pre-prepare of a transaction that has written: record it, and mark what
 * it wrote in flight until it ends.
 */
static void
track_pre_prepare(void)
{
	uint32	   *slots;
	int			nslots = written_slots(&slots);
	uint64		fxid;
	TrackPrepared *entry = NULL;

	if (nslots == 0)
		return;
	if (nslots > PREPARED_MAX_SLOTS)
	{
		slots[0] = slot_of(MyDatabaseId, InvalidOid);
		nslots = 1;
	}
	fxid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());
	register_exit_callback();
	entry = prepared_reserve(fxid);
	if (entry == NULL)
	{
		prepared_settle();		/* make room from ended ones */
		entry = prepared_reserve(fxid);
	}
	if (entry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("cacheaside cannot record another prepared transaction"),
				 errdetail("Its room is max_prepared_transactions (%d) as of the server start.",
						   shared->max_prepared)));
	preparing_fxid = fxid;
	prepared_publish(entry, slots, nslots);
}

static void
track_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (shared != NULL)
				track_pre_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (shared != NULL)
				track_pre_prepare();
			break;
		case XACT_EVENT_COMMIT:
			if (npending > 0)
				slots_bump(pending_slots, npending, pending_xid);
			npending = 0;
			current_fill = NULL;
			break;
		case XACT_EVENT_PREPARE:
			/* the entry stays, with its marks, until the transaction ends */
			preparing_fxid = 0;
			current_fill = NULL;
			break;
		case XACT_EVENT_ABORT:
			release_marks();
			current_fill = NULL;
			break;
		default:
			break;
	}
}

/* ----------------------------------------------------------------
 * What a fill read
 * ----------------------------------------------------------------
 */

/*
 * Add relations to this fill only (not to those around it).
 */
void
track_fill_include(TrackFill *fill, const Oid *relids, int nrelids)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(fill->cxt);

	for (int i = 0; i < nrelids; i++)
		oid_array_add_unique(&fill->relids, relids[i]);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Add relations to every fill in progress: the relations of a hit served
 * inside a query that is itself being cached are that query's too.
 */
void
track_fill_add(const Oid *relids, int nrelids)
{
	for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
		track_fill_include(fill, relids, nrelids);
}

/*
 * Add one encoded privilege check (privs.c), made for the current role, to
 * every fill in progress.
 */
void
track_fill_add_check(const char *rec, int len)
{
	for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
	{
		MemoryContext oldcxt;

		/*
		 * Another role than the fill's, outside a SECURITY DEFINER function:
		 * the query switched roles (set_config('role', ...)), which the
		 * entry, made for the fill's role, could not repeat.
		 */
		if (GetUserId() != fill->role && !InLocalUserIdChange())
			fill->unstorable = "it changed the current role";

		oldcxt = MemoryContextSwitchTo(fill->cxt);
		if (fill->checks.data == NULL)
			initStringInfo(&fill->checks);
		if (!privs_append_unique(&fill->checks, rec, len))
			fill->unstorable = "it made too many privilege checks";
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * The result of every fill in progress must not be stored.
 */
void
track_fill_unstorable(const char *why)
{
	for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
		fill->unstorable = why;
}

/*
 * Add the privilege checks of a hit served inside a query being cached.
 */
void
track_fill_add_checks(const char *checks, size_t len)
{
	const char *end = checks + len;

	for (const char *p = checks; p < end;)
	{
		EntryCheck	check;
		const char *next = entry_check_next(p, end, &check);

		Assert(next != NULL);
		track_fill_add_check(p, next - p);
		p = next;
	}
}

/*
 * Is a fill in progress in this backend (is this call inside a query being
 * cached)?
 */
bool
track_fill_active(void)
{
	return current_fill != NULL;
}

/*
 * A hit served without the check of commits (cacheaside.auto_invalidate
 * off) inside queries being cached: their results may be stale.
 */
void
track_fill_unchecked(void)
{
	for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
		fill->unchecked = true;
}

/*
 * Every plan the executor starts while a fill is in progress (the query
 * itself, and any query a function it calls runs) adds its relations.
 */
static void
track_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (current_fill != NULL)
	{
		ListCell   *lc;

		foreach(lc, queryDesc->plannedstmt->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				track_fill_add(&rte->relid, 1);
		}
		/* and the privilege checks the executor is about to make */
		privs_record_rtable(queryDesc->plannedstmt->rtable);

		/*
		 * A fill plans without parallel workers (query_run_json), but a plan
		 * cached before it, or made after the query raised the settings
		 * again, may start some: what they run would not be recorded.
		 */
		if (queryDesc->plannedstmt->parallelModeNeeded)
			track_fill_unstorable("it ran a plan that may use parallel workers");

		/* the executors started during each fill (see track_ExecutorRun) */
		for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(fill->cxt);

			fill->started = lappend(fill->started, queryDesc);
			MemoryContextSwitchTo(oldcxt);
		}
	}

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * An executor started before a fill and run during it (a cursor opened
 * before, fetched by the query through cursor_to_xml or a PL/pgSQL FETCH)
 * reads what the fill did not record.
 */
static void
track_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
				  uint64 count, bool execute_once)
{
	/* a FATAL error leaves current_fill behind: never look at it then */
	if (!proc_exit_inprogress)
		for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
			if (!list_member_ptr(fill->started, queryDesc))
				fill->unstorable = "it read a cursor opened before it";

	if (prev_ExecutorRun)
		prev_ExecutorRun(queryDesc, direction, count, execute_once);
	else
		standard_ExecutorRun(queryDesc, direction, count, execute_once);
}

static void
track_ExecutorEnd(QueryDesc *queryDesc)
{
	/* at exit, after a FATAL error, portals are closed with fills dangling */
	if (!proc_exit_inprogress)
		for (TrackFill *fill = current_fill; fill != NULL; fill = fill->parent)
			fill->started = list_delete_ptr(fill->started, queryDesc);

	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/*
 * Is a cursor WITH HOLD open in this session?  Its rows were materialized
 * when its transaction committed and are fetched without an executor, so
 * track_ExecutorRun cannot see a fill read them.  (portalmem.c has no way
 * to walk the portals but pg_cursor(); the plan is prepared once.)
 */
static bool
held_cursor_open(void)
{
	static SPIPlanPtr plan = NULL;
	TrackFill  *saved_fill = current_fill;
	Oid			saved_user;
	int			saved_sec_context;
	volatile bool found = false;
	int			rc;

	/*
	 * Not part of what a fill in progress reads, and not subject to the
	 * caller's privileges (EXECUTE on pg_cursor may have been revoked).
	 */
	current_fill = NULL;
	GetUserIdAndSecContext(&saved_user, &saved_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if ((rc = SPI_connect()) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
		if (plan == NULL)
		{
			SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM pg_catalog.pg_cursor() c WHERE c.is_holdable",
										0, NULL);

			if (p == NULL || SPI_keepplan(p) != 0)
				elog(ERROR, "SPI_prepare failed: %s",
					 SPI_result_code_string(SPI_result));
			plan = p;
		}
		rc = SPI_execute_plan(plan, NULL, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		found = SPI_processed > 0;
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(saved_user, saved_sec_context);
		current_fill = saved_fill;
	}
	PG_END_TRY();
	return found;
}

/*
 * Start recording what the executor reads, in the current memory context.
 */
void
track_fill_begin(TrackFill *fill)
{
	fill->parent = current_fill;
	fill->cxt = CurrentMemoryContext;
	fill->relids.oids = NULL;
	fill->relids.n = 0;
	fill->relids.max = 0;
	fill->checks.data = NULL;
	fill->checks.len = 0;
	fill->role = GetUserId();
	fill->unstorable = NULL;
	fill->unchecked = false;
	fill->started = NIL;
	if (held_cursor_open())
		fill->unstorable = "a cursor WITH HOLD is open, which it could read";
	current_fill = fill;
}

void
track_fill_end(TrackFill *fill)
{
	if (GetUserId() != fill->role)
		fill->unstorable = "it changed the current role";
	current_fill = fill->parent;
}


/* ----------------------------------------------------------------
 * Checks
 * ----------------------------------------------------------------
 */

/*
 * What this session can do about writes.  Says once per backend why
 * entries cannot be checked against commits, unless automatic
 * invalidation was turned off on purpose.
 */
TrackMode
track_mode(void)
{
	if (!cacheaside_auto_invalidate)
		return TRACK_TTL_ONLY;
	if (shared != NULL && !RecoveryInProgress())
		return TRACK_ON;

	if (!unavailable_warned)
	{
		unavailable_warned = true;
		if (shared == NULL)
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cacheaside: automatic invalidation is off because cacheaside is not in shared_preload_libraries"),
					 errdetail("Cached results stay until their TTL ends or cache_invalidate() removes them."),
					 errhint("Add cacheaside to shared_preload_libraries and restart the server, or set cacheaside.auto_invalidate to off to silence this warning.")));
		else
			ereport(WARNING,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cacheaside: automatic invalidation is not available during recovery"),
					 errdetail("Writes replayed from the primary are not tracked; cached results stay until their TTL ends."),
					 errhint("Set cacheaside.auto_invalidate to off to silence this warning.")));
	}
	return TRACK_UNAVAILABLE;
}

/*
 * Can entries stored now be checked against later commits?
 */
bool
track_writes_tracked(void)
{
	return shared != NULL && !RecoveryInProgress();
}

uint64
track_epoch(void)
{
	Assert(shared != NULL);
	return shared->epoch;
}

/*
 * The sequence number to record as an entry's "as of": read before the
 * fill's query takes its snapshot.
 */
uint64
track_as_of(void)
{
	Assert(shared != NULL);
	/*
	 * The first fill of a start must not begin before those are recorded,
	 * and prepared transactions that ended must count before it begins.
	 */
	(void) prepared_recovered_recorded();
	prepared_settle();
	pg_memory_barrier();
	return pg_atomic_read_u64(&shared->seq);
}

/*
 * Does this backend hold a lock of mode weakest or stronger on relid (of
 * this database)?
 */
bool
track_relation_locked_by_me(Oid relid, LOCKMODE weakest)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	for (LOCKMODE mode = weakest; mode <= AccessExclusiveLock; mode++)
		if (LockHeldByMe(&tag, mode))
			return true;
	return false;
}

/*
 * Has this transaction written, or locked for writing, one of relids?
 */
bool
track_written_by_me(const Oid *relids, int nrelids)
{
	if (!TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	for (int i = 0; i < nrelids; i++)
		if (track_relation_locked_by_me(relids[i], RowExclusiveLock))
			return true;
	return false;
}

/*
 * What makes every entry of this database made at (epoch, as_of) invalid,
 * whatever it read: another start of the server, prepared transactions
 * of the start not recorded yet or recorded after it began, or a commit
 * that wrote the whole database.  Settles ended prepared transactions
 * first.  Adds the database slot's writers to *last_xid.
 */
static bool
database_changed(uint64 epoch, uint64 as_of, uint64 *last_xid)
{
	Assert(shared != NULL);
	if (epoch != shared->epoch || !prepared_recovered_recorded() ||
		as_of < pg_atomic_read_u64(&shared->valid_from))
		return true;
	prepared_settle();
	return slot_changed(slot_of(MyDatabaseId, InvalidOid), as_of, last_xid);
}

/*
 * May an entry made at (epoch, as_of) from relids be served, or a result
 * just computed from them be stored, in this transaction?
 */
TrackVerdict
track_check(const Oid *relids, int nrelids, uint64 epoch, uint64 as_of)
{
	uint64		last_xid = 0;

	if (database_changed(epoch, as_of, &last_xid))
		return TRACK_CHANGED;
	for (int i = 0; i < nrelids; i++)
		if (slot_changed(slot_of(MyDatabaseId, relids[i]), as_of, &last_xid))
			return TRACK_CHANGED;

	if (track_written_by_me(relids, nrelids))
		return TRACK_WRITTEN;

	/*
	 * A transaction snapshot sees exactly the commits the entry saw only if
	 * every commit that wrote these relations is visible to it: all writers
	 * older than the snapshot's xmin are.
	 */
	if (IsolationUsesXactSnapshot() && last_xid != 0 &&
		last_xid >= U64FromFullTransactionId(full_xid_of(GetTransactionSnapshot()->xmin)))
		return TRACK_SNAPSHOT;
	return TRACK_VALID;
}


/*
 * Has a commit written relid since an entry made at (epoch, as_of), or is
 * one writing it now?  Only for reporting: hits use track_check().
 */
bool
track_relation_changed(Oid relid, uint64 epoch, uint64 as_of)
{
	uint64		last_xid = 0;

	return database_changed(epoch, as_of, &last_xid) ||
		slot_changed(slot_of(MyDatabaseId, relid), as_of, &last_xid);
}


/* ----------------------------------------------------------------
 * Set-up
 * ----------------------------------------------------------------
 */

/*
 * Called from _PG_init.  The executor hook records what fills read in
 * every backend that loads the library; shared memory and the commit
 * hooks need shared_preload_libraries.
 */
void
track_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = track_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = track_ExecutorRun;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = track_ExecutorEnd;

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = track_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = track_shmem_startup;
	RegisterXactCallback(track_xact_callback, NULL);
	CacheRegisterRelcacheCallback(parents_invalidate, (Datum) 0);
}
