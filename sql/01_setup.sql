--
-- Setup shared by the regression suite: the extension, and helpers that
-- look at Redis directly, through redis-cli run by the superuser that
-- pg_regress connects as.  The harness puts the Redis port into the
-- placeholder setting cacheaside_test.redis_port.
--
CREATE EXTENSION cacheaside;

-- Wait until the near-cache's tracker has applied every change made in
-- Redis before the call (it answered a PING sent after it), so that a test
-- that changes Redis by hand sees its effect on near-cache copies at once.
-- Bounded and generous: an error after 60 s.  Returns false at once when
-- there is no near-cache (or cache_status is older than 1.3).
CREATE FUNCTION test_near_sync() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	start timestamptz := clock_timestamp();
	near_on boolean;
	synced timestamptz;
BEGIN
	FOR i IN 1..6000 LOOP
		BEGIN
			EXECUTE 'SELECT local_cache, local_cache_synced FROM cache_status()'
				INTO near_on, synced;
		EXCEPTION WHEN undefined_column OR undefined_function THEN
			RETURN false;
		END;
		IF NOT near_on THEN
			RETURN false;
		END IF;
		IF synced > start THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
	RAISE EXCEPTION 'the near-cache tracker did not catch up with Redis within 60 s';
END
$$;

-- Where test_redis puts redis-cli's output: a permanent table, so that the
-- sessions of the tests have no temporary schema (which would make their
-- entries their own: 19_temp_schema)
CREATE UNLOGGED TABLE test_redis_out (n serial, line text);
GRANT ALL ON test_redis_out TO PUBLIC;
GRANT ALL ON SEQUENCE test_redis_out_n_seq TO PUBLIC;

-- Run one redis-cli command against the database cacheaside uses; returns
-- redis-cli's raw output, one line per reply element.  After a command
-- that may change keys, waits for the near-cache to be in step.
CREATE FUNCTION test_redis(VARIADIC args text[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	cmd text := format('redis-cli -h 127.0.0.1 -p %s -n %s',
					   current_setting('cacheaside_test.redis_port'),
					   coalesce(current_setting('cacheaside.database', true), '0'));
	arg text;
BEGIN
	FOREACH arg IN ARRAY args LOOP
		cmd := cmd || ' ''' || replace(arg, '''', '''\''''') || '''';
	END LOOP;
	DELETE FROM test_redis_out;
	EXECUTE format('COPY test_redis_out (line) FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
				   cmd, E'\x01', E'\x02');
	IF upper(args[1]) NOT IN ('EXISTS', 'TTL', 'PTTL', 'STRLEN', 'TYPE',
							  'GETRANGE', 'GET', 'DBSIZE', 'PING', 'KEYS') THEN
		PERFORM test_near_sync();
	END IF;
	RETURN (SELECT string_agg(line, E'\n' ORDER BY n) FROM test_redis_out);
END
$$;

-- The Redis key of the entry stored under a caller's key
CREATE FUNCTION test_rkey(key text) RETURNS text
LANGUAGE sql AS $$
	SELECT current_setting('cacheaside.key_prefix')
		|| (SELECT oid FROM pg_database WHERE datname = current_database())
		|| ':e:' || key
$$;

-- Start from an empty Redis database
SELECT test_redis('FLUSHDB');
SELECT test_redis('PING');
