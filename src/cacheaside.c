/*-------------------------------------------------------------------------
 *
 * cacheaside.c
 *	  Module entry point: wires the parts of cacheaside together.
 *
 * The architecture, one responsibility per file:
 *
 *	config.c		the cacheaside.* settings
 *	redis.c			the only file that speaks to Redis (hiredis, non-blocking
 *					I/O waited on with the latch, fail-open policy)
 *	keyspace.c		Redis key names and glob escaping
 *	fingerprint.c	what identifies the computation behind an entry
 *	entry.c			the binary entry format: encode, decode, validate
 *	query.c			read-only check and execution of a query into JSON
 *	track.c			automatic invalidation: commits recorded in shared memory,
 *					what each query read, whether an entry is still valid
 *	cache_query.c	cache_aside_query(): the cache-aside logic
 *	cache_admin.c	cache_invalidate(), cache_get_ttl(), cache_set_ttl()
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "cache_admin.h"
#include "config.h"
#include "privs.h"
#include "track.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	config_define_gucs();
	/*
	 * Transaction callbacks run last registered first: track.c records the
	 * commit before cache_admin.c repeats invalidations in Redis.
	 */
	cache_admin_init();
	track_init();
	privs_init();
}
