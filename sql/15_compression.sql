--
-- Compression of large entries: cacheaside.compression (lz4, zstd, off)
-- and cacheaside.compress_min_bytes.  What is stored is looked at in Redis
-- (the flags and compression fields of the header, src/entry.h); what is
-- served must be the JSON that was stored, byte for byte.
--
-- Stale rows are how these tests see that an entry was served, so hits
-- are not checked against writes here.
SET cacheaside.auto_invalidate = off;

-- the defaults
SHOW cacheaside.compression;
SHOW cacheaside.compress_min_bytes;

-- How the entry under key is stored: its codec ('off' when stored as it
-- is), the length of its JSON and the bytes the JSON takes in Redis.
CREATE FUNCTION test_entry_form(key text, OUT codec text, OUT json_bytes int,
								OUT stored_bytes int)
LANGUAGE sql AS $$
	SELECT CASE p[1] WHEN '0' THEN 'off' WHEN '1' THEN 'lz4'
					 WHEN '2' THEN 'zstd' ELSE p[1] END,
		   p[2]::int, p[3]::int
	  FROM string_to_array(test_redis('EVAL', $lua$
local v = redis.call('GET', KEYS[1])
if not v then return 'absent 0 0' end
local function u32(o)
	local a, b, c, d = string.byte(v, o + 1, o + 4)
	return ((a * 256 + b) * 256 + c) * 256 + d
end
local h = u32(4)
if u32(12) % 4 >= 2 then
	return string.format('%d %d %d', u32(h - 8), u32(h - 4), #v - h)
end
return string.format('0 %d %d', #v - h, #v - h)
$lua$, '1', test_rkey(key)), ' ') p
$$;

-- Change the entry under key as a forger with access to Redis could:
-- 'codec' sets the codec id, 'json_len' the declared JSON length,
-- 'json_len_add' adds to it, 'truncate' drops the last n bytes, 'none'
-- changes nothing; then the checksum is made right again, so that the
-- decoder's checks after it are what refuses the entry.
CREATE FUNCTION test_forge(key text, op text, n bigint) RETURNS text
LANGUAGE sql AS $$
	SELECT test_redis('EVAL', $lua$
local v = redis.call('GET', KEYS[1])
local function u32(o)
	local a, b, c, d = string.byte(v, o + 1, o + 4)
	return ((a * 256 + b) * 256 + c) * 256 + d
end
local function put32(s, o, x)
	return string.sub(s, 1, o) ..
		string.char(math.floor(x / 16777216) % 256, math.floor(x / 65536) % 256,
					math.floor(x / 256) % 256, x % 256) ..
		string.sub(s, o + 5)
end
local h = u32(4)
local op, n = ARGV[1], tonumber(ARGV[2])
if op == 'codec' then v = put32(v, h - 8, n)
elseif op == 'json_len' then v = put32(v, h - 4, n)
elseif op == 'json_len_add' then v = put32(v, h - 4, u32(h - 4) + n)
elseif op == 'truncate' then v = string.sub(v, 1, #v - n)
elseif op ~= 'none' then return 'unknown op' end
local crc = -1
for i = 13, #v do
	crc = bit.bxor(crc, string.byte(v, i))
	for k = 1, 8 do
		if bit.band(crc, 1) == 1 then
			crc = bit.bxor(bit.rshift(crc, 1), 0x82F63B78)
		else
			crc = bit.rshift(crc, 1)
		end
	end
end
crc = bit.bnot(crc)
if crc < 0 then crc = crc + 4294967296 end
v = put32(v, 8, crc)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return 'forged'
$lua$, '1', test_rkey(key), op, n::text)
$$;

-- A compressible result of about 100 kB.  Its ver column tells which rows
-- were served: it is a setting, so that results can change without
-- writes (a transaction that writes does not store what it reads).
SET test.ver = 1;
CREATE FUNCTION big_query(key text) RETURNS json
LANGUAGE sql AS $$
	SELECT cache_aside_query(key, 'SELECT g AS id, repeat(''compressible '', 6) || g AS pad, current_setting(''test.ver'')::int AS ver FROM generate_series(1, 1000) g', 600)
$$;
-- the ver of the rows served, and whether their JSON is the one of ver 1
CREATE TABLE served (json text);
CREATE FUNCTION big_served(key text, OUT ver int, OUT same_json boolean)
LANGUAGE plpgsql AS $$
DECLARE
	j text := big_query(key)::text;
BEGIN
	ver := (j::json -> 0 ->> 'ver')::int;
	same_json := j = (SELECT json FROM served);
END
$$;
INSERT INTO served SELECT big_query('reference')::text;
SELECT length(json) FROM served;

-- ---------------------------------------------------------------------------
-- Each codec: the entry is stored compressed, to a small fraction of its
-- JSON, and a hit serves the same JSON
SELECT big_served('lz4');
SELECT codec, json_bytes, stored_bytes < json_bytes / 10 AS small
  FROM test_entry_form('lz4');
SET cacheaside.compression = zstd;
SELECT big_served('zstd');
SELECT codec, json_bytes, stored_bytes < json_bytes / 10 AS small
  FROM test_entry_form('zstd');
SET cacheaside.compression = off;
SELECT big_served('off');
SELECT * FROM test_entry_form('off');
RESET cacheaside.compression;

SET test.ver = 2;
-- hits: the rows of ver 1, the same JSON
SELECT big_served('lz4');
SELECT big_served('zstd');
SELECT big_served('off');

-- every entry is read whatever codec it was stored with: entries stored
-- uncompressed before compression was turned on (as by an earlier
-- release) still hit, and compressed ones still hit with it off
SET cacheaside.compression = zstd;
SELECT big_served('off');
SELECT big_served('lz4');
SET cacheaside.compression = off;
SELECT big_served('lz4');
SELECT big_served('zstd');
RESET cacheaside.compression;
-- they were not rewritten
SELECT (test_entry_form(k)).codec FROM unnest(ARRAY['lz4', 'zstd', 'off']) k;

-- ---------------------------------------------------------------------------
-- The threshold: compress_min_bytes counts the JSON text
SELECT length(cache_aside_query('len', 'SELECT repeat(''ab'', 1500) AS v', 600)::text);
SET cacheaside.compress_min_bytes = 3010;
SELECT length(cache_aside_query('at', 'SELECT repeat(''ab'', 1500) AS v', 600)::text);
SELECT codec, json_bytes FROM test_entry_form('at');
SET cacheaside.compress_min_bytes = 3011;
SELECT length(cache_aside_query('above', 'SELECT repeat(''ab'', 1500) AS v', 600)::text);
SELECT codec, json_bytes FROM test_entry_form('above');
SET cacheaside.compress_min_bytes = '3kB';
SELECT length(cache_aside_query('kB', 'SELECT repeat(''ab'', 1500) AS v', 600)::text);
SELECT codec, json_bytes FROM test_entry_form('kB');
RESET cacheaside.compress_min_bytes;
-- the default, 2kB, leaves small results as they are
SELECT cache_aside_query('small', 'SELECT repeat(''ab'', 20) AS v', 600);
SELECT * FROM test_entry_form('small');

-- ---------------------------------------------------------------------------
-- A value that does not shrink by an eighth is stored as it is.  Hex
-- digits without repeats do not shrink with lz4 (zstd's entropy coding
-- halves them: they are stored compressed then).
SELECT length(cache_aside_query('hex', 'SELECT string_agg(md5(g::text), '''') AS h FROM generate_series(1, 2000) g', 600)::text);
SELECT * FROM test_entry_form('hex');
SET cacheaside.compression = zstd;
SELECT length(cache_aside_query('hex-zstd', 'SELECT string_agg(md5(g::text), '''') AS h FROM generate_series(1, 2000) g', 600)::text);
SELECT codec, json_bytes, stored_bytes < json_bytes * 7 / 8 AS smaller
  FROM test_entry_form('hex-zstd');
-- nor does a tiny one, whatever the threshold
SET cacheaside.compress_min_bytes = 0;
SELECT cache_aside_query('tiny-zstd', 'SELECT 1 AS one', 600);
SELECT * FROM test_entry_form('tiny-zstd');
RESET cacheaside.compression;
SELECT cache_aside_query('tiny-lz4', 'SELECT 1 AS one', 600);
SELECT * FROM test_entry_form('tiny-lz4');
RESET cacheaside.compress_min_bytes;

-- ---------------------------------------------------------------------------
-- max_value_bytes bounds the entry uncompressed: a result larger than it
-- is not stored even though it would fit compressed
SET cacheaside.max_value_bytes = '50kB';
SELECT length(big_query('bounded')::text);
SELECT test_redis('EXISTS', test_rkey('bounded'));
-- and a compressed entry stored under a larger bound is not read under a
-- smaller one (nothing is allocated for it): a miss
SELECT big_served('lz4');
RESET cacheaside.max_value_bytes;
SELECT big_served('lz4');

-- ---------------------------------------------------------------------------
-- Forged compressed entries, their checksum made right: each is a miss
-- (the rows of the current ver) and is overwritten by it (then a hit).
-- The forger's tool itself changes nothing else:
SET test.ver = 3;
SELECT test_forge('lz4', 'none', 0);
SELECT big_served('lz4');
SELECT test_forge('zstd', 'none', 0);
SELECT big_served('zstd');

CREATE FUNCTION check_forgery(key text, op text, n bigint,
							  OUT served_ver int, OUT then_ver int)
LANGUAGE plpgsql AS $$
BEGIN
	-- the miss stores the entry again with the codec it had: its key's
	PERFORM set_config('cacheaside.compression', key, true);
	PERFORM set_config('test.ver',
					   (current_setting('test.ver')::int + 1)::text, false);
	PERFORM test_forge(key, op, n);
	served_ver := (big_served(key)).ver;
	PERFORM set_config('test.ver',
					   (current_setting('test.ver')::int + 1)::text, false);
	then_ver := (big_served(key)).ver;
END
$$;
-- the current ver is 3: the miss serves 4, the hit after it 4 again;
-- then 6 and 6, and so on
-- a codec that does not exist, none, or the other one
SELECT * FROM check_forgery('lz4', 'codec', 3);
SELECT * FROM check_forgery('lz4', 'codec', 0);
SELECT * FROM check_forgery('lz4', 'codec', 2);
SELECT * FROM check_forgery('zstd', 'codec', 1);
-- a JSON length that lies by one byte either way
SELECT * FROM check_forgery('lz4', 'json_len_add', 1);
SELECT * FROM check_forgery('lz4', 'json_len_add', -1);
SELECT * FROM check_forgery('zstd', 'json_len_add', 1);
SELECT * FROM check_forgery('zstd', 'json_len_add', -1);
-- one far beyond max_value_bytes (not allocated), and zero
SELECT * FROM check_forgery('lz4', 'json_len', 4294967295);
SELECT * FROM check_forgery('zstd', 'json_len', 1073741824);
SELECT * FROM check_forgery('lz4', 'json_len', 0);
-- a compressed stream cut short
SELECT * FROM check_forgery('lz4', 'truncate', 1);
SELECT * FROM check_forgery('zstd', 'truncate', 1);
SELECT * FROM check_forgery('zstd', 'truncate', 100);
-- every entry was rewritten, compressed
SELECT (test_entry_form(k)).codec FROM unnest(ARRAY['lz4', 'zstd']) k;

-- ---------------------------------------------------------------------------
-- Bad values
SET cacheaside.compression = gzip;
SET cacheaside.compression = '';
SET cacheaside.compress_min_bytes = -1;
SET cacheaside.compress_min_bytes = '1TB';
SET cacheaside.compress_min_bytes = '2 parsecs';
-- superusers' settings: they decide how much of Redis entries take
CREATE ROLE regress_ca_compress;
SET ROLE regress_ca_compress;
SHOW cacheaside.compression;
SET cacheaside.compression = off;
SET cacheaside.compress_min_bytes = '1MB';
RESET ROLE;
DROP ROLE regress_ca_compress;

DROP FUNCTION check_forgery(text, text, bigint), big_served(text),
	big_query(text), test_forge(text, text, bigint), test_entry_form(text);
DROP TABLE served;
RESET test.ver;
RESET cacheaside.auto_invalidate;
