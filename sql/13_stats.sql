--
-- cache_stats: one row per database, role and SQL text, counting every
-- call; cache_stats_reset; cache_status.  Each case below uses an SQL text
-- of its own, so that its row shows what it did.
--
SELECT cache_stats_reset();
SELECT count(*) AS rows FROM cache_stats;

CREATE TABLE st (id int PRIMARY KEY, v text);
INSERT INTO st VALUES (1, 'one'), (2, 'two');

-- the counters of the row of one SQL text, for the current role
CREATE FUNCTION stats_row(sql text)
RETURNS TABLE (calls bigint, hits bigint, misses bigint, stores bigint,
			   not_served text, not_stored text, bytes text)
LANGUAGE sql AS $$
	SELECT calls, hits, misses, stores,
		   concat_ws(',',
			 CASE WHEN not_served_changed > 0 THEN 'changed=' || not_served_changed END,
			 CASE WHEN not_served_own_writes > 0 THEN 'own_writes=' || not_served_own_writes END,
			 CASE WHEN not_served_snapshot > 0 THEN 'snapshot=' || not_served_snapshot END,
			 CASE WHEN not_served_privileges > 0 THEN 'privileges=' || not_served_privileges END,
			 CASE WHEN not_served_row_security > 0 THEN 'row_security=' || not_served_row_security END),
		   concat_ws(',',
			 CASE WHEN not_stored_changed > 0 THEN 'changed=' || not_stored_changed END,
			 CASE WHEN not_stored_own_writes > 0 THEN 'own_writes=' || not_stored_own_writes END,
			 CASE WHEN not_stored_snapshot > 0 THEN 'snapshot=' || not_stored_snapshot END,
			 CASE WHEN not_stored_privileges > 0 THEN 'privileges=' || not_stored_privileges END,
			 CASE WHEN not_stored_row_security > 0 THEN 'row_security=' || not_stored_row_security END,
			 CASE WHEN not_stored_too_large > 0 THEN 'too_large=' || not_stored_too_large END,
			 CASE WHEN not_stored_uncacheable > 0 THEN 'uncacheable=' || not_stored_uncacheable END,
			 CASE WHEN not_stored_unavailable > 0 THEN 'unavailable=' || not_stored_unavailable END,
			 CASE WHEN not_stored_disabled > 0 THEN 'disabled=' || not_stored_disabled END),
		   concat_ws(',',
			 CASE WHEN bytes_read > 0 THEN 'read' END,
			 CASE WHEN bytes_written > 0 THEN 'written' END)
	FROM cache_stats
	WHERE query = sql AND userid = current_user::regrole
		AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

-- a miss that is stored, then hits
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
SELECT * FROM stats_row('SELECT id, v FROM st ORDER BY id');

-- a commit made the entry stale: not served, computed again and stored
UPDATE st SET v = 'uno' WHERE id = 1;
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
SELECT * FROM stats_row('SELECT id, v FROM st ORDER BY id');

-- this transaction wrote what the entry read: not served, not stored
BEGIN;
UPDATE st SET v = 'one' WHERE id = 1;
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
ROLLBACK;
SELECT * FROM stats_row('SELECT id, v FROM st ORDER BY id');

-- a serializable transaction is never served an entry
SELECT cache_aside_query('st2', 'SELECT count(*) AS n FROM st', 60);
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT cache_aside_query('st2', 'SELECT count(*) AS n FROM st', 60);
COMMIT;
SELECT calls, hits, misses, stores + not_stored_snapshot AS stored_or_not,
	   not_served_snapshot
FROM cache_stats WHERE query = 'SELECT count(*) AS n FROM st';

-- too large to be stored
SET cacheaside.max_value_bytes = 100;
SELECT cache_aside_query('st3', 'SELECT repeat(''x'', 200) AS big', 60);
RESET cacheaside.max_value_bytes;
SELECT * FROM stats_row('SELECT repeat(''x'', 200) AS big');

-- the cache turned off
SET cacheaside.enabled = off;
SELECT cache_aside_query('st4', 'SELECT 4 AS four', 60);
RESET cacheaside.enabled;
SELECT * FROM stats_row('SELECT 4 AS four');

-- what cannot be cached: a temporary table
CREATE TEMP TABLE st_temp (x int);
SELECT cache_aside_query('st5', 'SELECT count(*) AS n FROM st_temp', 60);
SELECT * FROM stats_row('SELECT count(*) AS n FROM st_temp');

-- Redis unreachable: a miss, then the back-off, neither stored
SET cacheaside.retry_interval = '1h';
SET cacheaside.port = 1;
SELECT cache_aside_query('st6', 'SELECT 6 AS six', 60);
SELECT cache_aside_query('st6', 'SELECT 6 AS six', 60);
RESET cacheaside.port;
RESET cacheaside.retry_interval;
SELECT * FROM stats_row('SELECT 6 AS six');

