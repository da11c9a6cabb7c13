/* cacheaside--1.0--1.1.sql: automatic invalidation */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cacheaside UPDATE TO '1.1'" to load this file. \quit

CREATE FUNCTION cache_dependencies(key text)
RETURNS TABLE (relation regclass, changed boolean)
AS 'MODULE_PATHNAME', 'cache_dependencies'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_dependencies(text) IS
'relations the query of the cache entry under key read, and whether a commit has written each since the entry was made';

REVOKE EXECUTE ON FUNCTION cache_dependencies(text) FROM PUBLIC;
