/*-------------------------------------------------------------------------
 *
 * query.c
 *	  Running a read-only query and rendering its rows as JSON.
 *
 * The SQL text is parsed and analyzed with SPI, then checked: it must be
 * exactly one query that only reads (SELECT, VALUES, TABLE, or WITH
 * without data-modifying parts, and no FOR UPDATE/SHARE anywhere).  It
 * runs with transaction_read_only forced on for its duration, so that a
 * function it calls cannot write either.
 *
 * Rows stream from the executor into a DestReceiver that renders each one
 * with PostgreSQL's own row_to_json and appends it to a single buffer,
 * separated exactly as json_agg separates composite values, so that the
 * result is byte for byte what
 *
 *		SELECT coalesce(json_agg(q), '[]'::json) FROM (<sql>) q
 *
 * returns.  The buffer starts with room for a varlena header, so the
 * finished JSON becomes a text datum without a copy; per-row work happens
 * in a memory context reset after every row.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_param.h"
#include "tcop/cmdtag.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "query.h"
#include "untyped.h"

/* Receives the rows of the query and renders them as a JSON array */
typedef struct JsonReceiver
{
	DestReceiver pub;
	StringInfo	buf;			/* the result, in the caller's context */
	MemoryContext callercxt;	/* where the result and tupdesc live */
	MemoryContext rowcxt;		/* reset after each row */
	TupleDesc	tupdesc;		/* blessed copy of the result descriptor */
	uint64		nrows;
} JsonReceiver;

/* ----------------------------------------------------------------
 * Parameters
 * ----------------------------------------------------------------
 */

/*
 * Collect the VARIADIC "any" arguments from argument number first on as
 * query parameters.  A call with VARIADIC ARRAY[...] binds the array's
 * elements.  Untyped values, literals ('abc') and parameters a driver sent
 * without a type (of type cache_untyped, untyped.c), are kept as text with
 * the type UNKNOWNOID: query_run_json infers their types from the SQL.
 */
void
query_params_from_args(FunctionCallInfo fcinfo, int first,
					   QueryParams *params)
{
	int			nargs = PG_NARGS() - first;

	params->nparams = 0;
	params->types = NULL;
	params->values = NULL;
	params->nulls = NULL;

	if (nargs <= 0)
		return;

	if (get_fn_expr_variadic(fcinfo->flinfo))
	{
		Oid			arrtype = get_fn_expr_argtype(fcinfo->flinfo, first);
		Oid			elemtype;
		ArrayType  *arr;
		int16		typlen;
		bool		typbyval;
		char		typalign;
		int			n;

		Assert(nargs == 1);
		if (PG_ARGISNULL(first))
			return;				/* VARIADIC NULL: no parameters */
		if (!OidIsValid(arrtype) ||
			!OidIsValid(elemtype = get_element_type(arrtype)))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("VARIADIC argument must be an array")));

		arr = PG_GETARG_ARRAYTYPE_P(first);
		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
						  &params->values, &params->nulls, &n);
		params->nparams = n;
		params->types = palloc(sizeof(Oid) * Max(n, 1));
		/* VARIADIC $1 of cache_untyped[]: untyped values too */
		if (untyped_is_type(elemtype, fcinfo->flinfo->fn_oid))
			elemtype = UNKNOWNOID;
		for (int i = 0; i < n; i++)
			params->types[i] = elemtype;
		return;
	}

	params->nparams = nargs;
	params->types = palloc(sizeof(Oid) * nargs);
	params->values = palloc(sizeof(Datum) * nargs);
	params->nulls = palloc(sizeof(bool) * nargs);
	for (int i = 0; i < nargs; i++)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, first + i);

		if (!OidIsValid(type))
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine the data type of parameter $%d",
							i + 1)));
		params->nulls[i] = PG_ARGISNULL(first + i);
		params->values[i] = params->nulls[i] ? (Datum) 0 :
			PG_GETARG_DATUM(first + i);
		if (type == UNKNOWNOID)
		{
			/* an untyped literal arrives as a C string */
			if (!params->nulls[i])
				params->values[i] =
					CStringGetTextDatum(DatumGetCString(params->values[i]));
		}
		else if (untyped_is_type(type, fcinfo->flinfo->fn_oid))
		{
			/* a parameter sent without a type arrives as text */
			type = UNKNOWNOID;
		}
		params->types[i] = type;
	}
}

/* ----------------------------------------------------------------
 * Read-only check
 * ----------------------------------------------------------------
 */

typedef struct ReadOnlyViolation
{
	const char *what;
} ReadOnlyViolation;

/*
 * Walk a query and everything nested in it (subqueries in FROM, sublinks,
 * CTEs) looking for anything that is not a plain read.
 */
static bool
read_only_walker(Node *node, ReadOnlyViolation *violation)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;

		if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		{
			violation->what = "a data-modifying statement";
			return true;
		}
		if (query->hasModifyingCTE)
		{
			violation->what = "a data-modifying WITH clause";
			return true;
		}
		if (query->rowMarks != NIL)
		{
			violation->what = "a row-locking clause (FOR UPDATE/SHARE)";
			return true;
		}
		return query_tree_walker(query, read_only_walker, violation, 0);
	}
	return expression_tree_walker(node, read_only_walker, violation);
}

