/*-------------------------------------------------------------------------
 *
 * fill.h
 *	  Recording what a query reads while its result is computed to be
 *	  cached, and whether that result may be stored.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_FILL_H
#define CACHEASIDE_FILL_H

#include "catalog/objectaccess.h"
#include "executor/execdesc.h"
#include "nodes/parsenodes.h"

#include "entry.h"
#include "reason.h"

/* A fill in progress: opaque outside fill.c */
typedef struct Fill Fill;

extern Fill *fill_begin(void);
extern void fill_end(Fill *fill);
extern void fill_include(Fill *fill, const Oid *relids, int nrelids);
extern bool fill_active(void);
extern void fill_add_hit(const CacheEntry *entry, bool checked);
extern const char *fill_unstorable(Fill *fill, bool tracked, uint64 as_of,
								   CacheReason *reason);
extern void fill_describe(const Fill *fill, CacheEntry *entry);
extern void fill_reset(void);

/* What the hooks of cacheaside.c hand over */
extern void fill_executor_start(QueryDesc *queryDesc);
extern void fill_executor_run(QueryDesc *queryDesc);
extern void fill_executor_end(QueryDesc *queryDesc);
extern void fill_planner(Query *parse);
extern void fill_object_access(ObjectAccessType access, Oid objectId,
							   void *arg);

#endif							/* CACHEASIDE_FILL_H */
