/*-------------------------------------------------------------------------
 *
 * untyped.c
 *	  Parameters sent without a type: the cache_untyped type, given to them
 *	  at parse analysis, and the inference of their types from the cached
 *	  SQL.
 *
 * Drivers that bind parameters on the server (psycopg 3, asyncpg,
 * node-postgres, postgres.js and the libraries above them) send most
 * values with type 0, "unknown", and let the server infer the type from
 * where the $n stands.  Bound to cache_aside_query's VARIADIC "any", a
 * parameter has nothing to be inferred from: parse analysis of
 * PostgreSQL's variable parameters (parse_param.c) leaves it UNKNOWNOID,
 * check_variable_parameters accepts it (every occurrence agrees), and the
 * caller of the analysis, exec_parse_message or PREPARE, then refuses the
 * statement: 42P18 "could not determine data type of parameter $4".
 *
 * Between the two stands post_parse_analyze_hook.  There, for a statement
 * analyzed with variable parameters, every parameter still unknown that is
 * given to cache_aside_query's "any" arguments becomes of type
 * cache_untyped, in the query tree and in the caller's array of parameter
 * types, which the driver then reads back (ParameterDescription).  The
 * type is text-like (text's I/O functions, in text and binary formats),
 * so the driver's value arrives as the text it sent.  cache_aside_query
 * receives it as an untyped value, like an unknown literal written in the
 * SQL, and query.c prepares the cached SQL with the types of its untyped
 * parameters left for PostgreSQL to infer, again with variable parameters
 * (untyped_parser_setup), then converts each text with the input function
 * of the type inferred: the value means what it would mean if the cached
 * SQL had been sent directly with the same parameters.
 *
 * PostgreSQL keeps the state of variable parameters private to
 * parse_param.c.  Two things are needed from it: knowing that a ParseState
 * is analyzing with variable parameters (its p_paramref_hook is the one
 * setup_parse_variable_parameters installs, learnt by calling that
 * function once on a ParseState of our own), and the array of parameter
 * types, reached through p_ref_hook_state, whose layout (a pointer to the
 * array and a pointer to its length) has not changed since PostgreSQL 9.0
 * and is mirrored in VarParamStateMirror.
 *
 * The hook acts only while the library is loaded: a session that has not
 * loaded it (no shared_preload_libraries or session_preload_libraries, no
 * call of a cacheaside function yet) gets 42P18 on its first untyped call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/dependency.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "nodes/bitmapset.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_param.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "untyped.h"

/* The arguments of cache_aside_query before its VARIADIC "any" ones */
#define UNTYPED_FIRST_ARG	3

/* The layout of parse_param.c's VarParamState */
typedef struct VarParamStateMirror
{
	Oid		  **paramTypes;
	int		   *numParams;
} VarParamStateMirror;

/* What walking a query for untyped parameters found */
typedef struct UntypedScan
{
	Bitmapset  *paramids;		/* parameters given to "any" arguments */
	Oid			type;			/* cache_untyped, in the function's schema */
} UntypedScan;

/* The paramref hook of variable parameters, once known */
static ParseParamRefHook varparams_ref_hook = NULL;

/*
 * The paramref hook that setup_parse_variable_parameters installs.
 */
static ParseParamRefHook
varparams_paramref_hook(void)
{
	if (varparams_ref_hook == NULL)
	{
		ParseState *pstate = make_parsestate(NULL);
		Oid		   *types = NULL;
		int			ntypes = 0;

		setup_parse_variable_parameters(pstate, &types, &ntypes);
		varparams_ref_hook = pstate->p_paramref_hook;
		pfree(pstate->p_ref_hook_state);
		free_parsestate(pstate);
	}
	return varparams_ref_hook;
}

static inline bool
is_unknown_param(Node *node)
{
	return node != NULL && IsA(node, Param) &&
		((Param *) node)->paramkind == PARAM_EXTERN &&
		((Param *) node)->paramtype == UNKNOWNOID;
}

/*
 * The cache_untyped type of the extension that funcid, a function with a
 * VARIADIC "any" argument, belongs to, if funcid is cacheaside's
 * cache_aside_query and the extension is at a version that has the type;
 * else InvalidOid.
 */
static Oid
untyped_type_of_function(Oid funcid)
{
	HeapTuple	tuple;
	Form_pg_proc proc;
	Oid			namespace;
	Oid			extension;
	bool		ours;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	ours = proc->provariadic == ANYOID && proc->prolang == ClanguageId &&
		strcmp(NameStr(proc->proname), "cache_aside_query") == 0;
	namespace = proc->pronamespace;
	ReleaseSysCache(tuple);
	if (!ours)
		return InvalidOid;

	extension = get_extension_oid("cacheaside", true);
	if (!OidIsValid(extension) ||
		getExtensionOfObject(ProcedureRelationId, funcid) != extension)
		return InvalidOid;
	return GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
						   CStringGetDatum(UNTYPED_TYPE_NAME),
						   ObjectIdGetDatum(namespace));
}

/*
 * Is type the cache_untyped type of the extension funcid belongs to?
 */
bool
untyped_is_type(Oid type, Oid funcid)
{
	HeapTuple	tuple;
	Form_pg_type typ;
	bool		result;

	if (type < FirstNormalObjectId)
		return false;
	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
	if (!HeapTupleIsValid(tuple))
		return false;
	typ = (Form_pg_type) GETSTRUCT(tuple);
	result = strcmp(NameStr(typ->typname), UNTYPED_TYPE_NAME) == 0 &&
		typ->typnamespace == get_func_namespace(funcid);
	ReleaseSysCache(tuple);
	return result;
}