/*
 * Refuse anything but exactly one read-only query, before it runs.
 */
static CachedPlanSource *
check_read_only(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *source;
	ListCell   *lc;
	ReadOnlyViolation violation = {NULL};

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cache_aside_query needs exactly one query"),
				 errdetail("The SQL text contains %d statements.",
						   list_length(sources))));

	source = (CachedPlanSource *) linitial(sources);

	if (source->commandTag != CMDTAG_SELECT ||
		list_length(source->query_list) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cache_aside_query only runs read-only queries"),
				 errdetail("The statement is %s.",
						   GetCommandTagName(source->commandTag)),
				 errhint("Use SELECT, VALUES, TABLE or WITH ... SELECT.")));

	foreach(lc, source->query_list)
	{
		if (read_only_walker(lfirst(lc), &violation))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cache_aside_query only runs read-only queries"),
					 errdetail("The query contains %s.", violation.what)));
	}
	return source;
}

/* ----------------------------------------------------------------
 * JSON rendering
 * ----------------------------------------------------------------
 */

static void
json_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	JsonReceiver *receiver = (JsonReceiver *) self;
	MemoryContext oldcxt;

	oldcxt = MemoryContextSwitchTo(receiver->callercxt);
	receiver->tupdesc = CreateTupleDescCopy(typeinfo);
	BlessTupleDesc(receiver->tupdesc);
	MemoryContextSwitchTo(oldcxt);
}

static bool
json_receive(TupleTableSlot *slot, DestReceiver *self)
{
	JsonReceiver *receiver = (JsonReceiver *) self;
	MemoryContext oldcxt;
	HeapTuple	tuple;
	Datum		json;

	oldcxt = MemoryContextSwitchTo(receiver->rowcxt);

	slot_getallattrs(slot);
	tuple = heap_form_tuple(receiver->tupdesc, slot->tts_values,
							slot->tts_isnull);
	json = DirectFunctionCall1(row_to_json, HeapTupleGetDatum(tuple));

	/* json_agg separates composite values with ", \n " */
	if (receiver->nrows > 0)
		appendBinaryStringInfo(receiver->buf, ", \n ", 4);
	appendBinaryStringInfo(receiver->buf,
						   VARDATA_ANY(DatumGetPointer(json)),
						   VARSIZE_ANY_EXHDR(DatumGetPointer(json)));

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(receiver->rowcxt);
	receiver->nrows++;
	return true;
}

static void
json_shutdown(DestReceiver *self)
{
}

static void
json_destroy(DestReceiver *self)
{
}

/* ----------------------------------------------------------------
 * Running
 * ----------------------------------------------------------------
 */


/*
 * Run a plan with transaction_read_only on.  Up to 15 the caller sets it
 * as a saved GUC value (GUC_ACTION_SAVE); 16 and later refuse that for
 * transaction_read_only (GUC_NO_RESET), so the variable behind it is set
 * here and put back on every path, errors included.  Setting it on needs
 * no check: any transaction may become read-only, and the setting's check
 * refuses to turn it off again once the query has a snapshot.
 */
static int
execute_read_only(SPIPlanPtr plan, const SPIExecuteOptions *options)
{
#if PG_VERSION_NUM >= 160000
	bool		saved_read_only = XactReadOnly;
	volatile int rc = 0;

	XactReadOnly = true;
	PG_TRY();
	{
		rc = SPI_execute_plan_extended(plan, options);
	}
	PG_FINALLY();
	{
		XactReadOnly = saved_read_only;
	}
	PG_END_TRY();
	return rc;
#else
	return SPI_execute_plan_extended(plan, options);
#endif
}

/*
 * Error context of a parameter's conversion: the statement it is bound to,
 * as SPI names it for errors of the statement's execution.
 */
static void
query_param_error_callback(void *arg)
{
	errcontext("SQL statement \"%s\"", (const char *) arg);
}

/*
 * Prepare sql for params.  When some parameters are untyped (UNKNOWNOID,
 * their values text), their types are inferred from the SQL as PostgreSQL
 * infers the types of parameters sent without one (untyped.c), and their
 * values converted with the input functions of those types; a parameter
 * nothing gives a type stays unknown (a C string).  *types and *values are
 * what to bind, in the current memory context.
 */
