/* cacheaside--1.1--1.2.sql: statistics and status */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION cacheaside UPDATE TO '1.2'" to load this file. \quit

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
    OUT bytes_written bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cache_stats'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION cache_stats() IS
'calls of cache_aside_query per database, role and SQL text: hits, misses, stores, and why entries were not served or results not stored';

CREATE VIEW cache_stats AS SELECT * FROM cache_stats();

-- like pg_stat_statements: anyone may look; the SQL text of other roles'
-- rows needs the privileges of pg_read_all_stats
GRANT SELECT ON cache_stats TO PUBLIC;

CREATE FUNCTION cache_stats_reset() RETURNS void
AS 'MODULE_PATHNAME', 'cache_stats_reset'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION cache_stats_reset() IS
'forget every row of cache_stats';

REVOKE EXECUTE ON FUNCTION cache_stats_reset() FROM PUBLIC;

CREATE FUNCTION cache_status(
    OUT preloaded boolean,
    OUT connection text,
    OUT retry_at timestamptz,
    OUT redis_version text,
    OUT statistics boolean,
    OUT fills_in_progress integer,
    OUT epoch numeric,
    OUT commit_sequence numeric)
RETURNS record
AS 'MODULE_PATHNAME', 'cache_status'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION cache_status() IS
'whether cacheaside is preloaded, this backend''s connection to Redis and back-off, the Redis version, the commit ledger''s epoch';

REVOKE EXECUTE ON FUNCTION cache_status() FROM PUBLIC;
