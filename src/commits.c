/*-------------------------------------------------------------------------
 *
 * commits.c
 *	  This backend's writing transactions, recorded in the commit ledger.
 *
 * The transaction callback (cacheaside.c) calls these at the ends of every
 * transaction; they do nothing unless the library was preloaded (there is
 * a ledger) and the transaction has an ID (it may have written).
 *
 *	pre-commit	find what the transaction wrote (writeset.c), and mark its
 *				ledger slots in flight, before the commit can become
 *				visible;
 *	commit		after the commit became visible, before COMMIT returns:
 *				record it in the ledger (a new sequence number in each
 *				slot), which also lowers the marks;
 *	pre-prepare	record the transaction and what it wrote in the registry
 *				of prepared transactions (prepared.c), which marks it in
 *				flight until the transaction ends, in any session;
 *	abort		lower whatever marks this transaction raised, also when the
 *				backend exits in the middle of a commit.
 *
 * A transaction that wrote more relations than can be told apart, or a
 * prepared one that wrote more than a registry entry holds, counts as a
 * write to its whole database; so does one that created, altered or
 * dropped a permanent object (ddl.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/memutils.h"

#include "commits.h"
#include "ddl.h"
#include "ledger.h"
#include "oidarray.h"
#include "prepared.h"
#include "writeset.h"

/* What this backend's transaction has marked in the ledger */
typedef struct CommitState
{
	uint32	   *slots;			/* marked at pre-commit, in
								 * TopTransactionContext */
	int			nslots;			/* 0: nothing marked */
	uint64		fxid;			/* the transaction that marked them */
	uint64		preparing_fxid; /* recorded at pre-prepare, until PREPARE is
								 * done; 0: none */
	bool		exit_callback_registered;
} CommitState;

static CommitState state;

/*
 * The whole-database slot of every database (in the current memory
 * context): a role renamed or dropped (ddl.c).
 */
static int
every_database_slots(uint32 **slots_out)
{
	Relation	rel = table_open(DatabaseRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0,
										  NULL);
	OidArray	dbs = OID_ARRAY_EMPTY;
	HeapTuple	tuple;
	uint32	   *slots;

	oid_array_add(&dbs, MyDatabaseId);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		oid_array_add(&dbs, ((Form_pg_database) GETSTRUCT(tuple))->oid);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	slots = palloc(sizeof(uint32) * dbs.n);
	for (int i = 0; i < dbs.n; i++)
		slots[i] = ledger_slot_of(dbs.oids[i], InvalidOid);
	*slots_out = slots;
	return dbs.n;
}

/*
 * The ledger slots of what this transaction wrote in its database, or in
 * every database (a role renamed or dropped), sorted and distinct, in
 * TopTransactionContext; returns their number (0: wrote nothing).
 */
static int
written_slots_here(uint32 **slots_out)
{
	MemoryContext oldcxt;
	OidArray	rels = OID_ARRAY_EMPTY;
	uint32	   *slots;
	int			n;

	*slots_out = NULL;
	if (!FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()))
		return 0;				/* wrote nothing */

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	if (ddl_roles_changed())
	{
		n = every_database_slots(&slots);
		MemoryContextSwitchTo(oldcxt);
		*slots_out = slots;
		return ledger_distinct_slots(slots, n);
	}
	if (!ddl_changed(true) && writeset_relations(&rels))
	{
		if (rels.n == 0)
		{
			MemoryContextSwitchTo(oldcxt);
			return 0;
		}
		slots = palloc(sizeof(uint32) * rels.n);
		for (int i = 0; i < rels.n; i++)
			slots[i] = ledger_slot_of(MyDatabaseId, rels.oids[i]);
		n = rels.n;
	}
	else
	{
		/*
		 * too many to tell apart, or a change of what names in queries
		 * resolve to (ddl.c): the whole database
		 */
		slots = palloc(sizeof(uint32));
		slots[0] = ledger_slot_of(MyDatabaseId, InvalidOid);
		n = 1;
	}
	MemoryContextSwitchTo(oldcxt);

	*slots_out = slots;
	return ledger_distinct_slots(slots, n);
}

/*
 * The n ledger slots in *slots, and the whole-database slots of the
 * databases this transaction created or altered (ddl.c), sorted and
 * distinct, in TopTransactionContext; returns their number.
 */
