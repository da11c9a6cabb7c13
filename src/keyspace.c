/*-------------------------------------------------------------------------
 *
 * keyspace.c
 *	  Names of the Redis keys cacheaside writes.
 *
 * Every key starts with a namespace: cacheaside.key_prefix, the OID of the
 * current database, and a letter saying what kind of key follows:
 *
 *	  <key_prefix><database oid>:e:<caller's key>	a cache entry
 *
 * Later kinds of auxiliary keys get other letters, so a pattern given to
 * cache_invalidate, which is matched only after "...:e:", can reach cache
 * entries of the current database and nothing else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "config.h"
#include "keyspace.h"

/*
 * Append s to buf with every character that is special in a Redis glob
 * pattern escaped by a backslash, so that it matches only itself.
 */
static void
append_glob_literal(StringInfo buf, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == ']' ||
			s[i] == '\\' || s[i] == '^' || s[i] == '-')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, s[i]);
	}
}

static void
append_entry_namespace(StringInfo buf, bool as_pattern)
{
	char		ns[32];
	int			nslen;

	/* "<database OID>:e:", written out without snprintf (every call) */
	nslen = pg_ultoa_n((uint32) MyDatabaseId, ns);
	memcpy(ns + nslen, ":e:", 3);
	nslen += 3;
	if (as_pattern)
	{
		append_glob_literal(buf, cacheaside_key_prefix,
							strlen(cacheaside_key_prefix));
		append_glob_literal(buf, ns, nslen);
	}
	else
	{
		appendStringInfoString(buf, cacheaside_key_prefix);
		appendBinaryStringInfo(buf, ns, nslen);
	}
}

/*
 * The namespace of entry keys, "<key_prefix><database OID>:e:", made again
 * only after a connection setting (which key_prefix is) was assigned.
 */
const char *
keyspace_entry_namespace(int *len)
{
	static StringInfoData ns;
	static uint64 generation = 0;

	if (generation != cacheaside_target_generation || ns.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		if (ns.data == NULL)
			initStringInfo(&ns);
		resetStringInfo(&ns);
		append_entry_namespace(&ns, false);
		MemoryContextSwitchTo(oldcxt);
		generation = cacheaside_target_generation;
	}
	*len = ns.len;
	return ns.data;
}

/*
 * The Redis key of the entry stored under the caller's key.
 */
void
keyspace_entry_key(StringInfo buf, const char *key, size_t len)
{
	int			nslen;
	const char *ns = keyspace_entry_namespace(&nslen);

	appendBinaryStringInfo(buf, ns, nslen);
	appendBinaryStringInfo(buf, key, len);
}

/*
 * A Redis MATCH pattern for the entries whose caller's keys match the
 * caller's glob pattern: the namespace, taken literally, then the pattern
 * as given.
 */
void
keyspace_entry_pattern(StringInfo buf, const char *pattern, size_t len)
{
	append_entry_namespace(buf, true);
	appendBinaryStringInfo(buf, pattern, len);
}
