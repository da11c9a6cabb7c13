/*-------------------------------------------------------------------------
 *
 * privs.h
 *	  Privilege checks recorded while a query is cached, repeated on hits.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_PRIVS_H
#define CACHEASIDE_PRIVS_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

/* What privs_check() found */
typedef enum PrivsVerdict
{
	PRIVS_OK,					/* every check passes, no row security */
	PRIVS_DENIED,				/* a check fails */
	PRIVS_ROW_SECURITY,			/* row-level security applies to a relation */
	PRIVS_GONE					/* an object checked no longer exists, or a
								 * function changed */
} PrivsVerdict;

extern void privs_init(void);
extern void privs_record_rtable(List *rtable);
extern bool privs_append_unique(StringInfo checks, const char *rec, int len);
extern PrivsVerdict privs_check(const char *checks, size_t len);

#endif							/* CACHEASIDE_PRIVS_H */
