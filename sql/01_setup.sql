--
-- Setup shared by the regression suite: the extension, and helpers that
-- look at Redis directly, through redis-cli run by the superuser that
-- pg_regress connects as.  The harness puts the Redis port into the
-- placeholder setting cacheaside_test.redis_port.
--
CREATE EXTENSION cacheaside;

-- Run one redis-cli command against the database cacheaside uses; returns
-- redis-cli's raw output, one line per reply element.
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
	IF to_regclass('pg_temp.test_redis_out') IS NULL THEN
		CREATE TEMP TABLE test_redis_out (n serial, line text);
	END IF;
	TRUNCATE test_redis_out;
	EXECUTE format('COPY test_redis_out (line) FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
				   cmd, E'\x01', E'\x02');
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
