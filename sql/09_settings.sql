--
-- The settings: enabled, max_value_bytes, database, key_prefix, and what
-- happens when Redis cannot be used (fail open, one WARNING).
--
CREATE TABLE s (id int, v text);
INSERT INTO s VALUES (1, 'one');
SELECT test_redis('FLUSHDB');

-- enabled = off: the query runs, Redis is not touched
SET cacheaside.enabled = off;
SELECT cache_aside_query('off', 'SELECT * FROM s', 60);
SELECT test_redis('EXISTS', test_rkey('off'));
-- explicit invalidation still works, so a session that bypasses the cache
-- can still remove what its writes made stale
RESET cacheaside.enabled;
SELECT cache_aside_query('off', 'SELECT * FROM s', 60);
SET cacheaside.enabled = off;
SELECT cache_invalidate('off');
RESET cacheaside.enabled;

-- max_value_bytes: larger results are returned but not stored
SET cacheaside.max_value_bytes = '1kB';
SELECT length(cache_aside_query('big', 'SELECT repeat(''x'', 2000) AS x', 60)::text);
SELECT test_redis('EXISTS', test_rkey('big'));
SELECT length(cache_aside_query('small', 'SELECT repeat(''x'', 500) AS x', 60)::text);
SELECT test_redis('EXISTS', test_rkey('small'));
-- an entry stored under a larger limit is not read under a smaller one
RESET cacheaside.max_value_bytes;
SELECT length(cache_aside_query('shrunk', 'SELECT repeat(''y'', 2000) AS y', 60)::text);
SELECT test_redis('EXISTS', test_rkey('shrunk'));
SET cacheaside.max_value_bytes = '1kB';
UPDATE s SET v = 'uno';
SELECT length(cache_aside_query('shrunk', 'SELECT repeat(''y'', 2000) AS y', 60)::text);
-- zero: nothing is cached
SET cacheaside.max_value_bytes = 0;
SELECT cache_aside_query('zero', 'SELECT * FROM s', 60);
SELECT test_redis('EXISTS', test_rkey('zero'));
RESET cacheaside.max_value_bytes;

-- database: entries go to the Redis logical database chosen
SET cacheaside.database = 3;
SELECT cache_aside_query('db3', 'SELECT * FROM s', 60);
SELECT test_redis('EXISTS', test_rkey('db3'));
RESET cacheaside.database;
SELECT test_redis('EXISTS', test_rkey('db3'));
SET cacheaside.database = 3;
SELECT cache_invalidate('*');
RESET cacheaside.database;

-- key_prefix: entries are written under it
SET cacheaside.key_prefix = 'app1/';
SELECT cache_aside_query('prefixed', 'SELECT * FROM s', 60);
SELECT test_redis('EXISTS', test_rkey('prefixed'));
SELECT test_redis('EXISTS', 'app1/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || ':e:prefixed');
-- another prefix is another namespace
RESET cacheaside.key_prefix;
SELECT test_redis('EXISTS', test_rkey('prefixed'));
SELECT cache_invalidate('prefixed');
SET cacheaside.key_prefix = 'app1/';
SELECT cache_invalidate('prefixed');
RESET cacheaside.key_prefix;

-- Redis unreachable: correct rows, one WARNING, then quiet; cache_invalidate
-- and the TTL tools refuse with an error instead of pretending
SET cacheaside.retry_interval = '1h';
SET cacheaside.port = 1;
SELECT cache_aside_query('down', 'SELECT * FROM s', 60);
SELECT cache_aside_query('down', 'SELECT * FROM s', 60);
SELECT cache_aside_query('down', 'SELECT $1 AS v', 60, 42);
SELECT cache_invalidate('down');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_get_ttl('down');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_set_ttl('down', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cache_dependencies('down');
\echo :LAST_ERROR_SQLSTATE
-- the back-off holds while Redis stays down: still no second WARNING
SELECT cache_aside_query('down', 'SELECT * FROM s', 60);
-- Redis back (here: the right port again): caching resumes by itself once
-- the back-off is over
SET cacheaside.port TO DEFAULT;
SELECT set_config('cacheaside.port', current_setting('cacheaside_test.redis_port'), false) IS NOT NULL AS port_restored;
SET cacheaside.retry_interval = 0;
SELECT cache_aside_query('down', 'SELECT * FROM s', 60);
SELECT test_redis('EXISTS', test_rkey('down'));

-- a missing or unsafe password file: the same fail-open path, and the
-- message names the file, never a password
SET cacheaside.password_file = '/nonexistent/redis.pass';
SELECT cache_aside_query('pw', 'SELECT * FROM s', 60);
SELECT cache_invalidate('pw');
\echo :LAST_ERROR_SQLSTATE
-- a file others can read is refused before it is used
COPY (SELECT 'sekrit') TO '/tmp/cacheaside_regress_pw';
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; chmod 0644 /tmp/cacheaside_regress_pw';
SET cacheaside.password_file = '/tmp/cacheaside_regress_pw';
SELECT cache_invalidate('pw');
\echo :LAST_ERROR_SQLSTATE
-- a private file is used: this Redis has no password, so it refuses AUTH
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; chmod 0600 /tmp/cacheaside_regress_pw';
SELECT cache_invalidate('pw');
\echo :LAST_ERROR_SQLSTATE
COPY (SELECT 1) TO PROGRAM 'cat >/dev/null; rm -f /tmp/cacheaside_regress_pw';
RESET cacheaside.password_file;

-- Sentinels: a malformed list is refused when set
SET cacheaside.sentinels = 'localhost';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.sentinels = '127.0.0.1:0';
SET cacheaside.sentinels = '127.0.0.1:26379,';
SET cacheaside.sentinels = '::1:26379';
SET cacheaside.sentinels = '[::1:26379';
-- a good one is accepted; without a master name, Redis cannot be used
SET cacheaside.sentinels = ' 127.0.0.1:1 , [::1]:2,sentinel.example:26379 ';
SELECT cache_invalidate('sent');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('sent', 'SELECT * FROM s', 60);
RESET cacheaside.sentinels;
RESET cacheaside.retry_interval;
SELECT cache_invalidate('pw');

-- two databases sharing one Redis never see each other's entries (the
-- regression database's name depends on the harness: compare, not print)
SELECT cache_aside_query('shared-key', 'SELECT current_database() AS db', 60) -> 0 ->> 'db'
	= current_database() AS own_rows;
SELECT current_database() AS regress_db \gset
CREATE DATABASE cacheaside_regress_other;
\c cacheaside_regress_other
SET client_min_messages = warning;
CREATE EXTENSION cacheaside;
SELECT set_config('cacheaside.port', current_setting('cacheaside_test.redis_port'), false) IS NOT NULL AS port_set;
SELECT cache_aside_query('shared-key', 'SELECT current_database() AS db', 60);
SELECT cache_aside_query('shared-key', 'SELECT current_database() AS db', 60);
SELECT cache_invalidate('*');
\c :regress_db
SELECT cache_aside_query('shared-key', 'SELECT current_database() AS db', 60) -> 0 ->> 'db'
	= current_database() AS own_rows;
SELECT cache_invalidate('shared-key');
DROP DATABASE cacheaside_regress_other;
