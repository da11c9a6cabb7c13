/*-------------------------------------------------------------------------
 *
 * privs.h
 *	  Privilege checks: encoded from what a query passes, made again on hits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_PRIVS_H
#define CACHEASIDE_PRIVS_H

#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "nodes/plannodes.h"

#include "reason.h"

extern void privs_init(void);
extern bool privs_encode_plan(PlannedStmt *plan, StringInfo out);
extern bool privs_encode_object(uint32 kind, Oid object, StringInfo out);
extern List *privs_query_functions(Query *parse);
extern bool privs_append_unique(StringInfo checks, const char *rec, int len);
extern const char *privs_check(const char *checks, size_t len,
								CacheReason *reason);

#endif							/* CACHEASIDE_PRIVS_H */
