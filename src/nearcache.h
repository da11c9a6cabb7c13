/*-------------------------------------------------------------------------
 *
 * nearcache.h
 *	  The near-cache: copies of Redis values in PostgreSQL's shared memory,
 *	  consulted before Redis.
 *
 * The near-cache knows nothing of entries: it keeps the exact bytes of
 * Redis values under their Redis key names, with an expiry, and forgets
 * them when told (store.c) or when Redis says they changed (tracker.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_NEARCACHE_H
#define CACHEASIDE_NEARCACHE_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

/* How long after the tracker's last sync near hits may still be served */
#define NEARCACHE_SYNC_BOUND_MS		2000

/* What cache_status shows of the near-cache */
typedef struct NearCacheStatus
{
	bool		on;				/* shared memory made, size above 0 */
	int64		entries;
	int64		bytes;			/* of keys and values held */
	int64		capacity;		/* bytes of chunks in all */
	TimestampTz synced;			/* last sync of the tracker, or 0 */
} NearCacheStatus;

/* Shared memory (from the hooks of cacheaside.c) */
extern Size nearcache_shmem_size(void);
extern void nearcache_shmem_request(void);
extern void nearcache_shmem_init(void);

/* Backends */
extern bool nearcache_usable(void);
extern uint64 nearcache_generation(const char *key, size_t keylen);
extern char *nearcache_get(const char *key, size_t keylen, size_t *len);
extern void nearcache_put(const char *key, size_t keylen, const char *value,
						  size_t len, TimestampTz expires, uint64 generation);
extern void nearcache_remove(const char *key, size_t keylen);
extern void nearcache_remove_matching(const char *pattern, size_t len);
extern void nearcache_flush(void);
extern void nearcache_status(NearCacheStatus *status);

/* The tracker (tracker.c) */
extern bool nearcache_enabled(void);
extern uint64 nearcache_target_hash(void);
extern void nearcache_set_synced(TimestampTz synced, uint64 target);
extern bool nearcache_glob_match(const char *pattern, size_t plen,
								 const char *str, size_t slen);

#endif							/* CACHEASIDE_NEARCACHE_H */
