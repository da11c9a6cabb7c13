/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Statistics of cache_aside_query calls in shared memory: what
 *	  cache_stats shows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_STATS_H
#define CACHEASIDE_STATS_H

#include "reason.h"

/* What one call of cache_aside_query did */
typedef struct CallStats
{
	bool		hit;			/* served from the cache */
	bool		local_hit;		/* served from the near-cache */
	CacheReason not_served;		/* an entry of the call was found and not
								 * served, and why; REASON_NONE: no entry */
	CacheReason not_stored;		/* a miss that was not stored, and why */
	bool		waited;			/* waited for another session's fill */
	double		wait_ms;
	bool		early_refresh;	/* refreshed an entry before it expired */
	uint64		bytes_read;		/* from Redis */
	uint64		bytes_written;	/* to Redis */
} CallStats;

extern Size stats_shmem_size(void);
extern void stats_shmem_request(void);
extern void stats_shmem_init(void);
extern bool stats_enabled(void);
extern void stats_record(Oid userid, const char *sql, size_t sqllen,
						 const CallStats *call, double elapsed_ms);

#endif							/* CACHEASIDE_STATS_H */
