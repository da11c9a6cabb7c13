/*-------------------------------------------------------------------------
 *
 * cache_query.h
 *	  Reading the entry under a key, shared by cache_aside_query() and
 *	  cache_dependencies().
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_CACHE_QUERY_H
#define CACHEASIDE_CACHE_QUERY_H

#include "lib/stringinfo.h"

#include "entry.h"
#include "redis.h"

extern bool cache_fetch_entry(StringInfo rkey, RedisFailMode mode,
							  CacheEntry *entry, bool *usable);

#endif							/* CACHEASIDE_CACHE_QUERY_H */
