/*-------------------------------------------------------------------------
 *
 * store.h
 *	  The entry store: where entries are kept, under which names, and what
 *	  happens when that place cannot be used.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_STORE_H
#define CACHEASIDE_STORE_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#include "entry.h"
#include "reason.h"

/* What a store operation does when the store cannot be used */
typedef enum StoreFailMode
{
	STORE_FAIL_OPEN,			/* WARNING once per outage, back off, carry
								 * on as if there were no entry */
	STORE_FAIL_ERROR			/* ERROR with SQLSTATE 08006 */
} StoreFailMode;

/* What store_read found */
typedef enum StoreReadResult
{
	STORE_FOUND,				/* a well-formed entry */
	STORE_ABSENT,				/* none, or a value that is not an entry */
	STORE_UNAVAILABLE			/* the store could not be used (fail open) */
} StoreReadResult;

/* The name of one entry in the store, made once per call */
typedef struct StoreKey
{
	StringInfoData name;		/* the Redis key: for messages too */
} StoreKey;

extern void store_key_init(StoreKey *key, const char *caller_key, size_t len);
extern bool store_backing_off(void);
extern TimestampTz store_retry_at(void);
extern char *store_server_version(void);
extern StoreReadResult store_read(const StoreKey *key, StoreFailMode mode,
								  CacheEntry *entry, size_t *bytes,
								  bool *local);
extern CacheReason store_write(const StoreKey *key, const CacheEntry *entry,
							   int ttl, size_t *bytes);
extern int64 store_remove_matching(const char *match, size_t len);
extern int64 store_remove_keys(List *names);
extern bool store_get_ttl(const StoreKey *key, int32 *ttl);
extern bool store_set_ttl(const StoreKey *key, int32 ttl);

#endif							/* CACHEASIDE_STORE_H */
