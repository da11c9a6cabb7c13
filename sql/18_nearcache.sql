--
-- The near-cache: copies of Redis entries in shared memory, served without
-- a round trip to Redis, under exactly the checks of a Redis hit.
--
-- nc_call() makes one call and says what it was, from cache_stats: a miss,
-- a hit served by Redis, or a hit served by the near-cache ("local hit").
-- A Redis hit keeps a copy; a store removes it (the tracker also hears of
-- the SET from Redis), so each warm-up below is: a miss, a Redis hit, a
-- local hit.  Each call first waits until the tracker has applied what
-- Redis told it (test_near_sync()).
--
SELECT test_redis('FLUSHDB');
SELECT test_near_sync() AS synced;

SELECT local_cache, local_cache_entries, local_cache_capacity,
	   local_cache_synced IS NOT NULL AS synced
FROM cache_status();
SHOW cacheaside.local_cache_size;

CREATE FUNCTION nc_call(k text, q text, ttl integer DEFAULT 600) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
	h0 bigint;
	l0 bigint;
	h1 bigint;
	l1 bigint;
	r json;
BEGIN
	-- near copies are served only while the tracker is in step
	PERFORM test_near_sync();
	SELECT coalesce(sum(hits), 0), coalesce(sum(local_hits), 0) INTO h0, l0
	FROM cache_stats WHERE query = q AND userid = me;
	r := cache_aside_query(k, q, ttl);
	SELECT coalesce(sum(hits), 0), coalesce(sum(local_hits), 0) INTO h1, l1
	FROM cache_stats WHERE query = q AND userid = me;
	RETURN CASE WHEN l1 > l0 THEN 'local hit' WHEN h1 > h0 THEN 'redis hit'
		   ELSE 'miss' END || ' ' || r::text;
END
$$;
GRANT EXECUTE ON FUNCTION nc_call(text, text, integer) TO PUBLIC;

-- warm: miss, then a Redis hit that keeps a copy, then local hits (each
-- call waits for the tracker to be in step first: on a busy machine it may
-- lag for a moment, and copies are kept and served only while it is not)
CREATE FUNCTION nc_warm(k text, q text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN NEXT nc_call(k, q);
	RETURN NEXT nc_call(k, q);
	RETURN NEXT nc_call(k, q);
END
$$;
GRANT EXECUTE ON FUNCTION nc_warm(text, text) TO PUBLIC;

CREATE TABLE nc (id int PRIMARY KEY, v text);
INSERT INTO nc VALUES (1, 'one'), (2, 'two');

-- ---------------------------------------------------------------------------
-- the second Redis hit is served from shared memory, and hits count both
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT calls, hits, local_hits, misses, mean_local_hit_time > 0 AS timed
FROM cache_stats WHERE query = 'SELECT id, v FROM nc ORDER BY id';
SELECT local_cache_entries > 0 AS has_entries,
	   local_cache_bytes > 0 AS has_bytes
FROM cache_status();

-- another query under the same key: its fingerprint differs, a miss
SELECT nc_call('nc', 'SELECT v FROM nc ORDER BY id');
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');

-- ---------------------------------------------------------------------------
-- a commit that wrote what the entry read makes the local copy a miss
INSERT INTO nc VALUES (3, 'three');
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT not_served_changed FROM cache_stats
WHERE query = 'SELECT id, v FROM nc ORDER BY id';
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');

-- own writes: a transaction that wrote the table is not served the copy
BEGIN;
UPDATE nc SET v = 'uno' WHERE id = 1;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
ROLLBACK;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');

-- REPEATABLE READ: a copy made before the snapshot is served; once the
-- transaction has written, not
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
DELETE FROM nc WHERE id = 3;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
ROLLBACK;

-- SERIALIZABLE transactions are never served an entry, local or not
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
ROLLBACK;

-- auto_invalidate off: the copy is served after a commit, until its TTL
SET cacheaside.auto_invalidate = off;
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
UPDATE nc SET v = 'dos' WHERE id = 2;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
RESET cacheaside.auto_invalidate;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');

-- ---------------------------------------------------------------------------
-- privileges are checked on a local hit as on a Redis hit, per role
CREATE ROLE regress_nc_reader;
CREATE ROLE regress_nc_other;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer)
	TO regress_nc_reader, regress_nc_other;
