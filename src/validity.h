/*-------------------------------------------------------------------------
 *
 * validity.h
 *	  Whether an entry may be served, or a result stored, in this
 *	  transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_VALIDITY_H
#define CACHEASIDE_VALIDITY_H

#include "entry.h"
#include "reason.h"

/* How far writes are tracked in this session */
typedef enum TrackMode
{
	TRACK_ON,					/* preloaded: hits are checked against commits */
	TRACK_TTL_ONLY,				/* cacheaside.auto_invalidate is off */
	TRACK_UNAVAILABLE			/* not preloaded, or in recovery */
} TrackMode;

extern TrackMode validity_mode(void);
extern bool validity_writes_tracked(void);
extern uint64 validity_epoch(void);
extern uint64 validity_as_of(void);
extern const char *validity_servable(const CacheEntry *entry,
									 const char *key, size_t keylen,
									 TrackMode mode, CacheReason *reason);
extern const char *validity_key_storable(const char *key, size_t keylen,
										 bool tracked, uint64 as_of,
										 CacheReason *reason);
extern const char *validity_storable(const Oid *relids, int nrelids,
									 bool tracked, uint64 as_of,
									 CacheReason *reason);
extern bool validity_relation_changed(Oid relid, uint64 epoch, uint64 as_of);

#endif							/* CACHEASIDE_VALIDITY_H */
