/*-------------------------------------------------------------------------
 *
 * patterns.c
 *	  The recent glob patterns of cache_invalidate, in shared memory.
 *
 * A key named outright by cache_invalidate is recorded in its ledger slot
 * like a write (ledger.c).  A glob pattern names keys that cannot be
 * listed, so it is kept here instead: a ring of the PATTERNS_RING most
 * recent (database, pattern, sequence number).  An entry whose key matches
 * a pattern of its database recorded after the entry's "as of", or whose
 * "as of" is older than the newest pattern the ring forgot, is not valid.
 * Forgetting only causes extra misses, never a stale hit.
 *
 * Like a writer, a transaction that called cache_invalidate with a pattern
 * marks it at pre-commit: the pattern gets a slot of the ring in flight
 * (sequence PATTERN_IN_FLIGHT, newer than every entry), and at commit,
 * once the commit is visible, takes the next sequence number of the ledger
 * (patterns_record).  A slot in flight is never reused.  When every slot is
 * in flight, the mark is an overflow: while it is in flight every entry is
 * a miss, and its record raises "forgotten" instead of filling a slot.
 * A pattern longer than PATTERNS_MAX_LEN is kept as "every key of the
 * database".
 *
 * Note about locking.  The ring is changed and searched under one LWLock.
 * A hit first reads, without it, the number of marks in flight and then
 * the newest sequence number recorded: a mark is counted before its commit
 * can become visible and uncounted only after its sequence number is
 * newest (the ledger's order, ledger.c), so when there are no marks and
 * nothing newer than the entry, no pattern can concern it, and the hit
 * costs two reads of shared memory.  Only otherwise does it take the lock
 * in shared mode and match the patterns newer than the entry.  To find
 * them, the ring lists its last PATTERNS_RECENT records of slots in the
 * order of their sequences (taken under the lock held exclusively): when
 * no slot is in flight and the oldest record listed is not newer than the
 * bound (the entry's "as of", or S below), the patterns newer than the
 * bound are those of the records listed after it whose slots still hold
 * them: a slot taken again since holds a newer record, listed too, or is in
 * flight, and the pattern it held is forgotten ("forgotten" is above the
 * bound, which makes the hit a miss before).  Otherwise the sequence
 * numbers of all the slots used so far are scanned.
 *
 * Note about the memo.  Each backend remembers, for recent entries it
 * checked under the lock and found valid (database, Redis key and "as of":
 * the memo, a small table), S, the newest sequence number read under that
 * lock.  No pattern with a sequence up to S can appear later: a sequence
 * is taken only under the lock held exclusively (record_locked), after
 * every earlier one, and "newest" is raised under it too, so a pattern
 * recorded after the check takes a sequence above S, and every one taken
 * before is at most S.  Those with a sequence in (as_of, S] were all in
 * the ring at the check, since it found "forgotten" not above as_of, and
 * none names the key; one in flight at the check, named by the key, made
 * it find a match (nothing remembered), and one that does not name it
 * cannot start to.  So a later hit of the same entry needs only the
 * patterns above max(as_of, S): without the lock when no mark is in
 * flight and none is newer (the order above holds for S as for as_of),
 * else finding and matching only those.  "forgotten" and the overflow
 * marks are still compared with as_of: a pattern forgotten since was
 * either checked or newer than S, so this only costs extra misses.  The
 * ring lives as long as the backend's shared memory: a restart (and
 * patterns_restore, in the postmaster) comes with new backends and empty
 * memos.  A hit that finds nothing newer than as_of or S costs two reads
 * of shared memory and, past as_of, a hash of the key (about 200
 * instructions); one after a few new patterns, the shared lock and a glob
 * match of each; a scan of the whole ring, about 7 000 instructions more
 * (bench/README.md, "The record of cache_invalidate").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "ledger.h"
#include "nearcache.h"
#include "patterns.h"

#define PATTERNS_LOCK_TRANCHE	"cacheaside patterns"

/* How many of the last records of slots the ring keeps in order */
#define PATTERNS_RECENT		32

/* The sequence of a pattern whose transaction is committing */
#define PATTERN_IN_FLIGHT	PG_UINT64_MAX

