/* cacheaside--1.2--1.3.sql: objects added in 1.3 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cacheaside UPDATE TO '1.3'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- Drivers without casts (untyped.c): the type PostgreSQL gives parameters a
-- driver sent without a type when they are bound to cache_aside_query's
-- VARIADIC "any".  Text-like: text's I/O functions, in text and binary
-- formats.  cache_aside_query infers the type the cached SQL gives them.
-- ---------------------------------------------------------------------------

CREATE TYPE cache_untyped;

CREATE FUNCTION cache_untyped_in(cstring) RETURNS cache_untyped
AS 'textin' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_out(cache_untyped) RETURNS cstring
AS 'textout' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_recv(internal) RETURNS cache_untyped
AS 'textrecv' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION cache_untyped_send(cache_untyped) RETURNS bytea
AS 'textsend' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE cache_untyped (
	INPUT = cache_untyped_in,
	OUTPUT = cache_untyped_out,
	RECEIVE = cache_untyped_recv,
	SEND = cache_untyped_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended,
	CATEGORY = 'X'
);

COMMENT ON TYPE cache_untyped IS
'a parameter sent without a type to cache_aside_query: its text, given the type the cached SQL gives that parameter';

-- ---------------------------------------------------------------------------
-- Near-cache (issue 12): cache_stats and cache_status gain columns, appended
-- after those of 1.2 (the C functions answer either definition).
-- ---------------------------------------------------------------------------

DROP VIEW cache_stats;
DROP FUNCTION cache_stats();

CREATE FUNCTION cache_stats(
    OUT userid oid,
    OUT dbid oid,
    OUT query text,
    OUT calls bigint,
    OUT hits bigint,
    OUT misses bigint,
    OUT stores bigint,
    OUT not_served_changed bigint,
    OUT not_served_own_writes bigint,
    OUT not_served_snapshot bigint,
    OUT not_served_privileges bigint,
    OUT not_served_row_security bigint,
    OUT not_stored_changed bigint,
    OUT not_stored_own_writes bigint,
    OUT not_stored_snapshot bigint,
    OUT not_stored_privileges bigint,
    OUT not_stored_row_security bigint,
    OUT not_stored_too_large bigint,
    OUT not_stored_uncacheable bigint,
    OUT not_stored_unavailable bigint,
    OUT not_stored_disabled bigint,
    OUT waits bigint,
    OUT wait_time double precision,
    OUT early_refreshes bigint,
    OUT total_hit_time double precision,
    OUT mean_hit_time double precision,
    OUT total_miss_time double precision,
    OUT mean_miss_time double precision,
    OUT bytes_read bigint,
    OUT bytes_written bigint,
    OUT local_hits bigint,
    OUT mean_local_hit_time double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_stats'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION cache_stats() IS
'calls of cache_aside_query per database, role and SQL text: hits (local_hits of them from the near-cache), misses, stores, and why entries were not served or results not stored';

CREATE VIEW cache_stats AS SELECT * FROM cache_stats();

GRANT SELECT ON cache_stats TO PUBLIC;

DROP FUNCTION cache_status();

CREATE FUNCTION cache_status(
    OUT preloaded boolean,
    OUT connection text,
    OUT retry_at timestamptz,
    OUT redis_version text,
    OUT statistics boolean,
    OUT fills_in_progress integer,
    OUT epoch numeric,
    OUT commit_sequence numeric,
    OUT local_cache boolean,
    OUT local_cache_entries bigint,
    OUT local_cache_bytes bigint,
    OUT local_cache_capacity bigint,
    OUT local_cache_synced timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'cache_status'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_status() IS
'whether cacheaside is preloaded, this backend''s connection to Redis and back-off, the Redis version, the commit ledger''s epoch, the near-cache';

REVOKE EXECUTE ON FUNCTION cache_status() FROM PUBLIC;