-- row-level security: not stored; each role has its own row, and sees the
-- SQL text of others' rows only with the privileges of pg_read_all_stats
CREATE TABLE st_rls (id int, owner name);
INSERT INTO st_rls VALUES (1, 'regress_stats_role');
ALTER TABLE st_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON st_rls USING (owner = current_user);
CREATE ROLE regress_stats_role;
GRANT SELECT ON st_rls, st TO regress_stats_role;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer) TO regress_stats_role;
SET ROLE regress_stats_role;
SELECT cache_aside_query('st7', 'SELECT id FROM st_rls', 60);
SELECT * FROM stats_row('SELECT id FROM st_rls');
SELECT cache_aside_query('st1', 'SELECT id, v FROM st ORDER BY id', 60);
SELECT * FROM stats_row('SELECT id, v FROM st ORDER BY id');
SELECT count(*) FILTER (WHERE query = '<insufficient privilege>') > 0 AS others_hidden,
	   count(*) FILTER (WHERE userid = current_user::regrole
						AND query <> '<insufficient privilege>') AS own_rows
FROM cache_stats;
SELECT cache_stats_reset();
RESET ROLE;

-- early refresh: in the last quarter of an entry's life, a hit refreshes
-- it with a probability that grows as the expiry nears, with how long its
-- query took and with cacheaside.early_refresh; 0 turns it off.  An entry
-- of 2 s whose query took 50 ms, 1.6 s old: with a factor of 100 each hit
-- refreshes it with a probability above 0.9 (never with 0); 20 hits cannot
-- all miss it by chance
SELECT cache_aside_query('st8', 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept', 2);
SET cacheaside.early_refresh = 0;
SELECT count(*) FROM generate_series(1, 20)
WHERE cache_aside_query('st8', 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept', 2) IS NOT NULL;
SELECT early_refreshes FROM cache_stats WHERE query = 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept';
-- young entries are not refreshed, whatever the factor
SET cacheaside.early_refresh = 100;
SELECT count(*) FROM generate_series(1, 20)
WHERE cache_aside_query('st8', 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept', 2) IS NOT NULL;
SELECT early_refreshes FROM cache_stats WHERE query = 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept';
SELECT pg_sleep(1.6);
SELECT count(*) FROM generate_series(1, 20)
WHERE cache_aside_query('st8', 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept', 2) IS NOT NULL;
RESET cacheaside.early_refresh;
SELECT early_refreshes = 1 AS refreshed_once, misses = 1 + early_refreshes AS counted_as_misses,
	   stores = misses AS stored
FROM cache_stats WHERE query = 'SELECT 8 AS eight, pg_sleep(0.05) IS NULL AS slept';

-- every row adds up: a call is a hit or a miss, a miss is stored or not
-- for exactly one reason; entries not served are misses
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE calls <> hits + misses) AS calls_off,
	   count(*) FILTER (WHERE misses <> stores + not_stored_changed +
						not_stored_own_writes + not_stored_snapshot +
						not_stored_privileges + not_stored_row_security +
						not_stored_too_large + not_stored_uncacheable +
						not_stored_unavailable + not_stored_disabled) AS misses_off,
	   count(*) FILTER (WHERE not_served_changed + not_served_own_writes +
						not_served_snapshot + not_served_privileges +
						not_served_row_security > misses) AS not_served_off,
	   count(*) FILTER (WHERE mean_hit_time < 0 OR mean_miss_time < 0 OR
						(hits > 0 AND total_hit_time <= 0) OR
						(misses > 0 AND total_miss_time <= 0)) AS times_off
FROM cache_stats;
SELECT sum(calls) AS calls FROM cache_stats;

-- cache_status: this backend, the server
SELECT preloaded, connection, retry_at IS NULL AS not_backing_off,
	   redis_version ~ '^[0-9]+\.[0-9]+' AS redis_version, statistics,
	   fills_in_progress, epoch > 0 AS epoch,
	   commit_sequence >= 0 AS commit_sequence
FROM cache_status();

-- the SQL text of a database in another encoding is shown in this one's
SELECT current_database() AS stats_db \gset
CREATE DATABASE cacheaside_regress_latin1 ENCODING 'LATIN1'
	LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c cacheaside_regress_latin1
SET client_min_messages = warning;
SELECT set_config('cacheaside.port', current_setting('cacheaside_test.redis_port'), false) IS NOT NULL AS port_set;
CREATE EXTENSION cacheaside;
SELECT cache_aside_query('latin1', 'SELECT ''caf' || chr(233) || '''::text AS x', 60);
\c :stats_db
SELECT query, convert_to(query, 'UTF8') IS NOT NULL AS valid
FROM cache_stats WHERE query LIKE 'SELECT ''caf%';
DROP DATABASE cacheaside_regress_latin1;

-- a reset forgets every row
SELECT cache_stats_reset();
SELECT count(*) AS rows FROM cache_stats;

DROP OWNED BY regress_stats_role;
DROP ROLE regress_stats_role;
DROP TABLE st, st_rls;
DROP FUNCTION stats_row(text);