/* A pattern; its sequence number is in seqs[], apart, for a quick scan */
typedef struct PatternSlot
{
	Oid			dbid;
	bool		all;			/* too long: every key of the database */
	uint16		len;
	char		pattern[PATTERNS_MAX_LEN];
} PatternSlot;

typedef struct PatternRing
{
	pg_atomic_uint32 inflight;	/* marks in flight, overflows included */
	pg_atomic_uint64 newest;	/* the newest sequence recorded */
	uint64		forgotten;		/* entries older are misses (under lock) */
	uint32		overflows;		/* overflow marks in flight (under lock) */
	int			used;			/* slots ever used: those below this index
								 * (under lock) */
	int			marked;			/* slots in flight (under lock) */
	uint64		recorded;		/* slot records ever made (under lock) */
	int			recent[PATTERNS_RECENT];	/* the slots of the last ones,
											 * record n at n % RECENT */
	uint64		recent_seqs[PATTERNS_RECENT];	/* and their sequences */
	uint64		seqs[PATTERNS_RING];	/* 0: empty; PATTERN_IN_FLIGHT:
										 * marked */
	PatternSlot slots[PATTERNS_RING];
} PatternRing;

static PatternRing *ring = NULL;
static LWLock *ring_lock = NULL;

/*
 * This backend's memo of entries checked against the ring: for (database,
 * Redis key, "as of"), the newest sequence recorded when a check of the
 * ring under its lock found no pattern naming the entry.  A small table,
 * one entry per slot, a new check replacing what its slot held; keys
 * longer than PATTERNS_MEMO_KEY_MAX are not remembered.
 */
#define PATTERNS_MEMO_SLOTS		64
#define PATTERNS_MEMO_KEY_MAX	256

typedef struct PatternMemo
{
	Oid			dbid;
	uint32		len;			/* of key; 0: empty */
	uint64		as_of;
	uint64		checked;		/* no pattern in (as_of, checked] names it */
	char		key[PATTERNS_MEMO_KEY_MAX];
} PatternMemo;

static PatternMemo memo[PATTERNS_MEMO_SLOTS];

static inline int
memo_index(const char *key, size_t len, uint64 as_of)
{
	return (int) (hash_bytes_extended((const unsigned char *) key, (int) len,
									  as_of) % PATTERNS_MEMO_SLOTS);
}


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

Size
patterns_shmem_size(void)
{
	return MAXALIGN(sizeof(PatternRing));
}

void
patterns_shmem_request(void)
{
	RequestNamedLWLockTranche(PATTERNS_LOCK_TRANCHE, 1);
}

/*
 * Called with AddinShmemInitLock held.
 */
void
patterns_shmem_init(void)
{
	bool		found;

	ring = ShmemInitStruct("cacheaside patterns", patterns_shmem_size(),
						   &found);
	ring_lock = &(GetNamedLWLockTranche(PATTERNS_LOCK_TRANCHE))->lock;
	if (found)
		return;
	memset(ring, 0, sizeof(PatternRing));
	pg_atomic_init_u32(&ring->inflight, 0);
	pg_atomic_init_u64(&ring->newest, 0);
}

bool
patterns_attached(void)
{
	return ring != NULL;
}


/* ----------------------------------------------------------------
 * Recording
 * ----------------------------------------------------------------
 */

/*
 * A slot for a new mark: an empty one, else the one recorded longest ago,
 * which is forgotten; PATTERNS_OVERFLOW when all are in flight.  Called
 * with the lock held exclusively.
 */
static int
take_slot(void)
{
	int			oldest = PATTERNS_OVERFLOW;

	for (int i = 0; i < PATTERNS_RING; i++)
	{
		uint64		seq = ring->seqs[i];

		if (seq == 0)
		{
			ring->used = Max(ring->used, i + 1);
			return i;
		}
		if (seq != PATTERN_IN_FLIGHT &&
			(oldest == PATTERNS_OVERFLOW || seq < ring->seqs[oldest]))
			oldest = i;
	}
	if (oldest != PATTERNS_OVERFLOW)
		ring->forgotten = Max(ring->forgotten, ring->seqs[oldest]);
	return oldest;
}

