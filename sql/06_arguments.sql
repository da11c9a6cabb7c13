--
-- Argument errors of every function.
--
SELECT cache_aside_query(NULL, 'SELECT 1', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('k', NULL, 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query(NULL, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query(NULL, 'SELECT $1', 60, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('k', 'SELECT 1', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('k', 'SELECT 1', -5);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('k', 'SELECT $1', 0, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_set_ttl('k', 0);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_set_ttl('k', -1);
\echo :LAST_ERROR_SQLSTATE

-- STRICT functions: NULL in, NULL out
SELECT cache_invalidate(NULL) IS NULL AS null_pattern;
SELECT cache_get_ttl(NULL) IS NULL AS null_key;
SELECT count(*) AS no_rows FROM cache_dependencies(NULL);
SELECT cache_set_ttl(NULL, 10) IS NULL AS null_key, cache_set_ttl('k', NULL) IS NULL AS null_ttl;

-- the TTL tools
SELECT cache_aside_query('ttl', 'SELECT 1 AS one', 100);
SELECT cache_get_ttl('ttl') BETWEEN 95 AND 100 AS ttl_about_100;
SELECT cache_set_ttl('ttl', 5000);
SELECT cache_get_ttl('ttl') BETWEEN 4995 AND 5000 AS ttl_about_5000;
SELECT test_redis('TTL', test_rkey('ttl'))::int BETWEEN 4995 AND 5000 AS redis_agrees;
SELECT cache_get_ttl('no such key');
SELECT cache_set_ttl('no such key', 10);
SELECT test_redis('EXISTS', test_rkey('no such key'));
-- an entry made to expire by cache_set_ttl is gone once it has
SELECT cache_set_ttl('ttl', 1);
SELECT pg_sleep(1.1);
SELECT cache_get_ttl('ttl');
SELECT test_redis('EXISTS', test_rkey('ttl'));

-- settings: reserved prefix, checked values, superuser-only settings
SET cacheaside.no_such_setting = 1;
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.key_prefix = '';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.port = 0;
\echo :LAST_ERROR_SQLSTATE
-- (how PostgreSQL words a range, and who may read a setting, changed in
-- 16: the SQLSTATE alone is shown)
\set VERBOSITY sqlstate
SET cacheaside.default_ttl = 0;
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.max_value_bytes = -1;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
CREATE ROLE cacheaside_plain LOGIN;
SET ROLE cacheaside_plain;
SET cacheaside.host = 'evil.example.com';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.port = 6380;
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.password_file = '/tmp/x';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.database = 3;
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.key_prefix = 'other:';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.max_value_bytes = '10MB';
\echo :LAST_ERROR_SQLSTATE
SET cacheaside.retry_interval = 0;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY sqlstate
SHOW cacheaside.password_file;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
-- the functions are not granted to PUBLIC: a hit would skip the privilege
-- checks of the query, so an administrator chooses who may call them
SELECT cache_aside_query('plain', 'SELECT 1 AS one', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_invalidate('plain');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_get_ttl('plain');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_set_ttl('plain', 10);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cache_dependencies('plain');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer),
	cache_aside_query(text, text, integer, "any"), cache_invalidate(text),
	cache_get_ttl(text), cache_set_ttl(text, integer) TO cacheaside_plain;
SET ROLE cacheaside_plain;
SELECT cache_aside_query('plain', 'SELECT 1 AS one', 60);
SELECT cache_aside_query('plain', 'SELECT $1 AS v', 60, 2);
SELECT cache_get_ttl('plain') > 0 AS has_ttl;
SELECT cache_set_ttl('plain', 10);
SELECT cache_invalidate('plain');
-- what anyone may tune
SET cacheaside.default_ttl = 30;
SET cacheaside.connect_timeout = 100;
SET cacheaside.command_timeout = 100;
SET cacheaside.enabled = off;
RESET ALL;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION cache_aside_query(text, text, integer),
	cache_aside_query(text, text, integer, "any"), cache_invalidate(text),
	cache_get_ttl(text), cache_set_ttl(text, integer) FROM cacheaside_plain;
DROP ROLE cacheaside_plain;
