/*-------------------------------------------------------------------------
 *
 * prepared.c
 *	  The registry of prepared transactions that wrote, in shared memory.
 *
 * What a prepared transaction wrote becomes visible when it is committed,
 * later, by COMMIT PREPARED in any session, or by a logical replication
 * worker applying a two-phase transaction, which does not go through
 * COMMIT PREPARED as a statement, so no callback of ours sees it happen.
 * PREPARE therefore records the transaction and the ledger slots it wrote
 * here, and leaves those slots marked in flight (ledger.c): entries of
 * those tables are neither served nor stored while it is prepared.
 * Whoever checks entries next after it has ended (any hit or store, through
 * prepared_settle) records its commit in the ledger; an ended transaction
 * counts as committed, since a rollback only costs some misses and the
 * commit log of an old enough transaction may be gone.
 *
 * Transactions prepared before the server started were recorded by
 * nobody: the first check after the start records each of them against
 * its whole database (prepared_recovered_recorded), and, if there were
 * any, makes every entry whose query began before that a miss, since one
 * of them may have committed unseen in between.
 *
 * Note about races.  An entry of the registry is reserved (fxid set) and
 * then its slots published, each under the registry's spinlock; the slots
 * are marked in the ledger before they are published, so whoever finishes
 * an entry unmarks exactly what was marked, and an entry is finished once,
 * by whoever removes it from the registry under the spinlock.  A reserved
 * entry is not settled before it is published: a transaction prepared
 * before the start may have ended by the time it is recorded, and
 * finishing it in between would leave the marks of its publication to
 * nobody.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/twophase.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/fmgroids.h"

#include "ledger.h"
#include "prepared.h"

/* Whether the prepared transactions that survived the start are recorded */
#define RECOVERED_UNKNOWN	0
#define RECOVERED_RECORDING	1
#define RECOVERED_RECORDED	2

/* Most ended transactions settled per call */
#define SETTLE_BATCH		64

/* A prepared transaction that wrote (fxid 0: a free entry) */
typedef struct PreparedXact
{
	uint64		fxid;
	int			nslots;			/* -1: reserved, slots not published yet */
	uint32		slots[PREPARED_MAX_SLOTS];
} PreparedXact;

typedef struct PreparedRegistry
{
	slock_t		lock;			/* protects nused and the entries */
	int			nused;			/* entries in use */
	int			capacity;		/* max_prepared_transactions at start */
	pg_atomic_uint32 recovered_state;	/* RECOVERED_* */
	PreparedXact entries[FLEXIBLE_ARRAY_MEMBER];
} PreparedRegistry;

static PreparedRegistry *registry = NULL;


/* ----------------------------------------------------------------
 * Shared memory
 * ----------------------------------------------------------------
 */

Size
prepared_shmem_size(void)
{
	return add_size(offsetof(PreparedRegistry, entries),
					mul_size(max_prepared_xacts, sizeof(PreparedXact)));
}

/*
 * Attach to the registry, making it at the first start.  Called with
 * AddinShmemInitLock held.
 */
void
prepared_shmem_init(void)
{
	bool		found;

	registry = ShmemInitStruct("cacheaside prepared transactions",
							   prepared_shmem_size(), &found);
	if (found)
		return;
	SpinLockInit(&registry->lock);
	registry->nused = 0;
	registry->capacity = max_prepared_xacts;
	pg_atomic_init_u32(&registry->recovered_state, RECOVERED_UNKNOWN);
	memset(registry->entries, 0,
		   sizeof(PreparedXact) * (Size) max_prepared_xacts);
}

/*
 * How many prepared transactions the registry can hold.
 */
int
prepared_capacity(void)
{
	Assert(registry != NULL);
	return registry->capacity;
}


/* ----------------------------------------------------------------
 * Entries
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
	PreparedXact *entry = NULL;
	PreparedXact copy;

	SpinLockAcquire(&registry->lock);
	for (int i = 0; i < registry->capacity; i++)
		if (registry->entries[i].fxid == fxid)
		{
			entry = &registry->entries[i];
			copy = *entry;
			entry->fxid = 0;
			registry->nused--;
			break;
		}
	SpinLockRelease(&registry->lock);

	if (entry == NULL)
		return false;			/* someone else did it */
	Assert(copy.nslots >= 0);
	if (committed)
		ledger_record_commit(copy.slots, copy.nslots, fxid);
	else
		ledger_unmark(copy.slots, copy.nslots);
	return true;
}

/*
 * Take a free entry for fxid, with no slots yet; NULL if there is none.
 */
static PreparedXact *
prepared_reserve(uint64 fxid)
{
	PreparedXact *entry = NULL;

	SpinLockAcquire(&registry->lock);
	for (int i = 0; i < registry->capacity; i++)
		if (registry->entries[i].fxid == 0)
		{
			entry = &registry->entries[i];
			entry->fxid = fxid;
			entry->nslots = -1;
			registry->nused++;
			break;
		}
	SpinLockRelease(&registry->lock);
	return entry;
}

/*
 * Mark the slots and only then give them to the reserved entry: whoever
 * finishes the entry unmarks exactly what was marked.  Nothing here fails.
 */
static void
prepared_publish(PreparedXact *entry, const uint32 *slots, int nslots)
{
	Assert(nslots <= PREPARED_MAX_SLOTS);
	ledger_mark(slots, nslots);
	SpinLockAcquire(&registry->lock);
	memcpy(entry->slots, slots, sizeof(uint32) * nslots);
	entry->nslots = nslots;
	SpinLockRelease(&registry->lock);
}

