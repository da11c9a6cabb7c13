--
-- cache_invalidate: Redis glob patterns over the caller's keys, SCAN and
-- UNLINK in batches, the count of entries removed, and nothing outside the
-- namespace.
--
SELECT test_redis('FLUSHDB');

-- thousands of keys
SELECT count(cache_aside_query('bulk:' || g, 'SELECT $1::int AS g', 600, g))
  FROM generate_series(1, 5000) g;
SELECT test_redis('DBSIZE');
-- bulk:1, bulk:10..19, bulk:100..199, bulk:1000..1999
SELECT cache_invalidate('bulk:1*');
SELECT cache_invalidate('bulk:1*');
SELECT cache_invalidate('bulk:?');
SELECT cache_invalidate('bulk:[2-3]0');
SELECT cache_invalidate('bulk:*');
SELECT test_redis('DBSIZE');

-- keys with spaces, newlines, glob characters, backslashes and unicode
CREATE TEMP TABLE odd_keys (k text);
INSERT INTO odd_keys VALUES ('with space'), (E'new\nline'), ('star*'), ('star'),
	('question?'), ('bracket[x]'), ('back\slash'), ('caret^dash-'),
	('ünïcødé ✓'), ('quote''s'), (''), ('e:nested:e:key');
SELECT k, cache_aside_query(k, 'SELECT $1 AS k', 60, k)
  FROM odd_keys ORDER BY k COLLATE "C";
-- each entry is under its exact key
SELECT k, test_redis('EXISTS', test_rkey(k)) AS stored FROM odd_keys ORDER BY k COLLATE "C";
-- and each is a hit for its own key only
SELECT k, cache_aside_query(k, 'SELECT $1 AS k', 60, k)::text = (SELECT json_agg(q)::text FROM (SELECT k) q) AS ok
  FROM odd_keys ORDER BY k COLLATE "C";

-- glob characters in a pattern are globs; escaped, they are literal
SELECT cache_invalidate('star\*');
SELECT test_redis('EXISTS', test_rkey('star'));
SELECT cache_invalidate('question\?');
SELECT cache_invalidate('bracket\[x\]');
SELECT cache_invalidate('back\\slash');
SELECT cache_invalidate(E'new\nline');
SELECT cache_invalidate('ünïcødé ✓');
SELECT cache_invalidate('');
SELECT cache_invalidate('nothing matches this');
SELECT cache_invalidate('*');
SELECT test_redis('DBSIZE');

-- nothing outside the namespace: keys written by others, entries of
-- another prefix or database are never touched, whatever the pattern
SELECT test_redis('SET', 'foreign:key', 'x');
SELECT test_redis('SET', 'cacheaside:other', 'x');
SELECT test_redis('SET', 'cacheaside:1:e:other-database', 'x');
SELECT test_redis('SET', test_rkey('') || '-not-quite', 'x');
SELECT cache_aside_query('mine', 'SELECT 1 AS one', 60);
SELECT cache_invalidate('*');
SELECT cache_invalidate('**');
SELECT cache_invalidate('\');
SELECT cache_invalidate('[');
SELECT cache_invalidate(repeat('*', 10000));
SELECT cache_invalidate(repeat('?', 100) || '*');
SELECT test_redis('EXISTS', 'foreign:key', 'cacheaside:other', 'cacheaside:1:e:other-database');
SELECT test_redis('DBSIZE');

-- a prefix full of glob characters is taken literally
SET cacheaside.key_prefix = 'c*';
SELECT cache_aside_query('globbed', 'SELECT 1 AS one', 60);
SELECT test_redis('EXISTS', test_rkey('globbed'));
SELECT cache_invalidate('*');
SELECT test_redis('EXISTS', 'foreign:key', 'cacheaside:other', 'cacheaside:1:e:other-database');
SET cacheaside.key_prefix = '[a-z]?\';
SELECT cache_aside_query('globbed', 'SELECT 1 AS one', 60);
SELECT test_redis('EXISTS', test_rkey('globbed'));
SELECT cache_invalidate('*');
RESET cacheaside.key_prefix;
SELECT test_redis('DBSIZE');
SELECT test_redis('FLUSHDB');

-- the repeat after commit removes what the call named, under the prefix
-- in effect at the call, not at COMMIT (a SET LOCAL, a function's SET
-- clause): rows a concurrent refill stored meanwhile are not left behind
BEGIN;
SELECT cache_invalidate('again1');
SELECT cache_invalidate('again2*');
-- as a concurrent refill would, after the call and before COMMIT
SELECT test_redis('SET', test_rkey('again1'), 'x');
SELECT test_redis('SET', test_rkey('again2-b'), 'x');
SET LOCAL cacheaside.key_prefix = 'elsewhere:';
SELECT test_redis('SET', test_rkey('again1'), 'x');
COMMIT;
SELECT test_redis('EXISTS', test_rkey('again1'), test_rkey('again2-b'));
SET cacheaside.key_prefix = 'elsewhere:';
SELECT test_redis('EXISTS', test_rkey('again1'));
RESET cacheaside.key_prefix;
CREATE FUNCTION invalidate_elsewhere(k text) RETURNS bigint LANGUAGE sql
	SET cacheaside.key_prefix = 'elsewhere:'
	AS $$ SELECT cache_invalidate(k) $$;
BEGIN;
SELECT invalidate_elsewhere('again1');
SET LOCAL cacheaside.key_prefix = 'elsewhere:';
SELECT test_redis('SET', test_rkey('again1'), 'x');
RESET cacheaside.key_prefix;
SELECT test_redis('SET', test_rkey('again1'), 'x');
COMMIT;
SELECT test_redis('EXISTS', test_rkey('again1'));
SET cacheaside.key_prefix = 'elsewhere:';
SELECT test_redis('EXISTS', test_rkey('again1'));
RESET cacheaside.key_prefix;
DROP FUNCTION invalidate_elsewhere(text);
-- another Redis database at COMMIT: the repeat cannot be made, and says so
BEGIN;
SELECT cache_invalidate('again3');
SET LOCAL cacheaside.database = 1;
COMMIT;
SELECT test_redis('FLUSHDB');