static int
with_database_slots(uint32 **slots, int n)
{
	const Oid  *databases;
	int			ndatabases = ddl_databases(&databases);
	uint32	   *all;

	if (ndatabases == 0)
		return n;
	all = MemoryContextAlloc(TopTransactionContext,
							 sizeof(uint32) * (n + ndatabases));
	if (n > 0)
		memcpy(all, *slots, sizeof(uint32) * n);
	for (int i = 0; i < ndatabases; i++)
		all[n + i] = ledger_slot_of(databases[i], InvalidOid);
	*slots = all;
	return ledger_distinct_slots(all, n + ndatabases);
}

/*
 * The ledger slots of what this transaction wrote, sorted and distinct,
 * in TopTransactionContext; returns their number (0: wrote nothing).
 */
static int
written_slots(uint32 **slots_out)
{
	return with_database_slots(slots_out, written_slots_here(slots_out));
}

/*
 * The transaction did not commit (or the backend exits in the middle):
 * lower whatever marks it raised.
 */
static void
release_marks(void)
{
	if (state.nslots > 0)
		ledger_unmark(state.slots, state.nslots);
	state.nslots = 0;
	if (state.preparing_fxid != 0)
		prepared_forget(state.preparing_fxid);
	state.preparing_fxid = 0;
}

static void
commits_at_exit(int code, Datum arg)
{
	release_marks();
}

static void
register_exit_callback(void)
{
	if (!state.exit_callback_registered)
	{
		before_shmem_exit(commits_at_exit, (Datum) 0);
		state.exit_callback_registered = true;
	}
}

/*
 * Pre-commit of a transaction that may have written: find what it wrote
 * and mark those slots in flight, before the commit can become visible.
 */
void
commits_pre_commit(void)
{
	uint32	   *slots;
	int			nslots;

	if (!ledger_attached())
		return;
	nslots = written_slots(&slots);
	if (nslots == 0)
		return;
	register_exit_callback();
	state.slots = slots;
	state.fxid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());

	/* nothing between these two can fail: abort unmarks exactly these */
	ledger_mark(state.slots, nslots);
	state.nslots = nslots;
}

/*
 * The commit is visible: record it.
 */
void
commits_commit(void)
{
	if (state.nslots > 0)
		ledger_record_commit(state.slots, state.nslots, state.fxid);
	state.nslots = 0;
}

/*
 * Pre-prepare of a transaction that may have written: record it, and mark
 * what it wrote in flight until it ends.
 */
void
commits_pre_prepare(void)
{
	uint32	   *slots;
	int			nslots;
	uint64		fxid;

	/* two-phase commit disabled: PostgreSQL refuses PREPARE itself */
	if (!ledger_attached() || max_prepared_xacts == 0)
		return;
	nslots = written_slots(&slots);
	if (nslots == 0)
		return;
	if (nslots > PREPARED_MAX_SLOTS && ddl_roles_changed())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cacheaside cannot prepare a transaction that renames or drops a role in a cluster of more than %d databases",
						PREPARED_MAX_SLOTS),
				 errhint("Commit it without PREPARE TRANSACTION.")));
	if (nslots > PREPARED_MAX_SLOTS)
	{
		/*
		 * Too many to keep: the whole database, and the databases created
		 * or altered
		 */
		slots[0] = ledger_slot_of(MyDatabaseId, InvalidOid);
		nslots = with_database_slots(&slots, 1);
		if (nslots > PREPARED_MAX_SLOTS)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cacheaside cannot prepare a transaction that creates or alters more than %d databases",
							PREPARED_MAX_SLOTS - 1),
					 errhint("Commit it without PREPARE TRANSACTION.")));
	}
	fxid = U64FromFullTransactionId(GetTopFullTransactionIdIfAny());
	register_exit_callback();
	if (!prepared_record(fxid, slots, nslots))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("cacheaside cannot record another prepared transaction"),
				 errdetail("Its room is max_prepared_transactions (%d) as of the server start.",
						   prepared_capacity())));
	state.preparing_fxid = fxid;
}

/*
 * PREPARE is done: the registry keeps the transaction, with its marks,
 * until it ends.
 */
void
commits_prepare(void)
{
	state.preparing_fxid = 0;
}

/*
 * The transaction aborted.
 */
void
commits_abort(void)
{
	release_marks();
}
