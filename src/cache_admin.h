/*-------------------------------------------------------------------------
 *
 * cache_admin.h
 *	  cache_invalidate() and the TTL functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_CACHE_ADMIN_H
#define CACHEASIDE_CACHE_ADMIN_H

extern void cache_admin_init(void);

#endif							/* CACHEASIDE_CACHE_ADMIN_H */