GRANT SELECT ON nc TO regress_nc_reader, regress_nc_other;
SET ROLE regress_nc_reader;
SELECT nc_warm('ncr', 'SELECT id, v FROM nc ORDER BY id');
-- another role: the entry is per role, a miss (and its own entry then)
SET ROLE regress_nc_other;
SELECT nc_call('ncr', 'SELECT id, v FROM nc ORDER BY id');
SELECT nc_warm('ncr', 'SELECT id, v FROM nc ORDER BY id');
-- REVOKE: the local copy is not served, the query runs and fails
RESET ROLE;
REVOKE SELECT ON nc FROM regress_nc_other;
SET ROLE regress_nc_other;
SELECT nc_call('ncr', 'SELECT id, v FROM nc ORDER BY id');
-- the GRANT back changes the table's catalog row the entry recorded: a
-- miss, then hits again
RESET ROLE;
GRANT SELECT ON nc TO regress_nc_other;
SET ROLE regress_nc_other;
SELECT nc_call('ncr', 'SELECT id, v FROM nc ORDER BY id');
RESET ROLE;
SELECT not_served_privileges FROM cache_stats
WHERE query = 'SELECT id, v FROM nc ORDER BY id'
  AND userid = 'regress_nc_other'::regrole;

-- row-level security: never stored, so never a local hit
CREATE TABLE nc_rls (id int, owner name);
INSERT INTO nc_rls VALUES (1, 'regress_nc_reader'), (2, 'regress_nc_other');
ALTER TABLE nc_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON nc_rls USING (owner = current_user);
GRANT SELECT ON nc_rls TO regress_nc_reader;
SET ROLE regress_nc_reader;
SELECT nc_warm('ncrls', 'SELECT id FROM nc_rls');
RESET ROLE;

-- ---------------------------------------------------------------------------
-- cache_invalidate removes the local copy before it returns: a key ...
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT cache_invalidate('nc');
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
-- ... and a pattern (matched as Redis matches it)
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT nc_warm('nd', 'SELECT id, v FROM nc ORDER BY id');
SELECT cache_invalidate('n[c]*');
SELECT nc_call('nd', 'SELECT id, v FROM nc ORDER BY id');
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');

-- a DEL in Redis by hand reaches the local copy through the tracker
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT test_redis('DEL', test_rkey('nc'));
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
-- so does a value replaced by hand
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT test_redis('SET', test_rkey('nc'), 'not an entry');
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
-- and FLUSHDB empties the near-cache
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SELECT test_redis('FLUSHDB');
SELECT local_cache_entries FROM cache_status();
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');

-- ---------------------------------------------------------------------------
-- cache_set_ttl: the copy goes, the next Redis hit keeps one with the new
-- expiry, and at the end of the TTL it is gone with the Redis entry
SELECT nc_warm('nt', 'SELECT id, v FROM nc ORDER BY id');
SELECT cache_set_ttl('nt', 1);
SELECT nc_call('nt', 'SELECT id, v FROM nc ORDER BY id');
DO $$
BEGIN
	FOR i IN 1..600 LOOP
		EXIT WHEN cache_get_ttl('nt') IS NULL;
		PERFORM pg_sleep(0.02);
	END LOOP;
	PERFORM test_near_sync();
END
$$;
SELECT nc_call('nt', 'SELECT id, v FROM nc ORDER BY id');

-- an entry over cacheaside.max_value_bytes is not served from either level
SELECT nc_warm('nc', 'SELECT id, v FROM nc ORDER BY id');
SET cacheaside.max_value_bytes = 100;
SELECT nc_call('nc', 'SELECT id, v FROM nc ORDER BY id');
RESET cacheaside.max_value_bytes;

-- a session using another key prefix (or Redis) than the tracker follows
-- does not use the near-cache
SELECT nc_warm('np', 'SELECT id, v FROM nc ORDER BY id');
SET cacheaside.key_prefix = 'cacheaside-other:';
SELECT nc_warm('np', 'SELECT id, v FROM nc ORDER BY id');
SELECT cache_invalidate('*');
RESET cacheaside.key_prefix;

-- the cache turned off in the session: the near-cache is not looked at
SET cacheaside.enabled = off;
SELECT nc_call('np', 'SELECT id, v FROM nc ORDER BY id');
RESET cacheaside.enabled;

-- settings: local_cache_size needs a restart
SET cacheaside.local_cache_size = '1MB';
ALTER SYSTEM SET cacheaside.local_cache_size = 'lots';

SELECT cache_invalidate('*') >= 0 AS cleaned;
DROP TABLE nc, nc_rls;
DROP FUNCTION nc_warm(text, text);
DROP FUNCTION nc_call(text, text, integer);
REVOKE EXECUTE ON FUNCTION cache_aside_query(text, text, integer)
	FROM regress_nc_reader, regress_nc_other;
DROP ROLE regress_nc_reader, regress_nc_other;
