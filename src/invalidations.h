/*-------------------------------------------------------------------------
 *
 * invalidations.h
 *	  This backend's cache_invalidate calls, recorded in shared memory so
 *	  that a concurrent refill cannot undo them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_INVALIDATIONS_H
#define CACHEASIDE_INVALIDATIONS_H

extern bool invalidations_tracked(void);
extern void invalidations_note(const char *name, size_t len, bool pattern,
							   bool at_commit);
extern void invalidations_pre_commit(void);
extern void invalidations_commit(void);
extern void invalidations_forget(void);

#endif							/* CACHEASIDE_INVALIDATIONS_H */
