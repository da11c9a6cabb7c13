/*-------------------------------------------------------------------------
 *
 * privs.c
 *	  Privilege checks recorded while a query is cached, repeated on hits.
 *
 * A hit returns rows without running the query, so it would skip every
 * privilege check PostgreSQL makes when the query runs.  While a fill runs,
 * the hooks of fill.c hand what the executor, the planner and the parser
 * check to this file, which encodes the checks the query passes, with the
 * role each was made for (entry.h); they are stored in the entry, and a hit
 * makes them again, against the catalogs as they are now (privs_check).
 * This file only encodes and checks (remembering recent successes until the
 * catalogs change, see privs_memo), and which results may be stored is
 * fill.c's to decide.  What is recorded:
 *
 *	- relations: every range-table entry the executor checks, with its
 *	  required privileges, the columns read and the role checked
 *	  (checkAsUser, the view owner, or the current user), from the executor
 *	  start hook, so views, security_invoker views and the queries of
 *	  functions (as their definer or invoker) are covered;
 *	- functions: EXECUTE, as the executor checks it (object access hook,
 *	  OAT_FUNCTION_EXECUTE), and every function the planner sees, which
 *	  covers SQL functions it inlines without an executor check;
 *	- schemas named explicitly in the SQL (schema.table): USAGE, checked
 *	  at parse time (object access hook, OAT_NAMESPACE_SEARCH).  Schemas
 *	  reached through search_path need no record: the fingerprint holds the
 *	  resolved path, which leaves out schemas the role may not use.
 *
 * A check that does not pass for the current role when it is seen was made
 * for another role (aggregate support functions are checked as the
 * aggregate's owner) and is not recorded.  Relation and function checks
 * also record the version (xmin) of the object's catalog row: one changed
 * since (owner, a view's security_invoker, a function's SECURITY DEFINER
 * or body, grants) makes the entry a miss, also when commits are not
 * tracked (auto_invalidate off, no preloading, a standby).
 *
 * A hit is served only when every check passes.  When one fails, the call
 * is a miss: the query runs, and raises PostgreSQL's own error if running
 * it is refused (the same message, SQLSTATE 42501, context); if it is not
 * (a check recorded that the query no longer makes), its rows are returned
 * and not stored.  So a hit never refuses what the query would allow.
 *
 * Not stored (fill.c): results of a fill that switched roles or called
 * set_config (which can switch roles and back unseen), read a cursor
 * opened before it, or read large objects (whose privileges are checked
 * inside the functions that read them).
 *
 * Row-level security: a result is neither stored nor served when
 * row-level security applies to any relation read, for the role it is
 * checked as (check_enable_rls): policies can depend on anything, settings
 * included.  Roles that bypass it (owners, BYPASSRLS, superusers) cache as
 * usual, each role separately since the fingerprint holds the role.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "port/pg_crc32c.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "entry.h"
#include "privs.h"

/*
 * Checks that passed, remembered until the catalogs they read may have
 * changed.  Every hit of an entry repeats the same checks (the same bytes)
 * against catalogs that seldom change, so the outcome of the last success
 * of a few check lists is kept, with the generation of catalog
 * invalidations it was made in: a change to any catalog row a check reads
 * (pg_class, pg_attribute, pg_proc, pg_namespace, pg_authid,
 * pg_auth_members, pg_database) sends an invalidation that bumps the
 * generation, processed when the syscaches see it (at the latest when the
 * hit takes its relation locks), so a remembered success is used exactly
 * as long as the syscache lookups of the checks would give the same
 * answers.  Only successes without row-level security are remembered; the
 * temporary schema and the "no FORCE ROW LEVEL SECURITY" context, which
 * the checks also depend on, are part of the key; nothing is remembered
 * while an ExecutorCheckPerms_hook is set, since it may decide on anything.
 */
#define PRIVS_MEMO_SLOTS		16
#define PRIVS_MEMO_MAX_BYTES	1024

typedef struct PrivsMemo
{
	uint64		generation;		/* privs_generation when it passed, 0: none */
	pg_crc32c	hash;			/* of the checks */
	uint32		len;
	Oid			temp_namespace;
	bool		no_force_rls;
	char	   *checks;			/* PRIVS_MEMO_MAX_BYTES, in TopMemoryContext */
} PrivsMemo;

static PrivsMemo privs_memo[PRIVS_MEMO_SLOTS];	/* by hash of the checks */
static uint64 privs_generation = 1;

static void
privs_catalog_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	privs_generation++;
}

