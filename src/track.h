/*-------------------------------------------------------------------------
 *
 * track.h
 *	  Automatic invalidation: which committed writes an entry has missed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_TRACK_H
#define CACHEASIDE_TRACK_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"

/* How far writes are tracked in this session */
typedef enum TrackMode
{
	TRACK_ON,					/* preloaded: hits are checked against commits */
	TRACK_TTL_ONLY,				/* cacheaside.auto_invalidate is off */
	TRACK_UNAVAILABLE			/* not preloaded, or in recovery */
} TrackMode;

/* What track_check() found */
typedef enum TrackVerdict
{
	TRACK_VALID,				/* nothing the entry read changed since */
	TRACK_CHANGED,				/* a commit wrote what the entry read, or is
								 * committing now, or the cluster restarted */
	TRACK_WRITTEN,				/* this transaction wrote what the entry read */
	TRACK_SNAPSHOT				/* this transaction's snapshot may not see
								 * every commit the entry saw */
} TrackVerdict;

/* A growing array of OIDs */
typedef struct OidArray
{
	Oid		   *oids;
	int			n;
	int			max;
} OidArray;

/* The relations read by a query while it runs (see track_fill_begin) */
typedef struct TrackFill
{
	struct TrackFill *parent;
	MemoryContext cxt;			/* where relids grows */
	OidArray	relids;
	StringInfoData checks;		/* privilege checks passed (privs.c); data
								 * is NULL until the first */
	Oid			role;			/* the current role when it began */
	List	   *started;		/* QueryDescs started during it, not ended */
	const char *unstorable;		/* why its result must not be stored, or
								 * NULL */
	bool		unchecked;		/* it used an entry not checked against
								 * commits: its result must not be stored */
} TrackFill;

extern void track_init(void);
extern TrackMode track_mode(void);
extern bool track_writes_tracked(void);
extern uint64 track_epoch(void);
extern uint64 track_as_of(void);
extern TrackVerdict track_check(const Oid *relids, int nrelids,
								uint64 epoch, uint64 as_of);
extern bool track_relation_changed(Oid relid, uint64 epoch, uint64 as_of);
extern bool track_written_by_me(const Oid *relids, int nrelids);
extern bool track_relation_locked_by_me(Oid relid, LOCKMODE weakest);

extern void track_fill_begin(TrackFill *fill);
extern void track_fill_end(TrackFill *fill);
extern void track_fill_add(const Oid *relids, int nrelids);
extern void track_fill_include(TrackFill *fill, const Oid *relids,
							   int nrelids);
extern void track_fill_add_check(const char *rec, int len);
extern void track_fill_add_checks(const char *checks, size_t len);
extern void track_fill_unchecked(void);
extern void track_fill_unstorable(const char *why);
extern bool track_fill_active(void);

#endif							/* CACHEASIDE_TRACK_H */
