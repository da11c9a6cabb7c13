/*-------------------------------------------------------------------------
 *
 * tracker.h
 *	  The near-cache's tracker: the background worker that keeps the
 *	  near-cache in step with changes made in Redis by others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_TRACKER_H
#define CACHEASIDE_TRACKER_H

extern void tracker_register(void);

#endif							/* CACHEASIDE_TRACKER_H */