/*
 * Register the invalidation callbacks the memory of passed checks needs:
 * once per process, from _PG_init (the postmaster's are inherited), so that
 * running out of PostgreSQL's callback slots fails at load, not at a hit.
 */
void
privs_init(void)
{
	static const int caches[] = {
		RELOID, ATTNUM, PROCOID, NAMESPACEOID, AUTHOID, AUTHMEMROLEMEM,
		DATABASEOID
	};

	for (size_t i = 0; i < lengthof(caches); i++)
		CacheRegisterSyscacheCallback(caches[i], privs_catalog_changed,
									  (Datum) 0);
}

/* The slot checks[0..len) would be remembered in, with its hash and state */
static PrivsMemo *
privs_memo_slot(const char *checks, size_t len, pg_crc32c *hash,
				Oid *temp_namespace, bool *no_force_rls)
{
	Oid			temp_toast;

	INIT_CRC32C(*hash);
	COMP_CRC32C(*hash, checks, len);
	FIN_CRC32C(*hash);
	GetTempNamespaceState(temp_namespace, &temp_toast);
	*no_force_rls = InNoForceRLSOperation();
	return &privs_memo[*hash % PRIVS_MEMO_SLOTS];
}

/*
 * From PostgreSQL 16 on, the permissions the executor checks on a relation
 * are no longer fields of its range-table entry but a node of their own
 * (RTEPermissionInfo, listed in PlannedStmt.permInfos), with the same
 * field names; ExecCheckRTPerms became ExecCheckPermissions, and the
 * per-kind ACL checks of functions and schemas became object_aclcheck.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo RelationPerms;
#define plan_relation_perms(plan)	((plan)->permInfos)
#define function_aclcheck(oid, role, mode) \
	object_aclcheck(ProcedureRelationId, (oid), (role), (mode))
#define schema_aclcheck(oid, role, mode) \
	object_aclcheck(NamespaceRelationId, (oid), (role), (mode))
#else
typedef RangeTblEntry RelationPerms;
#define plan_relation_perms(plan)	((plan)->rtable)
#define function_aclcheck(oid, role, mode) \
	pg_proc_aclcheck((oid), (role), (mode))
#define schema_aclcheck(oid, role, mode) \
	pg_namespace_aclcheck((oid), (role), (mode))
#endif

/*
 * The version of an object's catalog row (its xmin): any ALTER, GRANT or
 * REVOKE writes a new one.  False when the object does not exist.
 */
static bool
catalog_row_version(int cacheid, Oid object, uint32 *version)
{
	HeapTuple	tuple = SearchSysCache1(cacheid, ObjectIdGetDatum(object));

	if (!HeapTupleIsValid(tuple))
		return false;
	*version = HeapTupleHeaderGetRawXmin(tuple->t_data);
	ReleaseSysCache(tuple);
	return true;
}

/*
 * Append the check rec[0..len) to checks unless an identical one is there.
 * Returns false when checks would grow past what an entry may carry.
 */
bool
privs_append_unique(StringInfo checks, const char *rec, int len)
{
	const char *end = checks->data + checks->len;

	for (const char *p = checks->data; p < end;)
	{
		EntryCheck	check;
		const char *next = entry_check_next(p, end, &check);

		Assert(next != NULL);
		if (next - p == len && memcmp(p, rec, len) == 0)
			return true;
		p = next;
	}
	if ((size_t) checks->len + len > ENTRY_MAX_CHECK_BYTES)
		return false;
	appendBinaryStringInfo(checks, rec, len);
	return true;
}

/*
 * Append to out the check of EXECUTE on a function (kind
 * ENTRY_CHECK_FUNCTION) or USAGE on a schema (ENTRY_CHECK_SCHEMA), made
 * for the current role.  Returns false, appending nothing, when the object
 * is gone or the check does not pass for the current role: it was made for
 * another one (aggregate support functions are checked as the aggregate's
 * owner).
 */
bool
privs_encode_object(uint32 kind, Oid object, StringInfo out)
{
	Oid			role = GetUserId();
	AclResult	aclresult;
	uint32		version = 0;

	if (kind == ENTRY_CHECK_FUNCTION)
	{
		if (!catalog_row_version(PROCOID, object, &version))
			return false;
		aclresult = function_aclcheck(object, role, ACL_EXECUTE);
	}
	else
	{
		if (!SearchSysCacheExists1(NAMESPACEOID, ObjectIdGetDatum(object)))
			return false;
		aclresult = schema_aclcheck(object, role, ACL_USAGE);
	}
	if (aclresult != ACLCHECK_OK)
		return false;
	entry_encode_check(out, kind, role, object, 0, version, NULL, 0);
	return true;
}

