/*-------------------------------------------------------------------------
 *
 * fill.c
 *	  Recording what a query reads while its result is computed to be
 *	  cached, and whether that result may be stored.
 *
 * A miss of cache_aside_query runs its query inside a fill (fill_begin,
 * fill_end).  While it runs, the hooks of cacheaside.c hand this file what
 * happens in the backend, and every fill in progress records it:
 *
 *	executor start	the relations of each plan the executor starts (the
 *					query's, and those of every query a function it calls
 *					runs), and the privilege checks the executor is about to
 *					make on them;
 *	planner			the functions the planner may inline, whose EXECUTE it
 *					checks itself;
 *	object access	the executor's EXECUTE checks, and USAGE on schemas the
 *					SQL names;
 *	executor run	a plan started before the fill and run during it (a
 *					cursor opened before), which reads what the fill did
 *					not record;
 *	a hit			served inside the query (a nested cache_aside_query):
 *					its entry's relations and checks are the query's too.
 *
 * Fills nest: a query being cached may call cache_aside_query, whose miss
 * is a fill inside the first; what the inner one records, the outer one
 * records too.  The fills in progress form a stack through their parent
 * links, each allocated in the memory context of the call that began it;
 * fill_end pops it (callers run it in PG_FINALLY), and the end of the
 * transaction forgets any left behind.
 *
 * Every reason a result may not be stored is decided here
 * (fill_unstorable): what the hooks saw (a role switch, set_config, a
 * cursor opened before, a plan that may use parallel workers, more than
 * SELECT, too many privilege checks, a cursor WITH HOLD open), what the
 * query read (temporary tables; with writes tracked, foreign tables,
 * sequences and system catalogs, whose changes the ledger does not see;
 * large objects), the privilege checks made again, and, through
 * validity.c, the commits since the query began.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_largeobject.h"
#include "catalog/pg_largeobject_metadata.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "entry.h"
#include "fill.h"
#include "oidarray.h"
#include "privs.h"
#include "validity.h"
#include "writeset.h"

struct Fill
{
	Fill	   *parent;			/* the fill around this one, or NULL */
	MemoryContext cxt;			/* where it and what it records live */
	OidArray	relids;			/* relations read */
	StringInfoData checks;		/* privilege checks passed (entry.h); data
								 * is NULL until the first */
	Oid			role;			/* the current role when it began */
	List	   *started;		/* QueryDescs started during it, not ended */
	const char *unstorable;		/* why its result must not be stored, or
								 * NULL */
	bool		unchecked;		/* it used an entry not checked against
								 * commits */
};

/* The innermost fill in progress in this backend */
static Fill *current_fill = NULL;


/* ----------------------------------------------------------------
 * Recording into every fill in progress
 * ----------------------------------------------------------------
 */

static void
add_relations(const Oid *relids, int nrelids)
{
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
		fill_include(fill, relids, nrelids);
}

static void
mark_unstorable(const char *why)
{
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
		fill->unstorable = why;
}

