--
-- cache_get_ttl and cache_set_ttl act on cacheaside entries only: another
-- program's value at the same Redis key (a string written with SET, a
-- hash, a list) is no entry, and is left as it is.
--
CREATE TABLE tt (id int);
INSERT INTO tt VALUES (1);

-- an entry
SELECT cache_aside_query('t:entry', 'SELECT id FROM tt', 100);
SELECT cache_get_ttl('t:entry') BETWEEN 95 AND 100 AS entry_ttl;
SELECT cache_set_ttl('t:entry', 500);
SELECT cache_get_ttl('t:entry') BETWEEN 495 AND 500 AS entry_ttl_set;

-- a string another program wrote at an entry's key, with and without a TTL
SELECT test_redis('SET', test_rkey('t:string'), 'hello', 'EX', '300');
SELECT cache_get_ttl('t:string');
SELECT cache_set_ttl('t:string', 10);
SELECT test_redis('TTL', test_rkey('t:string'))::int BETWEEN 295 AND 300 AS ttl_untouched;
SELECT test_redis('SET', test_rkey('t:forever'), 'hello');
SELECT cache_get_ttl('t:forever');
SELECT cache_set_ttl('t:forever', 10);
SELECT test_redis('TTL', test_rkey('t:forever'));
-- a string shorter than an entry's magic, and an empty one
SELECT test_redis('SET', test_rkey('t:short'), 'CA', 'EX', '300');
SELECT cache_get_ttl('t:short'), cache_set_ttl('t:short', 10);
SELECT test_redis('SET', test_rkey('t:empty'), '', 'EX', '300');
SELECT cache_get_ttl('t:empty'), cache_set_ttl('t:empty', 10);

-- values of other types
SELECT test_redis('HSET', test_rkey('t:hash'), 'f', 'v');
SELECT test_redis('EXPIRE', test_rkey('t:hash'), '300');
SELECT cache_get_ttl('t:hash');
SELECT cache_set_ttl('t:hash', 10);
SELECT test_redis('TTL', test_rkey('t:hash'))::int BETWEEN 295 AND 300 AS ttl_untouched;
SELECT test_redis('RPUSH', test_rkey('t:list'), 'a');
SELECT cache_get_ttl('t:list'), cache_set_ttl('t:list', 10);
SELECT test_redis('TTL', test_rkey('t:list'));

-- an entry that a commit made stale is still an entry until it expires or
-- is replaced: its TTL is reported and can be changed (it is not served)
SELECT cache_aside_query('t:stale', 'SELECT id FROM tt', 100);
INSERT INTO tt VALUES (2);
SELECT * FROM cache_dependencies('t:stale');
SELECT cache_get_ttl('t:stale') BETWEEN 95 AND 100 AS stale_ttl;
SELECT cache_set_ttl('t:stale', 200);
SELECT cache_aside_query('t:stale', 'SELECT id FROM tt ORDER BY id', 100);

-- no key at all
SELECT cache_get_ttl('t:none'), cache_set_ttl('t:none', 10);

SELECT cache_invalidate('t:*') >= 2 AS removed;
DROP TABLE tt;