/*
 * Append to out the privilege checks the executor makes on the relations
 * of a plan (as ExecCheckRTPerms, or ExecCheckPermissions, does them).
 * Returns false when a relation requires more than SELECT: not a plain
 * read, which cached queries are not; the other checks are appended all
 * the same.
 */
bool
privs_encode_plan(PlannedStmt *plan, StringInfo out)
{
	ListCell   *lc;
	bool		reads_only = true;

	foreach(lc, plan_relation_perms(plan))
	{
		RelationPerms *perms = (RelationPerms *) lfirst(lc);
		uint32	   *columns;
		uint32		ncolumns = 0;
		int			col = -1;
		uint32		version;

#if PG_VERSION_NUM < 160000
		if (perms->rtekind != RTE_RELATION)
			continue;
#endif
		if (perms->requiredPerms == 0)
			continue;
		if (perms->requiredPerms != ACL_SELECT)
		{
			reads_only = false;
			continue;
		}

		/* its version: owner, options (security_invoker), grants */
		if (!catalog_row_version(RELOID, perms->relid, &version))
			continue;

		columns = palloc(sizeof(uint32) * Max(bms_num_members(perms->selectedCols), 1));
		while ((col = bms_next_member(perms->selectedCols, col)) >= 0)
			columns[ncolumns++] = (uint32) col;

		entry_encode_check(out, ENTRY_CHECK_RELATION,
						   OidIsValid(perms->checkAsUser) ? perms->checkAsUser : GetUserId(),
						   perms->relid, (uint32) perms->requiredPerms, version,
						   columns, ncolumns);
		pfree(columns);
	}
	return reads_only;
}

/*
 * The functions a query about to be planned calls: the planner inlines
 * simple SQL functions, after checking EXECUTE itself, and the executor
 * then makes no check of its own.
 */
static bool
query_functions_walker(Node *node, List **funcids)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
		*funcids = lappend_oid(*funcids, ((FuncExpr *) node)->funcid);
	else if (IsA(node, OpExpr) || IsA(node, DistinctExpr) ||
			 IsA(node, NullIfExpr))
	{
		OpExpr	   *op = (OpExpr *) node;

		*funcids = lappend_oid(*funcids, OidIsValid(op->opfuncid) ?
							   op->opfuncid : get_opcode(op->opno));
	}
	else if (IsA(node, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *op = (ScalarArrayOpExpr *) node;

		*funcids = lappend_oid(*funcids, OidIsValid(op->opfuncid) ?
							   op->opfuncid : get_opcode(op->opno));
	}
	else if (IsA(node, Aggref))
		*funcids = lappend_oid(*funcids, ((Aggref *) node)->aggfnoid);
	else if (IsA(node, WindowFunc))
		*funcids = lappend_oid(*funcids, ((WindowFunc *) node)->winfnoid);
	else if (IsA(node, Query))
		return query_tree_walker((Query *) node, query_functions_walker,
								 funcids, 0);
	return expression_tree_walker(node, query_functions_walker, funcids);
}

/*
 * The OIDs of every function parse calls (repeats included), for the
 * EXECUTE checks the planner makes.
 */
List *
privs_query_functions(Query *parse)
{
	List	   *funcids = NIL;

	(void) query_tree_walker(parse, query_functions_walker, &funcids, 0);
	return funcids;
}

/*
 * Does every recorded column of a relation check still exist?
 */
static bool
columns_exist(const EntryCheck *check)
{
	for (uint32 c = 0; c < check->ncolumns; c++)
	{
		AttrNumber	attno = (AttrNumber) ((int) entry_check_column(check, c) +
										  FirstLowInvalidHeapAttributeNumber);
		HeapTuple	tuple;
		bool		dropped;

		if (attno <= 0)
			continue;			/* a system column or the whole row */
		tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(check->object),
								Int16GetDatum(attno));
		if (!HeapTupleIsValid(tuple))
			return false;
		dropped = ((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped;
		ReleaseSysCache(tuple);
		if (dropped)
			return false;
	}
	return true;
}

/*
 * Does a recorded relation check pass, made as the executor makes it
 * (ExecutorCheckPerms_hook included)?
 */
static bool
relation_check_passes(const EntryCheck *check)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	RelationPerms *perms;

	rte->rtekind = RTE_RELATION;
	rte->relid = check->object;
	rte->relkind = get_rel_relkind(check->object);
#if PG_VERSION_NUM >= 160000
	perms = makeNode(RTEPermissionInfo);
	perms->relid = check->object;
	rte->perminfoindex = 1;
#else
	perms = rte;
#endif
	perms->requiredPerms = (AclMode) check->privileges;
	perms->checkAsUser = check->role;
	for (uint32 c = 0; c < check->ncolumns; c++)
		perms->selectedCols = bms_add_member(perms->selectedCols,
											 (int) entry_check_column(check, c));
#if PG_VERSION_NUM >= 160000
	return ExecCheckPermissions(list_make1(rte), list_make1(perms), false);
#else
	return ExecCheckRTPerms(list_make1(rte), false);
#endif
}

