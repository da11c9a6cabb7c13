--
-- What Redis hands back is checked: an entry that is corrupt, truncated,
-- of another format, of the wrong Redis type, or made by another query is
-- a miss, and the miss overwrites it.
--
-- Stale rows are how these tests see that an entry was served, so hits
-- are not checked against writes here (automatic invalidation has its own
-- tests).
SET cacheaside.auto_invalidate = off;

CREATE TABLE e (id int, v text);
INSERT INTO e VALUES (1, 'one'), (2, 'two');

CREATE FUNCTION check_entry(key text) RETURNS text
LANGUAGE sql AS $$
	SELECT cache_aside_query(key, 'SELECT * FROM e ORDER BY id', 60)::text
$$;

-- a good entry
SELECT check_entry('good');
SELECT test_redis('STRLEN', test_rkey('good'));

-- change the table, then damage the entry in each way: every damaged
-- entry must be a miss (the current rows) and be rewritten (then a hit)
UPDATE e SET v = 'ONE' WHERE id = 1;

-- not an entry at all
SELECT test_redis('SET', test_rkey('good'), 'hello', 'KEEPTTL');
SELECT check_entry('good');
SELECT test_redis('GETRANGE', test_rkey('good'), '0', '2');

-- one byte of the payload flipped
SELECT check_entry('flip');
UPDATE e SET v = 'one' WHERE id = 1;
SELECT test_redis('EVAL', 'local v = redis.call(''GET'', KEYS[1]) return redis.call(''SET'', KEYS[1], string.sub(v, 1, 80) .. ''X'' .. string.sub(v, 82), ''KEEPTTL'')', '1', test_rkey('flip'));
SELECT check_entry('flip');

-- one byte of the header flipped
UPDATE e SET v = 'uno' WHERE id = 1;
SELECT test_redis('EVAL', 'local v = redis.call(''GET'', KEYS[1]) return redis.call(''SET'', KEYS[1], string.sub(v, 1, 30) .. string.char(255) .. string.sub(v, 32), ''KEEPTTL'')', '1', test_rkey('flip'));
SELECT check_entry('flip');

-- truncated: at every length from 0 to the whole entry but one byte.
-- The query returns a setting, so that entries can be made with other
-- rows than a miss would return, inside one transaction.
CREATE FUNCTION check_setting(key text) RETURNS text
LANGUAGE sql AS $$
	SELECT cache_aside_query(key, 'SELECT current_setting(''test.v'') AS v', 60)::text
$$;
CREATE FUNCTION check_truncations(key text) RETURNS TABLE (served_stale int, rewritten int)
LANGUAGE plpgsql AS $$
DECLARE
	full_len int;
BEGIN
	PERFORM set_config('test.v', 'fresh', true);
	PERFORM cache_invalidate(key);
	PERFORM check_setting(key);
	full_len := test_redis('STRLEN', test_rkey(key))::int;
	served_stale := 0;
	rewritten := 0;
	FOR len IN 0 .. full_len - 1 LOOP
		-- the stored rows say 'stale', so serving them would show
		PERFORM set_config('test.v', 'stale', true);
		PERFORM cache_invalidate(key);
		PERFORM check_setting(key);
		PERFORM set_config('test.v', 'fresh', true);
		PERFORM test_redis('EVAL', 'return redis.call(''SET'', KEYS[1], string.sub(redis.call(''GET'', KEYS[1]), 1, tonumber(ARGV[1])), ''KEEPTTL'')',
						   '1', test_rkey(key), len::text);
		IF check_setting(key) LIKE '%stale%' THEN
			served_stale := served_stale + 1;
		END IF;
		IF test_redis('STRLEN', test_rkey(key))::int = full_len THEN
			rewritten := rewritten + 1;
		END IF;
	END LOOP;
	RETURN NEXT;
END
$$;
SELECT * FROM check_truncations('trunc');
-- its transaction called cache_invalidate: the entry was removed again
-- when it committed
SELECT test_redis('EXISTS', test_rkey('trunc'));

-- the wrong Redis type
SELECT test_redis('DEL', test_rkey('typed'));
SELECT test_redis('LPUSH', test_rkey('typed'), 'a', 'b');
SELECT check_entry('typed');
SELECT test_redis('TYPE', test_rkey('typed'));
SELECT check_entry('typed');
SELECT test_redis('DEL', test_rkey('typed'));
SELECT test_redis('HSET', test_rkey('typed'), 'f', 'v');
SELECT check_entry('typed');
SELECT test_redis('TYPE', test_rkey('typed'));

-- an entry of another format version (1, the format before this one)
SELECT check_entry('version');
UPDATE e SET v = 'eins' WHERE id = 1;
SELECT test_redis('EVAL', 'local v = redis.call(''GET'', KEYS[1]) return redis.call(''SET'', KEYS[1], string.sub(v, 1, 3) .. string.char(1) .. string.sub(v, 5), ''KEEPTTL'')', '1', test_rkey('version'));
SELECT check_entry('version');

-- a valid entry copied from another key whose query differs is not served
SELECT cache_aside_query('other-query', 'SELECT 42 AS answer', 60);
SELECT test_redis('EVAL', 'return redis.call(''SET'', KEYS[2], redis.call(''GET'', KEYS[1]))', '2',
				  test_rkey('other-query'), test_rkey('copy'));
SELECT check_entry('copy');
-- but a valid entry copied under another key for the same query is: the
-- key is only a name (the copy holds 'old', which a miss would not show)
UPDATE e SET v = 'old' WHERE id = 2;
SELECT check_entry('source');
UPDATE e SET v = 'two' WHERE id = 2;
SELECT test_redis('EVAL', 'return redis.call(''SET'', KEYS[2], redis.call(''GET'', KEYS[1]))', '2',
				  test_rkey('source'), test_rkey('copy2'));
SELECT check_entry('copy2');

-- an empty string
SELECT test_redis('SET', test_rkey('empty'), '');
SELECT check_entry('empty');
