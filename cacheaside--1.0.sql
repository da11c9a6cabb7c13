/* cacheaside--1.0.sql: the SQL surface of cacheaside 1.0 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION cacheaside" to load this file. \quit

CREATE FUNCTION cache_aside_query(key text, sql text, ttl integer DEFAULT NULL)
RETURNS json
AS 'MODULE_PATHNAME', 'cache_aside_query'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_aside_query(text, text, integer) IS
'rows of a read-only query as JSON, from Redis when cached, else computed and stored for ttl seconds';

CREATE FUNCTION cache_aside_query(key text, sql text, ttl integer, VARIADIC params "any")
RETURNS json
AS 'MODULE_PATHNAME', 'cache_aside_query_params'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_aside_query(text, text, integer, "any") IS
'rows of a read-only query with parameters $1..$n as JSON, cached in Redis under key';

CREATE FUNCTION cache_invalidate(pattern text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cache_invalidate'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_invalidate(text) IS
'remove the cache entries whose keys match a Redis glob pattern; returns how many were removed';

CREATE FUNCTION cache_get_ttl(key text)
RETURNS integer
AS 'MODULE_PATHNAME', 'cache_get_ttl'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_get_ttl(text) IS
'seconds the cache entry under key has left to live, or NULL when there is none';

CREATE FUNCTION cache_set_ttl(key text, ttl integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'cache_set_ttl'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_set_ttl(text, integer) IS
'give the cache entry under key a new time to live; false when there is no such entry';

/*
 * Every function reaches a Redis shared by the whole database: storing
 * entries, removing any of them, keeping them alive.  Only roles an
 * administrator chose may call them: GRANT EXECUTE to the application's
 * roles (README, "Security").
 */
REVOKE EXECUTE ON FUNCTION cache_aside_query(text, text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cache_aside_query(text, text, integer, "any") FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cache_invalidate(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cache_get_ttl(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION cache_set_ttl(text, integer) FROM PUBLIC;