/* Why privs_check() refuses an entry */
#define PRIVS_DENIED		"a privilege check fails"
#define PRIVS_GONE			"an object it used is gone or changed"
#define PRIVS_ROW_SECURITY	"row-level security applies to a relation it read"

/*
 * Make the recorded checks again against the catalogs as they are now.
 * Returns NULL when they all pass, else why the entry may not be used,
 * with its kind in *reason.  Raises no error of its own: when a check
 * fails, the caller runs the query, which raises PostgreSQL's error if it
 * must.
 */
const char *
privs_check(const char *checks, size_t len, CacheReason *reason)
{
	const char *end;
	bool		row_security = false;

	static const uint32 passes[] = {
		ENTRY_CHECK_SCHEMA, ENTRY_CHECK_RELATION, ENTRY_CHECK_FUNCTION
	};

	PrivsMemo  *memo = NULL;
	pg_crc32c	hash = 0;
	Oid			temp_namespace = InvalidOid;
	bool		no_force_rls = false;
	uint64		generation = privs_generation;

	*reason = REASON_PRIVILEGES;
	if (len == 0)
		return NULL;
	end = checks + len;

	if (len <= PRIVS_MEMO_MAX_BYTES && ExecutorCheckPerms_hook == NULL)
	{
		memo = privs_memo_slot(checks, len, &hash, &temp_namespace,
							   &no_force_rls);
		if (memo->generation == privs_generation && memo->hash == hash &&
			memo->len == len && memo->temp_namespace == temp_namespace &&
			memo->no_force_rls == no_force_rls &&
			memcmp(memo->checks, checks, len) == 0)
			return NULL;
	}

	for (size_t i = 0; i < lengthof(passes); i++)
	{
		uint32		pass = passes[i];

		for (const char *p = checks; p < end;)
		{
			EntryCheck	check;
			uint32		version;

			p = entry_check_next(p, end, &check);
			Assert(p != NULL);
			if (check.kind != pass)
				continue;

			switch (check.kind)
			{
				case ENTRY_CHECK_SCHEMA:
					if (!SearchSysCacheExists1(NAMESPACEOID,
											   ObjectIdGetDatum(check.object)))
						return PRIVS_GONE;
					if (schema_aclcheck(check.object, check.role,
										ACL_USAGE) != ACLCHECK_OK)
						return PRIVS_DENIED;
					break;

				case ENTRY_CHECK_RELATION:
					{
						/* gone, or changed: owner, options, grants */
						if (!catalog_row_version(RELOID, check.object, &version) ||
							version != check.version || !columns_exist(&check))
							return PRIVS_GONE;
						if (!relation_check_passes(&check))
							return PRIVS_DENIED;
						if (check_enable_rls(check.object, check.role, true) ==
							RLS_ENABLED)
							row_security = true;
						break;
					}

				case ENTRY_CHECK_FUNCTION:
					/* gone, or changed since: owner, security, body, grants */
					if (!catalog_row_version(PROCOID, check.object, &version) ||
						version != check.version)
						return PRIVS_GONE;
					if (function_aclcheck(check.object, check.role,
										  ACL_EXECUTE) != ACLCHECK_OK)
						return PRIVS_DENIED;
					break;
			}
		}
	}
	if (!row_security)
	{
		if (memo != NULL)
		{
			if (memo->checks == NULL)
				memo->checks = MemoryContextAlloc(TopMemoryContext,
												  PRIVS_MEMO_MAX_BYTES);
			memcpy(memo->checks, checks, len);
			memo->hash = hash;
			memo->len = (uint32) len;
			memo->temp_namespace = temp_namespace;
			memo->no_force_rls = no_force_rls;
			/* as of before the checks: one may have taken invalidations */
			memo->generation = generation;
		}
		return NULL;
	}
	*reason = REASON_ROW_SECURITY;
	return PRIVS_ROW_SECURITY;
}