/*
 * Find the parameters still unknown given to the "any" arguments of
 * cache_aside_query, anywhere in the query.
 */
static bool
untyped_collect_walker(Node *node, UntypedScan *scan)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, untyped_collect_walker,
								 scan, 0);
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *func = (FuncExpr *) node;
		Bitmapset  *ids = NULL;
		ListCell   *lc;

		if (!func->funcvariadic &&
			list_length(func->args) > UNTYPED_FIRST_ARG)
		{
			for_each_from(lc, func->args, UNTYPED_FIRST_ARG)
			{
				if (is_unknown_param(lfirst(lc)))
					ids = bms_add_member(ids,
										 ((Param *) lfirst(lc))->paramid);
			}
		}
		if (ids != NULL)
		{
			Oid			type = untyped_type_of_function(func->funcid);

			if (OidIsValid(type))
			{
				scan->type = type;
				scan->paramids = bms_join(scan->paramids, ids);
			}
			else
				bms_free(ids);
		}
	}
	return expression_tree_walker(node, untyped_collect_walker, scan);
}

/*
 * Give every occurrence of the parameters found the type cache_untyped.
 */
static bool
untyped_retype_walker(Node *node, UntypedScan *scan)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, untyped_retype_walker,
								 scan, 0);
	if (is_unknown_param(node) &&
		bms_is_member(((Param *) node)->paramid, scan->paramids))
	{
		((Param *) node)->paramtype = scan->type;
		return false;
	}
	return expression_tree_walker(node, untyped_retype_walker, scan);
}

/*
 * post_parse_analyze_hook: in a statement analyzed with variable
 * parameters, type the parameters that nothing typed and that are given to
 * cache_aside_query's "any" arguments as cache_untyped.  Other statements,
 * and parameters that anything else gave a type, are left as they are.
 */
void
untyped_post_parse_analyze(ParseState *pstate, Query *query)
{
	VarParamStateMirror *state;
	UntypedScan scan = {NULL, InvalidOid};
	bool		unknown = false;
	int			id;

	if (pstate == NULL || pstate->p_paramref_hook == NULL ||
		pstate->p_paramref_hook != varparams_paramref_hook())
		return;
	state = (VarParamStateMirror *) pstate->p_ref_hook_state;
	for (int i = 0; i < *state->numParams && !unknown; i++)
		unknown = (*state->paramTypes)[i] == UNKNOWNOID;
	if (!unknown)
		return;

	(void) untyped_collect_walker((Node *) query, &scan);
	id = -1;
	while ((id = bms_next_member(scan.paramids, id)) >= 0)
	{
		/* only those of which no occurrence got a type elsewhere */
		if (id < 1 || id > *state->numParams ||
			(*state->paramTypes)[id - 1] != UNKNOWNOID)
			scan.paramids = bms_del_member(scan.paramids, id);
	}
	if (bms_is_empty(scan.paramids))
		return;

	(void) untyped_retype_walker((Node *) query, &scan);
	id = -1;
	while ((id = bms_next_member(scan.paramids, id)) >= 0)
		(*state->paramTypes)[id - 1] = scan.type;
	bms_free(scan.paramids);
}

/* ----------------------------------------------------------------
 * Inferring the types of untyped parameters from the cached SQL
 * ----------------------------------------------------------------
 */

/*
 * Variable parameters, bounded: a $n beyond the parameters given is the
 * same error as with fixed parameters.
 */
static Node *
untyped_paramref_hook(ParseState *pstate, ParamRef *pref)
{
	VarParamStateMirror *state = (VarParamStateMirror *) pstate->p_ref_hook_state;

	if (pref->number <= 0 || pref->number > *state->numParams)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_PARAMETER),
				 errmsg("there is no parameter $%d", pref->number),
				 parser_errposition(pstate, pref->location)));
	return varparams_ref_hook(pstate, pref);
}

/*
 * ParserSetupHook of the cached SQL when some of its parameters are
 * untyped: arg is an UntypedInference whose types are the types given,
 * UNKNOWNOID for the untyped ones; analysis leaves there the types it
 * inferred.  Typed parameters keep their types, as with fixed parameters.
 */
void
untyped_parser_setup(ParseState *pstate, void *arg)
{
	UntypedInference *inference = (UntypedInference *) arg;

	setup_parse_variable_parameters(pstate, &inference->types,
									&inference->ntypes);
	varparams_ref_hook = pstate->p_paramref_hook;
	pstate->p_paramref_hook = untyped_paramref_hook;
}

static bool
untyped_resolution_walker(Node *node, const UntypedInference *inference)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, untyped_resolution_walker,
								 (void *) inference, 0);
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
	{
		Param	   *param = (Param *) node;

		if (param->paramid >= 1 && param->paramid <= inference->ntypes &&
			param->paramtype != inference->types[param->paramid - 1])
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
					 errmsg("could not determine data type of parameter $%d",
							param->paramid)));
		return false;
	}
	return expression_tree_walker(node, untyped_resolution_walker,
								  (void *) inference);
}

/*
 * What check_variable_parameters checks after a statement's analysis: an
 * occurrence of a parameter left unknown while another got a type.
 */
void
untyped_check_resolution(List *queries, const UntypedInference *inference)
{
	ListCell   *lc;

	foreach(lc, queries)
		(void) untyped_resolution_walker(lfirst(lc), inference);
}
