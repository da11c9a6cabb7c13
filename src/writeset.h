/*-------------------------------------------------------------------------
 *
 * writeset.h
 *	  What this transaction wrote.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_WRITESET_H
#define CACHEASIDE_WRITESET_H

#include "storage/lockdefs.h"

#include "oidarray.h"

extern bool writeset_relations(OidArray *out);
extern bool writeset_written_by_me(const Oid *relids, int nrelids);
extern bool writeset_locked_by_me(Oid relid, LOCKMODE weakest);
extern void writeset_relcache_callback(Datum arg, Oid relid);

#endif							/* CACHEASIDE_WRITESET_H */
