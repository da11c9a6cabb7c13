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

extern void privs_init(void);
extern void privs_record_rtable(List *rtable);
extern bool privs_append_unique(StringInfo checks, const char *rec, int len);
extern const char *privs_check(const char *checks, size_t len);

#endif							/* CACHEASIDE_PRIVS_H */
