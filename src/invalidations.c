/*-------------------------------------------------------------------------
 *
 * invalidations.c
 *	  This backend's cache_invalidate calls, recorded in shared memory so
 *	  that a concurrent refill cannot undo them.
 *
 * cache_invalidate removes entries from Redis, at the call and, in a
 * transaction, again after commit.  Removing is not enough: a fill whose
 * query took its snapshot before the commit may store what it read after
 * the removal.  With automatic invalidation on, the commit's writes make
 * that entry a miss; with it off, or when the data changed where the
 * ledger does not look, only the record of the invalidation itself can.
 * So an invalidation is recorded like a write, with the library preloaded
 * (not during recovery, where hits do not check the ledger):
 *
 *	a key		its ledger slot (ledger_slot_of_key, on the Redis key,
 *				which names the database) takes a new sequence number at
 *				the call; in a transaction that repeats it after commit
 *				(cache_admin.c), the slot is also marked in flight at
 *				pre-commit and takes another sequence number at commit,
 *				once the commit is visible;
 *	a pattern	the same in the ring of recent patterns (patterns.c).
 *
 * An entry whose "as of" (read before its fill's query took its snapshot)
 * is older than such a record, or whose key is marked in flight, is
 * neither served nor stored (validity.c).  The record at commit is what
 * makes the repeat after commit exact: whatever a fill that began before
 * the commit stores, whenever it stores it, is not served once COMMIT has
 * returned.
 *
 * Marks are lowered at abort, and by an exit callback if the backend exits
 * in the middle of a commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/ipc.h"
#include "utils/memutils.h"

#include "invalidations.h"
#include "ledger.h"
#include "patterns.h"

/* One invalidation to record at commit, in TopTransactionContext */
typedef struct PendingInvalidation
{
	bool		pattern;		/* a glob pattern, else a key */
	uint32		slot;			/* a key: its ledger slot */
	size_t		len;			/* a pattern: its length */
	char		name[FLEXIBLE_ARRAY_MEMBER];	/* a pattern: as matched
												 * against Redis keys */
} PendingInvalidation;

/* What this backend's transaction has to record, and has marked */
typedef struct InvalidationState
{
	List	   *pending;		/* of PendingInvalidation */
	uint32	   *slots;			/* key slots marked, distinct */
	int			nslots;			/* 0: none marked */
	int		   *marks;			/* pattern marks (patterns.c) */
	int			nmarks;			/* 0: none marked */
	bool		exit_callback_registered;
} InvalidationState;

static InvalidationState state;

/*
 * Are invalidations recorded in this session?  Only with the library
 * preloaded, and not during recovery.
 */
bool
invalidations_tracked(void)
{
	return ledger_attached() && patterns_attached() && !RecoveryInProgress();
}

/* Lower every mark this transaction raised */
static void
release_marks(void)
{
	if (state.nslots > 0)
		ledger_unmark(state.slots, state.nslots);
	state.nslots = 0;
	if (state.nmarks > 0)
		patterns_unmark(state.marks, state.nmarks);
	state.nmarks = 0;
}

static void
invalidations_at_exit(int code, Datum arg)
{
	release_marks();
}

/*
 * A cache_invalidate of name (a Redis key, or a pattern matched against
 * Redis keys) takes effect now, and, if at_commit, again when this
 * transaction commits.
 */
void
invalidations_note(const char *name, size_t len, bool pattern,
				   bool at_commit)
{
	PendingInvalidation *p;
	ListCell   *lc;

	if (!invalidations_tracked())
		return;
	if (pattern)
		patterns_record_now(MyDatabaseId, name, len);
	else
		ledger_record_now(ledger_slot_of_key(MyDatabaseId, name, len));
	if (!at_commit)
		return;

	/* a pattern given twice is recorded once */
	if (pattern)
		foreach(lc, state.pending)
		{
			p = lfirst(lc);
			if (p->pattern && p->len == len && memcmp(p->name, name, len) == 0)
				return;
		}
	p = MemoryContextAlloc(TopTransactionContext,
						   offsetof(PendingInvalidation, name) +
						   (pattern ? len : 0));
	p->pattern = pattern;
	p->slot = pattern ? 0 : ledger_slot_of_key(MyDatabaseId, name, len);
	p->len = pattern ? len : 0;
	if (pattern)
		memcpy(p->name, name, len);
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		state.pending = lappend(state.pending, p);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Pre-commit: mark what this transaction invalidated in flight, before its
 * commit can become visible.
 */
void
invalidations_pre_commit(void)
{
	ListCell   *lc;
	int			nkeys = 0;
	int			npatterns = 0;
	uint32	   *slots;
	int		   *marks;

	if (state.pending == NIL)
		return;
	foreach(lc, state.pending)
	{
		if (((PendingInvalidation *) lfirst(lc))->pattern)
			npatterns++;
		else
			nkeys++;
	}
	slots = MemoryContextAlloc(TopTransactionContext,
							   sizeof(uint32) * Max(nkeys, 1));
	marks = MemoryContextAlloc(TopTransactionContext,
							   sizeof(int) * Max(npatterns, 1));
	nkeys = 0;
	foreach(lc, state.pending)
	{
		PendingInvalidation *p = lfirst(lc);

		if (!p->pattern)
			slots[nkeys++] = p->slot;
	}
	nkeys = ledger_distinct_slots(slots, nkeys);
	if (!state.exit_callback_registered)
	{
		before_shmem_exit(invalidations_at_exit, (Datum) 0);
		state.exit_callback_registered = true;
	}

	/* nothing below can fail: abort lowers exactly these */
	state.slots = slots;
	state.marks = marks;
	if (nkeys > 0)
		ledger_mark(slots, nkeys);
	state.nslots = nkeys;
	foreach(lc, state.pending)
	{
		PendingInvalidation *p = lfirst(lc);

		if (p->pattern)
			marks[state.nmarks++] = patterns_mark(MyDatabaseId, p->name,
												  p->len);
	}
}

/*
 * The commit is visible: record the marks.  Called before the repeat in
 * Redis.
 */
void
invalidations_commit(void)
{
	if (state.nslots > 0)
		ledger_record_commit(state.slots, state.nslots, 0);
	state.nslots = 0;
	if (state.nmarks > 0)
		patterns_record(state.marks, state.nmarks);
	state.nmarks = 0;
	state.pending = NIL;
}

/*
 * Abort (or PREPARE, which a transaction that invalidated cannot do):
 * lower the marks, forget the rest.
 */
void
invalidations_forget(void)
{
	release_marks();
	state.pending = NIL;
}
