/*-------------------------------------------------------------------------
 *
 * query.h
 *	  Running a read-only query and rendering its rows as JSON.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_QUERY_H
#define CACHEASIDE_QUERY_H

#include "fmgr.h"

/* Values bound to $1..$n */
typedef struct QueryParams
{
	int			nparams;
	Oid		   *types;
	Datum	   *values;
	bool	   *nulls;
} QueryParams;

/* What running a query produced */
typedef struct QueryResult
{
	text	   *json;			/* the JSON array, as a text datum */
	int			nrelations;		/* relations the query depends on */
	Oid		   *relations;
} QueryResult;

extern void query_params_from_args(FunctionCallInfo fcinfo, int first,
								   QueryParams *params);
extern void query_run_json(const char *sql, const QueryParams *params,
						   bool allow_parallel, QueryResult *result);

#endif							/* CACHEASIDE_QUERY_H */