/*
 * Record the transaction fxid, being prepared, as the writer of slots (at
 * most PREPARED_MAX_SLOTS), and mark them in flight until it ends.  Returns
 * false when the registry is full even after settling ended transactions.
 */
bool
prepared_record(uint64 fxid, const uint32 *slots, int nslots)
{
	PreparedXact *entry = prepared_reserve(fxid);

	if (entry == NULL)
	{
		prepared_settle();		/* make room from ended ones */
		entry = prepared_reserve(fxid);
	}
	if (entry == NULL)
		return false;
	prepared_publish(entry, slots, nslots);
	return true;
}

/*
 * The transaction fxid, recorded by prepared_record, failed to prepare:
 * release its marks.
 */
void
prepared_forget(uint64 fxid)
{
	(void) prepared_finish(fxid, false);
}

/*
 * Find the prepared transactions that have ended since, and record their
 * commits.
 */
void
prepared_settle(void)
{
	uint64		ended[SETTLE_BATCH];
	int			nended = 0;
	uint64	   *fxids;
	int			n = 0;
	uint64		next;

	pg_read_barrier();
	if (registry->nused == 0)
		return;

	fxids = palloc(sizeof(uint64) * Max(registry->capacity, 1));
	SpinLockAcquire(&registry->lock);
	for (int i = 0; i < registry->capacity; i++)
		if (registry->entries[i].fxid != 0 && registry->entries[i].nslots >= 0)
			fxids[n++] = registry->entries[i].fxid;
	SpinLockRelease(&registry->lock);

	/*
	 * A prepared transaction holds back the freezing horizon, so one older
	 * than half the transaction ID space has ended.
	 */
	next = U64FromFullTransactionId(ReadNextFullTransactionId());
	for (int i = 0; i < n && nended < SETTLE_BATCH; i++)
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


/* ----------------------------------------------------------------
 * Transactions prepared before the start
 * ----------------------------------------------------------------
 */

/* Is fxid in the registry already? */
static bool
prepared_known(uint64 fxid)
{
	bool		known = false;

	SpinLockAcquire(&registry->lock);
	for (int i = 0; i < registry->capacity && !known; i++)
		known = (registry->entries[i].fxid == fxid);
	SpinLockRelease(&registry->lock);
	return known;
}

/*
 * Record every transaction pg_prepared_xact() lists against its whole
 * database, unless it is recorded already (prepared since the start).  The function is called directly, not through a query: what
 * it reads is no part of a query being cached, and it needs no privilege
 * of the caller.
 */
static int
record_recovered(void)
{
	int			recorded = 0;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 0);
	ReturnSetInfo rsinfo;
	ExprContext *econtext = CreateStandaloneExprContext();

	fmgr_info(F_PG_PREPARED_XACT, &flinfo);
	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = econtext;
	rsinfo.allowedModes = (int) SFRM_ValuePerCall;
	rsinfo.returnMode = SFRM_ValuePerCall;
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL,
							 (Node *) &rsinfo);

	for (;;)
	{
		Datum		row;
		HeapTupleHeader tuple;
		bool		isnull;
		TransactionId xid;
		Oid			dbid;
		uint64		fxid;
		uint32		dbslot;
		PreparedXact *entry;

		rsinfo.isDone = ExprSingleResult;
		fcinfo->isnull = false;
		row = FunctionCallInvoke(fcinfo);
		if (rsinfo.isDone == ExprEndResult)
			break;
		if (fcinfo->isnull || rsinfo.returnMode != SFRM_ValuePerCall)
			elog(ERROR, "pg_prepared_xact returned an unexpected result");

		/* transaction xid (column 1), dbid oid (column 5) */
		tuple = DatumGetHeapTupleHeader(row);
		xid = DatumGetTransactionId(GetAttributeByNum(tuple, 1, &isnull));
		dbid = DatumGetObjectId(GetAttributeByNum(tuple, 5, &isnull));

		fxid = U64FromFullTransactionId(ledger_full_xid(xid));
		if (prepared_known(fxid))
			continue;
		dbslot = ledger_slot_of(dbid, InvalidOid);
		entry = prepared_reserve(fxid);
		if (entry == NULL)
			elog(ERROR, "no room to record prepared transaction %u", xid);
		prepared_publish(entry, &dbslot, 1);
		recorded++;
	}
	FreeExprContext(econtext, true);
	return recorded;
}

/*
 * Are the prepared transactions that survived the start of the server
 * recorded?  Done once per start, by the first backend that asks; until it
 * is done, nothing is served or stored.  Returns false while another
 * backend is at it.
 */
bool
prepared_recovered_recorded(void)
{
	uint32		state = pg_atomic_read_u32(&registry->recovered_state);
	volatile int recorded = 0;

	if (state == RECOVERED_RECORDED)
		return true;
	if (state == RECOVERED_RECORDING ||
		!pg_atomic_compare_exchange_u32(&registry->recovered_state, &state,
										RECOVERED_RECORDING))
		return false;

	PG_TRY();
	{
		recorded = record_recovered();
	}
	PG_CATCH();
	{
		pg_atomic_write_u32(&registry->recovered_state, RECOVERED_UNKNOWN);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * Entries whose query began before now may have missed a commit of one
	 * of those (after a clean restart, entries of the last run are still
	 * valid: without them, nothing unseen can have committed)
	 */
	if (recorded > 0)
		ledger_restart_validity();
	pg_atomic_write_u32(&registry->recovered_state, RECOVERED_RECORDED);
	return true;
}
