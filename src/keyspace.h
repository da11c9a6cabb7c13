/*-------------------------------------------------------------------------
 *
 * keyspace.h
 *	  Names of the Redis keys cacheaside writes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CACHEASIDE_KEYSPACE_H
#define CACHEASIDE_KEYSPACE_H

#include "lib/stringinfo.h"

extern const char *keyspace_entry_namespace(int *len);
extern void keyspace_entry_key(StringInfo buf, const char *key, size_t len);
extern void keyspace_entry_pattern(StringInfo buf, const char *pattern,
								   size_t len);

#endif							/* CACHEASIDE_KEYSPACE_H */
