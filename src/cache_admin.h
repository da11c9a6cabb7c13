/*-------------------------------------------------------------------------
 *
 * cache_admin.h
 *	  cache_invalidate(), the TTL functions and cache_dependencies(): what
 *	  the transaction callback calls.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_CACHE_ADMIN_H
#define CACHEASIDE_CACHE_ADMIN_H

extern void cache_admin_pre_prepare(void);
extern void cache_admin_commit(void);
extern void cache_admin_forget(void);

#endif							/* CACHEASIDE_CACHE_ADMIN_H */