/* Mark a pattern in flight; the lock is held exclusively */
static int
mark_locked(Oid dbid, const char *pattern, size_t len)
{
	int			i = take_slot();

	if (i == PATTERNS_OVERFLOW)
		ring->overflows++;
	else
	{
		PatternSlot *slot = &ring->slots[i];

		ring->seqs[i] = PATTERN_IN_FLIGHT;
		ring->marked++;
		slot->dbid = dbid;
		slot->all = len > PATTERNS_MAX_LEN;
		slot->len = slot->all ? 0 : (uint16) len;
		if (!slot->all)
			memcpy(slot->pattern, pattern, len);
	}
	pg_atomic_fetch_add_u32(&ring->inflight, 1);
	return i;
}

/*
 * The transaction of a cache_invalidate with this pattern (of dbid's key
 * namespace) is about to commit: until it is recorded or unmarked, entries
 * whose keys match it are not valid.  Returns the mark, for
 * patterns_record or patterns_unmark.
 */
int
patterns_mark(Oid dbid, const char *pattern, size_t len)
{
	int			mark;

	Assert(ring != NULL);
	LWLockAcquire(ring_lock, LW_EXCLUSIVE);
	mark = mark_locked(dbid, pattern, len);
	LWLockRelease(ring_lock);
	return mark;
}

/*
 * Marks made by patterns_mark whose transaction did not commit.
 */
void
patterns_unmark(const int *marks, int nmarks)
{
	Assert(ring != NULL);
	LWLockAcquire(ring_lock, LW_EXCLUSIVE);
	for (int i = 0; i < nmarks; i++)
	{
		if (marks[i] == PATTERNS_OVERFLOW)
			ring->overflows--;
		else
		{
			ring->seqs[marks[i]] = 0;
			ring->marked--;
		}
		pg_atomic_fetch_sub_u32(&ring->inflight, 1);
	}
	LWLockRelease(ring_lock);
}

/* Record marks with the sequence seq; the lock is held exclusively */
static void
record_locked(const int *marks, int nmarks, uint64 seq)
{
	for (int i = 0; i < nmarks; i++)
	{
		if (marks[i] == PATTERNS_OVERFLOW)
		{
			ring->forgotten = Max(ring->forgotten, seq);
			ring->overflows--;
		}
		else
		{
			int			r = (int) (ring->recorded++ % PATTERNS_RECENT);

			ring->seqs[marks[i]] = seq;
			ring->marked--;
			ring->recent[r] = marks[i];
			ring->recent_seqs[r] = seq;
		}
	}
	if (pg_atomic_read_u64(&ring->newest) < seq)
		pg_atomic_write_u64(&ring->newest, seq);
	pg_write_barrier();
	pg_atomic_fetch_sub_u32(&ring->inflight, nmarks);
}

/*
 * The transaction of these marks committed, and its commit is visible:
 * their patterns take a new sequence number of the ledger, and are no
 * longer in flight.
 */
void
patterns_record(const int *marks, int nmarks)
{
	Assert(ring != NULL);
	if (nmarks == 0)
		return;
	LWLockAcquire(ring_lock, LW_EXCLUSIVE);
	record_locked(marks, nmarks, ledger_take_sequence());
	LWLockRelease(ring_lock);
}

/*
 * A cache_invalidate with this pattern takes effect now.
 */
void
patterns_record_now(Oid dbid, const char *pattern, size_t len)
{
	int			mark;

	Assert(ring != NULL);
	LWLockAcquire(ring_lock, LW_EXCLUSIVE);
	mark = mark_locked(dbid, pattern, len);
	record_locked(&mark, 1, ledger_take_sequence());
	LWLockRelease(ring_lock);
}


/*
 * The sequence number of the newest pattern recorded, for saving at a
 * clean shutdown (ledger_save.c).
 */
uint64
patterns_newest(void)
{
	Assert(ring != NULL);
	return pg_atomic_read_u64(&ring->newest);
}

/*
 * At a start that restored the ledger of the last run, in the postmaster:
 * its patterns are not known, only the newest one's sequence number, so
 * every entry older than that is a miss.
 */
void
patterns_restore(uint64 newest)
{
	Assert(ring != NULL);
	ring->forgotten = newest;
	pg_atomic_write_u64(&ring->newest, newest);
}


/* ----------------------------------------------------------------
 * Searching
 * ----------------------------------------------------------------
 */

