/*-------------------------------------------------------------------------
 *
 * reason.h
 *	  Why an entry was not served, or a result not stored: the kinds that
 *	  cache_stats counts apart.
 *
 * The functions that decide (validity.c, fill.c, privs.c, store.c) also
 * give a sentence for DEBUG1 messages; this is the kind it belongs to.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_REASON_H
#define CACHEASIDE_REASON_H

typedef enum CacheReason
{
	REASON_NONE = 0,
	REASON_CHANGED,				/* a commit wrote what it read (or is writing
								 * it now), or the server restarted */
	REASON_OWN_WRITES,			/* this transaction wrote what it read */
	REASON_SNAPSHOT,			/* this transaction's snapshot does not match
								 * (REPEATABLE READ, SERIALIZABLE) */
	REASON_PRIVILEGES,			/* a privilege check fails, or an object it
								 * used is gone or changed */
	REASON_ROW_SECURITY,		/* row-level security applies */
	REASON_TOO_LARGE,			/* over cacheaside.max_value_bytes */
	REASON_UNCACHEABLE,			/* what it read or did cannot be cached:
								 * temporary, foreign or system tables,
								 * sequences, cursors, set_config, large
								 * objects, parallel plans, a role switch */
	REASON_UNAVAILABLE,			/* Redis could not be used */
	REASON_DISABLED				/* cacheaside.enabled is off, or
								 * max_value_bytes is 0 */
} CacheReason;

#define REASON_COUNT	(REASON_DISABLED + 1)

#endif							/* CACHEASIDE_REASON_H */