static SPIPlanPtr
query_prepare(const char *sql, const QueryParams *params, int cursor_options,
			  Oid **types, Datum **values)
{
	UntypedInference *inference;
	SPIPrepareOptions options;
	SPIPlanPtr	plan;
	ErrorContextCallback errcallback;
	bool		untyped = false;
	ListCell   *lc;

	for (int i = 0; i < params->nparams && !untyped; i++)
		untyped = params->types[i] == UNKNOWNOID;
	if (!untyped)
	{
		plan = SPI_prepare_cursor(sql, params->nparams, params->types,
								  cursor_options);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		*types = params->types;
		*values = params->values;
		return plan;
	}

	/* the plan keeps the inference for its re-analysis, if any */
	inference = palloc(sizeof(UntypedInference));
	inference->ntypes = params->nparams;
	inference->types = palloc(sizeof(Oid) * params->nparams);
	memcpy(inference->types, params->types, sizeof(Oid) * params->nparams);

	memset(&options, 0, sizeof(options));
	options.parserSetup = untyped_parser_setup;
	options.parserSetupArg = inference;
	options.parseMode = RAW_PARSE_DEFAULT;
	options.cursorOptions = cursor_options;
	plan = SPI_prepare_extended(sql, &options);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	foreach(lc, SPI_plan_get_plan_sources(plan))
		untyped_check_resolution(((CachedPlanSource *) lfirst(lc))->query_list,
								 inference);

	*types = inference->types;
	*values = palloc(sizeof(Datum) * params->nparams);
	errcallback.callback = query_param_error_callback;
	errcallback.arg = (void *) sql;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	for (int i = 0; i < params->nparams; i++)
	{
		Oid			type = inference->types[i];
		Oid			infunc;
		Oid			ioparam;
		char	   *value;

		(*values)[i] = params->values[i];
		if (params->types[i] != UNKNOWNOID || params->nulls[i])
			continue;
		value = TextDatumGetCString(params->values[i]);
		if (type == UNKNOWNOID)
		{
			(*values)[i] = CStringGetDatum(value);
			continue;
		}
		getTypeInputInfo(type, &infunc, &ioparam);
		(*values)[i] = OidInputFunctionCall(infunc, value, ioparam, -1);
	}
	error_context_stack = errcallback.previous;
	return plan;
}

/*
 * Run sql with params and render its rows as a JSON array into result,
 * allocated in the current memory context.  Errors of the query (syntax,
 * missing relations, permissions) are PostgreSQL's own.  allow_parallel
 * lets the query use parallel workers, whose executors the caller's hooks
 * do not see; without it, no worker is started while the query runs, also
 * for the queries of functions it calls and for plans they cached before
 * (a Gather without workers runs its plan in this process).
 */
void
query_run_json(const char *sql, const QueryParams *params,
			   bool allow_parallel, QueryResult *result)
{
	MemoryContext callercxt = CurrentMemoryContext;
	SPIPlanPtr	plan;
	CachedPlanSource *source;
	ParamListInfo paramlist = NULL;
	Oid		   *types;
	Datum	   *values;
	SPIExecuteOptions options;
	JsonReceiver receiver;
	StringInfo	buf;
	int			nestlevel;
	int			rc;
	int			i;
	ListCell   *lc;

	buf = makeStringInfo();
	appendStringInfoSpaces(buf, VARHDRSZ);	/* room for the varlena header */
	appendStringInfoChar(buf, '[');

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));

	plan = query_prepare(sql, params,
						 allow_parallel ? CURSOR_OPT_PARALLEL_OK : 0,
						 &types, &values);
	source = check_read_only(plan);

	result->nrelations = list_length(source->relationOids);
	result->relations = MemoryContextAlloc(callercxt,
										   sizeof(Oid) * Max(result->nrelations, 1));
	i = 0;
	foreach(lc, source->relationOids)
		result->relations[i++] = lfirst_oid(lc);

	if (params->nparams > 0)
	{
		paramlist = makeParamList(params->nparams);
		for (i = 0; i < params->nparams; i++)
		{
			ParamExternData *prm = &paramlist->params[i];

			prm->value = values[i];
			prm->isnull = params->nulls[i];
			prm->pflags = PARAM_FLAG_CONST;
			prm->ptype = types[i];
		}
	}

	memset(&receiver, 0, sizeof(receiver));
	receiver.pub.receiveSlot = json_receive;
	receiver.pub.rStartup = json_startup;
	receiver.pub.rShutdown = json_shutdown;
	receiver.pub.rDestroy = json_destroy;
	receiver.pub.mydest = DestNone;
	receiver.buf = buf;
	receiver.callercxt = callercxt;
	receiver.rowcxt = AllocSetContextCreate(CurrentMemoryContext,
											"cacheaside row",
											ALLOCSET_DEFAULT_SIZES);

	memset(&options, 0, sizeof(options));
	options.params = paramlist;
	options.read_only = false;
	options.dest = (DestReceiver *) &receiver;

	/*
	 * Nothing the query calls may write: force transaction_read_only for
	 * its duration.  An error unwinds the setting with the (sub)transaction.
	 * (16 and later refuse to save it this way: execute_read_only sets it.)
	 */
	nestlevel = NewGUCNestLevel();
#if PG_VERSION_NUM < 160000
	(void) set_config_option("transaction_read_only", "on",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
#endif
	if (!allow_parallel)
	{
		(void) set_config_option("max_parallel_workers_per_gather", "0",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("max_parallel_workers", "0",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}

	rc = execute_read_only(plan, &options);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan_extended failed: %s",
			 SPI_result_code_string(rc));

	AtEOXact_GUC(true, nestlevel);

	MemoryContextDelete(receiver.rowcxt);
	SPI_finish();

	appendStringInfoChar(buf, ']');
	SET_VARSIZE(buf->data, buf->len);
	result->json = (text *) buf->data;
}