/* Does the pattern of slot i name key, of dbid? */
static inline bool
slot_matches(int i, Oid dbid, const char *key, size_t len)
{
	PatternSlot *slot = &ring->slots[i];

	return slot->dbid == dbid &&
		(slot->all || nearcache_glob_match(slot->pattern, slot->len, key, len));
}

/*
 * Are all the slots recorded after bound among the recent records?  Under
 * the lock.  Sequences are taken under the lock held exclusively, so the
 * records are in the order of their sequences: when the oldest one kept is
 * not after bound, none forgotten from the list is.
 */
static inline bool
recent_cover(uint64 bound)
{
	if (ring->recorded <= PATTERNS_RECENT)
		return true;
	return ring->recent_seqs[ring->recorded % PATTERNS_RECENT] <= bound;
}

/*
 * Does a pattern recorded after bound name key, of dbid?  Under the lock,
 * with no slot in flight and recent_cover(bound): walks the recent records
 * from the newest while they are after bound.  A slot recorded since has
 * another sequence: its newer record is on the list, or it was forgotten.
 */
static bool
match_recent(Oid dbid, const char *key, size_t len, uint64 bound)
{
	uint64		kept = Min(ring->recorded, PATTERNS_RECENT);

	for (uint64 n = ring->recorded; n > ring->recorded - kept; n--)
	{
		int			r = (int) ((n - 1) % PATTERNS_RECENT);
		int			i = ring->recent[r];

		if (ring->recent_seqs[r] <= bound)
			break;
		if (ring->seqs[i] == ring->recent_seqs[r] &&
			slot_matches(i, dbid, key, len))
			return true;
	}
	return false;
}

/*
 * The memo entry of (dbid, key, as_of), or NULL.
 */
static PatternMemo *
memo_find(Oid dbid, const char *key, size_t len, uint64 as_of)
{
	PatternMemo *m;

	if (len > PATTERNS_MEMO_KEY_MAX)
		return NULL;
	m = &memo[memo_index(key, len, as_of)];
	if (m->len == len && m->as_of == as_of && m->dbid == dbid &&
		memcmp(m->key, key, len) == 0)
		return m;
	return NULL;
}

/*
 * Remember that no pattern of the ring with a sequence in (as_of, checked]
 * names key (of dbid), replacing what the memo's slot held.
 */
static void
memo_remember(Oid dbid, const char *key, size_t len, uint64 as_of,
			  uint64 checked)
{
	PatternMemo *m;

	if (len > PATTERNS_MEMO_KEY_MAX)
		return;
	m = &memo[memo_index(key, len, as_of)];
	m->dbid = dbid;
	m->as_of = as_of;
	m->checked = checked;
	m->len = (uint32) len;
	memcpy(m->key, key, len);
}

/*
 * Has a pattern recorded after as_of, or in flight, named the entry under
 * key (a Redis key of dbid), or may one have, forgotten since?
 */
bool
patterns_match(Oid dbid, const char *key, size_t len, uint64 as_of)
{
	uint32		inflight;
	uint64		newest;
	uint64		bound;
	PatternMemo *m;
	bool		found = false;

	Assert(ring != NULL);
	inflight = pg_atomic_read_u32(&ring->inflight);
	pg_read_barrier();
	newest = pg_atomic_read_u64(&ring->newest);
	if (inflight == 0 && newest <= as_of)
		return false;

	/* the patterns up to bound were checked against this entry already */
	m = memo_find(dbid, key, len, as_of);
	bound = m != NULL ? Max(as_of, m->checked) : as_of;
	if (inflight == 0 && newest <= bound)
		return false;

	LWLockAcquire(ring_lock, LW_SHARED);
	if (ring->overflows > 0 || ring->forgotten > as_of)
		found = true;
	else if (ring->marked == 0 && recent_cover(bound))
		found = match_recent(dbid, key, len, bound);
	else
		for (int i = 0; i < ring->used && !found; i++)
			found = ring->seqs[i] > bound &&
				slot_matches(i, dbid, key, len);
	newest = pg_atomic_read_u64(&ring->newest);
	LWLockRelease(ring_lock);

	if (!found && newest > bound)
		memo_remember(dbid, key, len, as_of, newest);
	return found;
}