/* Add one encoded privilege check, made for the current role */
static void
add_check(const char *rec, int len)
{
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
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

/* Add a run of encoded privilege checks */
static void
add_checks(const char *checks, size_t len)
{
	const char *end = checks + len;

	for (const char *p = checks; p < end;)
	{
		EntryCheck	check;
		const char *next = entry_check_next(p, end, &check);

		Assert(next != NULL);
		add_check(p, next - p);
		p = next;
	}
}

/* Add the check of a function or schema, if it passes for the current role */
static void
note_object(uint32 kind, Oid object)
{
	char		rec[32];
	StringInfoData buf;

	if (kind == ENTRY_CHECK_FUNCTION)
	{
		/* it could change the current role, and back, unseen */
		if (object == F_SET_CONFIG)
			mark_unstorable("it calls set_config");
		/* they read cursors, whose rows may have been stored before */
		if (object == F_CURSOR_TO_XML || object == F_CURSOR_TO_XMLSCHEMA)
			mark_unstorable("it reads a cursor");
	}

	/* a check without columns is small: encode it on the stack */
	buf.data = rec;
	buf.len = 0;
	buf.maxlen = sizeof(rec);
	buf.cursor = 0;
	if (privs_encode_object(kind, object, &buf))
	{
		Assert(buf.data == rec);
		add_check(buf.data, buf.len);
	}
}


/* ----------------------------------------------------------------
 * Fills
 * ----------------------------------------------------------------
 */

/*
 * Is a cursor WITH HOLD open in this session?  Its rows were materialized
 * when its transaction committed and are fetched without an executor, so
 * fill_executor_run cannot see a fill read them.  (portalmem.c has no way
 * to walk the portals but pg_cursor(); the plan is prepared once.)
 */
static bool
held_cursor_open(void)
{
	static SPIPlanPtr plan = NULL;
	Fill	   *saved_fill = current_fill;
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
 * Begin a fill, in the current memory context, inside those in progress.
 * The caller must end it with fill_end, also on error.
 */
Fill *
fill_begin(void)
{
	Fill	   *fill = palloc0(sizeof(Fill));

	fill->cxt = CurrentMemoryContext;
	fill->role = GetUserId();
	if (held_cursor_open())
		fill->unstorable = "a cursor WITH HOLD is open, which it could read";
	fill->parent = current_fill;
	current_fill = fill;
	return fill;
}

/*
 * End the innermost fill.  What it recorded stays readable.
 */
void
fill_end(Fill *fill)
{
	Assert(current_fill == fill);
	if (GetUserId() != fill->role)
		fill->unstorable = "it changed the current role";
	current_fill = fill->parent;
}

/*
 * At the end of the transaction: no fill is in progress any more (an
 * error may have left some behind, in memory that is gone).
 */
void
fill_reset(void)
{
	current_fill = NULL;
}

/*
 * Add relations to this fill only (not to those around it): what its
 * query's plan depends on.
 */
void
fill_include(Fill *fill, const Oid *relids, int nrelids)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(fill->cxt);

	for (int i = 0; i < nrelids; i++)
		oid_array_add_unique(&fill->relids, relids[i]);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Is a fill in progress in this backend (is this call inside a query being
 * cached)?
 */
bool
fill_active(void)
{
	return current_fill != NULL;
}

/*
 * A hit served inside the queries being cached: what its entry read and
 * checked, they read and checked too.  checked: the hit was checked
 * against commits; if not (cacheaside.auto_invalidate off), their results
 * may be stale and must not be stored.
 */
void
fill_add_hit(const CacheEntry *entry, bool checked)
{
	if (current_fill == NULL)
		return;
	add_relations(entry->relations, entry->nrelations);
	if (entry->checks_len > 0)
		add_checks(entry->checks, entry->checks_len);
	if (!checked)
		for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
			fill->unchecked = true;
}

/*
 * The relations and privilege checks an entry of this fill's result
 * carries.  The arrays stay the fill's.
 */
void
fill_describe(const Fill *fill, CacheEntry *entry)
{
	entry->nrelations = fill->relids.n;
	entry->relations = fill->relids.oids;
	entry->checks = fill->checks.data;
	entry->checks_len = fill->checks.data ? fill->checks.len : 0;
}


/* ----------------------------------------------------------------
 * Whether the result may be stored
 * ----------------------------------------------------------------
 */

/*
 * Has this transaction read (or written) large objects?  Their privileges
 * are checked inside the functions that read them, with nothing to record:
 * a result that may hold their contents is not stored.  Any access keeps a
 * lock on pg_largeobject or its metadata until the transaction ends.
 */
static bool
large_objects_read(void)
{
	return writeset_locked_by_me(LargeObjectRelationId, AccessShareLock) ||
		writeset_locked_by_me(LargeObjectMetadataRelationId, AccessShareLock);
}

/*
 * Why the result of an ended fill must not be stored, with its kind in
 * *reason, or NULL when it may be.  tracked: writes were tracked when its
 * query began, and as_of is the ledger's sequence number read then.
 */
const char *
fill_unstorable(Fill *fill, bool tracked, uint64 as_of, CacheReason *reason)
{
	const Oid  *relids = fill->relids.oids;
	int			nrelids = fill->relids.n;
	const char *why = NULL;

	*reason = REASON_UNCACHEABLE;
	if (fill->unchecked)
		return "it used an entry not checked against commits";
	if (fill->unstorable)
		return fill->unstorable;
	if (large_objects_read())
		return "this transaction read large objects";
	if (fill->checks.data != NULL &&
		(why = privs_check(fill->checks.data, fill->checks.len,
						   reason)) != NULL)
		return why;
	*reason = REASON_UNCACHEABLE;

	for (int i = 0; i < nrelids && why == NULL; i++)
	{
		HeapTuple	tuple = SearchSysCache1(RELOID,
											ObjectIdGetDatum(relids[i]));
		Form_pg_class form;

		if (!HeapTupleIsValid(tuple))
			return "a relation it read was dropped";
		form = (Form_pg_class) GETSTRUCT(tuple);

		/* another session can end up with the same temporary schema */
		if (form->relpersistence == RELPERSISTENCE_TEMP)
			why = "it read a temporary table";
		/* writes to a foreign table happen on another server */
		else if (tracked && form->relkind == RELKIND_FOREIGN_TABLE)
			why = "it read a foreign table";
		/* sequences change outside transactions, without commits */
		else if (tracked && form->relkind == RELKIND_SEQUENCE)
			why = "it read a sequence";
		/* writes to system catalogs are not tracked */
		else if (tracked && relids[i] < FirstNormalObjectId)
			why = "it read a system catalog";
		ReleaseSysCache(tuple);
	}
	if (why != NULL)
		return why;
	return validity_storable(relids, nrelids, tracked, as_of, reason);
}


/* ----------------------------------------------------------------
 * What the hooks hand over
 * ----------------------------------------------------------------
 */

/*
 * The executor is about to start a plan: its relations, and the privilege
 * checks it makes on them, are read by every fill in progress.
 */
void
fill_executor_start(QueryDesc *queryDesc)
{
	ListCell   *lc;
	StringInfoData checks;

	if (current_fill == NULL)
		return;

	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		/* from 16 on, a view's entry is a subquery that keeps its relid */
		if (rte->rtekind == RTE_RELATION ||
			(rte->rtekind == RTE_SUBQUERY && OidIsValid(rte->relid)))
			add_relations(&rte->relid, 1);
	}

	initStringInfo(&checks);
	if (!privs_encode_plan(queryDesc->plannedstmt, &checks))
		mark_unstorable("it needs more than SELECT on a relation");
	add_checks(checks.data, checks.len);
	pfree(checks.data);

	/*
	 * A fill plans without parallel workers (query_run_json), but a plan
	 * cached before it, or made after the query raised the settings again,
	 * may start some: what they run would not be recorded.
	 */
	if (queryDesc->plannedstmt->parallelModeNeeded)
		mark_unstorable("it ran a plan that may use parallel workers");

	/* the executors started during each fill (see fill_executor_run) */
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fill->cxt);

		fill->started = lappend(fill->started, queryDesc);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * An executor started before a fill and run during it (a cursor opened
 * before, fetched by the query through cursor_to_xml or a PL/pgSQL FETCH)
 * reads what the fill did not record.
 */
void
fill_executor_run(QueryDesc *queryDesc)
{
	/* a FATAL error leaves current_fill behind: never look at it then */
	if (proc_exit_inprogress)
		return;
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
		if (!list_member_ptr(fill->started, queryDesc))
			fill->unstorable = "it read a cursor opened before it";
}

void
fill_executor_end(QueryDesc *queryDesc)
{
	/* at exit, after a FATAL error, portals are closed with fills dangling */
	if (proc_exit_inprogress)
		return;
	for (Fill *fill = current_fill; fill != NULL; fill = fill->parent)
		fill->started = list_delete_ptr(fill->started, queryDesc);
}

/*
 * A query is about to be planned: the planner checks EXECUTE on the
 * functions it inlines, which the executor then does not.
 */
void
fill_planner(Query *parse)
{
	List	   *funcids;
	ListCell   *lc;

	if (current_fill == NULL)
		return;
	funcids = privs_query_functions(parse);
	foreach(lc, funcids)
		note_object(ENTRY_CHECK_FUNCTION, lfirst_oid(lc));
	list_free(funcids);
}

/*
 * The executor's EXECUTE checks, and the parser's USAGE checks on schemas
 * named explicitly (those reached through search_path are in the
 * fingerprint).
 */
void
fill_object_access(ObjectAccessType access, Oid objectId, void *arg)
{
	if (current_fill == NULL)
		return;
	if (access == OAT_FUNCTION_EXECUTE)
		note_object(ENTRY_CHECK_FUNCTION, objectId);
	else if (access == OAT_NAMESPACE_SEARCH &&
			 ((ObjectAccessNamespaceSearch *) arg)->ereport_on_violation &&
			 !isAnyTempNamespace(objectId))
		note_object(ENTRY_CHECK_SCHEMA, objectId);
}
