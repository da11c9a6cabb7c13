/*-------------------------------------------------------------------------
 *
 * untyped.h
 *	  Parameters sent without a type: the cache_untyped type, given to them
 *	  at parse analysis, and the inference of their types from the cached
 *	  SQL.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_UNTYPED_H
#define CACHEASIDE_UNTYPED_H

#include "nodes/params.h"
#include "parser/parse_node.h"

/* The name of the extension's type for untyped parameters */
#define UNTYPED_TYPE_NAME "cache_untyped"

/* What inferring the types of parameters needs (untyped_parser_setup) */
typedef struct UntypedInference
{
	Oid		   *types;			/* given types, UNKNOWNOID where untyped */
	int			ntypes;
} UntypedInference;

extern void untyped_post_parse_analyze(ParseState *pstate, Query *query);
extern bool untyped_is_type(Oid type, Oid funcid);
extern void untyped_parser_setup(ParseState *pstate, void *arg);
extern void untyped_check_resolution(List *queries,
									 const UntypedInference *inference);

#endif							/* CACHEASIDE_UNTYPED_H */
