-- debian/tests/smoke.sql: the installed extension in a fresh database of a
-- server that preloads it and reaches a Redis of its own: a miss stores the
-- rows, a hit returns the same text from Redis, a committed write makes the
-- next call a miss.  Each check raises an error when it fails; run with
-- psql -v ON_ERROR_STOP=1 (debian/tests/smoke, scripts/test).

CREATE FUNCTION pg_temp.smoke_check(ok boolean, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION 'smoke test failed: %', what;
	END IF;
END
$$;

CREATE EXTENSION cacheaside;
SELECT pg_temp.smoke_check((SELECT preloaded FROM cache_status()),
						   'cacheaside is in shared_preload_libraries');
SELECT pg_temp.smoke_check((SELECT redis_version IS NOT NULL FROM cache_status()),
						   'Redis answers');

CREATE TABLE smoke (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO smoke VALUES (1, 'one'), (2, 'two');

-- a miss: the query runs, its rows come back and are stored
SELECT cache_aside_query('smoke', 'SELECT id, name FROM smoke ORDER BY id', 60) AS miss \gset
SELECT pg_temp.smoke_check(:'miss' = (SELECT json_agg(q)::text
										FROM (SELECT id, name FROM smoke ORDER BY id) q),
						   'the miss returns the rows');
SELECT pg_temp.smoke_check((SELECT hits = 0 AND misses = 1 AND stores = 1 FROM cache_stats
							WHERE query = 'SELECT id, name FROM smoke ORDER BY id'),
						   'one miss, stored');
SELECT pg_temp.smoke_check(cache_get_ttl('smoke') BETWEEN 1 AND 60, 'the entry has its TTL');

-- a hit: the same text, from Redis
SELECT cache_aside_query('smoke', 'SELECT id, name FROM smoke ORDER BY id', 60) AS hit \gset
SELECT pg_temp.smoke_check(:'hit' = :'miss', 'the hit returns what the miss returned');
SELECT pg_temp.smoke_check((SELECT hits = 1 AND misses = 1 FROM cache_stats
							WHERE query = 'SELECT id, name FROM smoke ORDER BY id'),
						   'one hit after the miss');

-- a committed write: the next call is a miss that sees it
INSERT INTO smoke VALUES (3, 'three');
SELECT pg_temp.smoke_check(json_array_length(
		   cache_aside_query('smoke', 'SELECT id, name FROM smoke ORDER BY id', 60)) = 3,
	   'after a committed write the call returns the new row');
SELECT pg_temp.smoke_check((SELECT hits = 1 AND misses = 2 AND not_served_changed = 1
							FROM cache_stats
							WHERE query = 'SELECT id, name FROM smoke ORDER BY id'),
						   'the write made the entry a miss');
