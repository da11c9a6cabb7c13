-- Calls made in a parallel worker, through a function marked PARALLEL SAFE
-- (cache_aside_query itself is PARALLEL UNSAFE).  The worker sees its
-- leader's uncommitted rows, but neither the locks that tell what the
-- leader wrote nor its catalog changes: the call runs the query without the
-- cache, and counts as not_stored_uncacheable.
-- (force_parallel_mode is named debug_parallel_query from 16 on)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
CREATE TABLE pw_acct (id int PRIMARY KEY, bal int);
INSERT INTO pw_acct VALUES (1, 100);
CREATE FUNCTION pw_bal() RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS
	$$ BEGIN RETURN cache_aside_query('pw-bal', 'SELECT bal FROM pw_acct WHERE id = 1', 600)::text; END $$;
CREATE VIEW pw_stats AS
	SELECT calls, hits, misses, not_stored_uncacheable, not_stored_own_writes
	FROM cache_stats WHERE query = 'SELECT bal FROM pw_acct WHERE id = 1';
SELECT cache_stats_reset();

-- a write, then the call in a worker: the uncommitted row is returned, and
-- is not stored for the others
BEGIN;
UPDATE pw_acct SET bal = -999 WHERE id = 1;
SET LOCAL :force_parallel = on;
SELECT pw_bal();
ROLLBACK;
SELECT * FROM pw_stats;
SELECT test_redis('EXISTS', test_rkey('pw-bal')) AS stored;
SELECT cache_aside_query('pw-bal', 'SELECT bal FROM pw_acct WHERE id = 1', 600);
SELECT test_redis('EXISTS', test_rkey('pw-bal')) AS stored;

-- an entry stored: a worker of a transaction that wrote is not served it
BEGIN;
UPDATE pw_acct SET bal = 101 WHERE id = 1;
SET LOCAL :force_parallel = on;
SELECT pw_bal();
ROLLBACK;
-- nor a worker of a transaction that did not
SET :force_parallel = on;
SELECT pw_bal();
RESET :force_parallel;
SELECT * FROM pw_stats;
-- the leader is served it
SELECT pw_bal();
SELECT * FROM pw_stats;

-- cache_invalidate and cache_set_ttl refuse to run in a worker (its end is
-- not the transaction's commit)
CREATE FUNCTION pw_invalidate() RETURNS bigint LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS
	$$ BEGIN RETURN cache_invalidate('pw-bal'); END $$;
CREATE FUNCTION pw_set_ttl() RETURNS boolean LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS
	$$ BEGIN RETURN cache_set_ttl('pw-bal', 60); END $$;
SET :force_parallel = on;
SELECT pw_invalidate();
\echo :LAST_ERROR_SQLSTATE
SELECT pw_set_ttl();
\echo :LAST_ERROR_SQLSTATE
RESET :force_parallel;
SELECT test_redis('EXISTS', test_rkey('pw-bal')) AS stored;
SELECT pw_invalidate();
SELECT test_redis('EXISTS', test_rkey('pw-bal')) AS stored;

DROP VIEW pw_stats;
DROP FUNCTION pw_bal(), pw_invalidate(), pw_set_ttl();
DROP TABLE pw_acct;
