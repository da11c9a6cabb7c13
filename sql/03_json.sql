--
-- JSON fidelity: the result is exactly what
--   SELECT coalesce(json_agg(q), '[]'::json) FROM (<sql>) q
-- returns, on a miss and on the hit that follows, across common types.
--
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';

CREATE TABLE typed (
	i int, b bigint, s smallint, n numeric(12,4), r real, f float8,
	ok bool, t text, vc varchar(10), c char(3),
	j json, jb jsonb, ia int[], ta text[], m int[][],
	d date, ts timestamp, tz timestamptz, iv interval, u uuid,
	by bytea, ip inet, mo money, pt point
);
INSERT INTO typed VALUES
	(1, 9007199254740993, -3, 12.3400, 1.5, 0.1, true,
	 'quote " backslash \ newline
tab	end', 'short', 'ab', '{"a": [1, 2.50, null]}', '{"b": {"c": true}}',
	 '{1,2,3}', '{"x y","z\"q",NULL}', '{{1,2},{3,4}}',
	 '2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56+02',
	 '1 day 02:03:04', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
	 '\xdeadbeef', '192.168.0.1/24', 12.34, '(1.5,2)'),
	(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(-2147483648, -9223372036854775808, 32767, -0.0001, 'NaN', 'Infinity',
	 false, 'ünïcødé ✓ 😀 ''single''', '', '   ', 'null', '[]', '{}', '{}',
	 NULL, 'infinity', '-infinity', 'infinity', '-1 mon', NULL, '\x', '::1',
	 -1, NULL);

-- The function compares the cache's answer with json_agg's, on the miss and
-- on the hit.
CREATE FUNCTION check_json(key text, query text) RETURNS TABLE (miss bool, hit bool)
LANGUAGE plpgsql AS $$
DECLARE
	expected text;
BEGIN
	EXECUTE format('SELECT coalesce(json_agg(q), ''[]''::json)::text FROM (%s) q', query)
		INTO expected;
	PERFORM cache_invalidate(key);
	miss := cache_aside_query(key, query, 60)::text = expected;
	hit := cache_aside_query(key, query, 60)::text = expected;
	RETURN NEXT;
END
$$;

SELECT * FROM check_json('typed', 'SELECT * FROM typed');
SELECT cache_aside_query('typed', 'SELECT * FROM typed');

-- every column alone, so a difference would point at its type
SELECT a.attname, c.*
  FROM pg_attribute a,
	   LATERAL check_json('col:' || a.attname,
						  format('SELECT %I FROM typed', a.attname)) c
 WHERE a.attrelid = 'typed'::regclass AND a.attnum > 0
 ORDER BY a.attnum;

-- column order is kept, duplicate and odd names are kept
SELECT * FROM check_json('order', 'SELECT 3 AS c, 1 AS a, 2 AS b');
SELECT cache_aside_query('order', 'SELECT 3 AS c, 1 AS a, 2 AS b');
SELECT * FROM check_json('dup', 'SELECT 1 AS x, 2 AS x, 3 AS "odd ""name"""');
SELECT cache_aside_query('dup', 'SELECT 1 AS x, 2 AS x, 3 AS "odd ""name"""');
SELECT * FROM check_json('anon', 'SELECT 1, ''a'', now() IS NOT NULL');
SELECT cache_aside_query('anon', 'SELECT 1, ''a'', now() IS NOT NULL');

-- composite and nested values
CREATE TYPE pair AS (l int, r text);
SELECT * FROM check_json('composite', 'SELECT ROW(1, ''x'')::pair AS p, ARRAY[ROW(2, ''y'')::pair] AS ps');
SELECT cache_aside_query('composite', 'SELECT ROW(1, ''x'')::pair AS p, ARRAY[ROW(2, ''y'')::pair] AS ps');

-- many rows: the separators between rows are json_agg's
SELECT * FROM check_json('many', 'SELECT g AS n, repeat(''x'', g % 7) AS s FROM generate_series(1, 2000) g');
SELECT * FROM check_json('one-null-column', 'SELECT NULL::int AS nothing FROM generate_series(1, 3)');
SELECT * FROM check_json('empty', 'SELECT 1 AS x WHERE false');
SELECT cache_aside_query('empty', 'SELECT 1 AS x WHERE false');

-- settings that change the rendering are part of what identifies an entry:
-- a hit never renders values for another session's settings
SELECT cache_invalidate('tz');
SELECT cache_aside_query('tz', 'SELECT ''2024-01-01 00:00:00+00''::timestamptz AS t', 60);
SET TimeZone = 'Asia/Tokyo';
SELECT cache_aside_query('tz', 'SELECT ''2024-01-01 00:00:00+00''::timestamptz AS t', 60);
SET extra_float_digits = 0;
SELECT cache_aside_query('float', 'SELECT 0.1::float8 + 0.2 AS f', 60);
SET extra_float_digits = 1;
SELECT cache_aside_query('float', 'SELECT 0.1::float8 + 0.2 AS f', 60);
SET DateStyle = 'ISO, MDY';
SELECT cache_aside_query('datestyle', 'SELECT ''01/02/2024''::date AS d', 60);
SET DateStyle = 'ISO, DMY';
SELECT cache_aside_query('datestyle', 'SELECT ''01/02/2024''::date AS d', 60);
SET IntervalStyle = 'postgres';
SELECT cache_aside_query('intervalstyle', 'SELECT ''1 day 2 hours''::interval AS i', 60);
SET IntervalStyle = 'iso_8601';
SELECT cache_aside_query('intervalstyle', 'SELECT ''1 day 2 hours''::interval AS i', 60);
SET bytea_output = 'hex';
SELECT cache_aside_query('bytea', 'SELECT ''\xc3a9''::bytea AS b', 60);
SET bytea_output = 'escape';
SELECT cache_aside_query('bytea', 'SELECT ''\xc3a9''::bytea AS b', 60);
-- back to the first settings: a miss again, never the other setting's text
SET bytea_output = 'hex';
SELECT cache_aside_query('bytea', 'SELECT ''\xc3a9''::bytea AS b', 60);
RESET bytea_output;
RESET IntervalStyle;
RESET extra_float_digits;
RESET TimeZone;
RESET DateStyle;
-- so are the locale and text search settings and the search path: each
-- query below returns what it ran under, so an entry served across a
-- change of them would show the other value
SET lc_time = 'C';
SET lc_monetary = 'C';
SET lc_numeric = 'C';
SELECT cache_aside_query('lc', 'SELECT current_setting(''lc_time'') AS t, current_setting(''lc_monetary'') AS m, current_setting(''lc_numeric'') AS n', 60);
SET lc_time = 'POSIX';
SELECT cache_aside_query('lc', 'SELECT current_setting(''lc_time'') AS t, current_setting(''lc_monetary'') AS m, current_setting(''lc_numeric'') AS n', 60);
SET lc_monetary = 'POSIX';
SELECT cache_aside_query('lc', 'SELECT current_setting(''lc_time'') AS t, current_setting(''lc_monetary'') AS m, current_setting(''lc_numeric'') AS n', 60);
SET lc_numeric = 'POSIX';
SELECT cache_aside_query('lc', 'SELECT current_setting(''lc_time'') AS t, current_setting(''lc_monetary'') AS m, current_setting(''lc_numeric'') AS n', 60);
SET lc_time = 'C';
SET lc_monetary = 'C';
SET lc_numeric = 'C';
SELECT cache_aside_query('lc', 'SELECT current_setting(''lc_time'') AS t, current_setting(''lc_monetary'') AS m, current_setting(''lc_numeric'') AS n', 60);
RESET lc_time;
RESET lc_monetary;
RESET lc_numeric;
SET default_text_search_config = 'pg_catalog.english';
SELECT cache_aside_query('tsconfig', 'SELECT to_tsvector(''running'') AS v', 60);
SET default_text_search_config = 'pg_catalog.simple';
SELECT cache_aside_query('tsconfig', 'SELECT to_tsvector(''running'') AS v', 60);
RESET default_text_search_config;
-- time zone abbreviations change how a literal is read ('EST' is UTC+10
-- under 'Australia'), quote_all_identifiers how identifiers are quoted
SELECT cache_aside_query('tzabbrev', 'SELECT ''2024-01-01 12:00 EST''::timestamptz AT TIME ZONE ''UTC'' AS t', 60);
SET timezone_abbreviations = 'Australia';
SELECT cache_aside_query('tzabbrev', 'SELECT ''2024-01-01 12:00 EST''::timestamptz AT TIME ZONE ''UTC'' AS t', 60);
RESET timezone_abbreviations;
SELECT cache_aside_query('tzabbrev', 'SELECT ''2024-01-01 12:00 EST''::timestamptz AT TIME ZONE ''UTC'' AS t', 60);
SELECT cache_aside_query('quoteall', 'SELECT quote_ident(''abc'') AS q, format(''%I'', ''abc'') AS f', 60);
SET quote_all_identifiers = on;
SELECT cache_aside_query('quoteall', 'SELECT quote_ident(''abc'') AS q, format(''%I'', ''abc'') AS f', 60);
RESET quote_all_identifiers;
SELECT cache_aside_query('quoteall', 'SELECT quote_ident(''abc'') AS q, format(''%I'', ''abc'') AS f', 60);
-- backslash_quote = off refuses \' in an E'' literal: the query's own error
SELECT cache_aside_query('bsquote', $q$SELECT E'it\'s' AS s$q$, 60);
SET backslash_quote = off;
SELECT cache_aside_query('bsquote', $q$SELECT E'it\'s' AS s$q$, 60);
\echo :LAST_ERROR_SQLSTATE
SET backslash_quote = on;
SELECT cache_aside_query('bsquote', $q$SELECT E'it\'s' AS s$q$, 60);
RESET backslash_quote;
SELECT cache_aside_query('bsquote', $q$SELECT E'it\'s' AS s$q$, 60);
-- at its default, it is refused too under a client-only encoding
SET client_encoding = 'SJIS';
SELECT cache_aside_query('bsquote', $q$SELECT E'it\'s' AS s$q$, 60);
\echo :LAST_ERROR_SQLSTATE
RESET client_encoding;
-- gin_fuzzy_search_limit bounds the rows a GIN index scan returns (about
-- the limit, at random): a count under the limit is not the full count
CREATE TABLE fp_gin (a int[]);
INSERT INTO fp_gin SELECT ARRAY[1, g] FROM generate_series(1, 20000) g;
CREATE INDEX fp_gin_a ON fp_gin USING gin (a);
ANALYZE fp_gin;
SET enable_seqscan = off;
SELECT cache_aside_query('ginfuzzy', 'SELECT count(*) AS c FROM fp_gin WHERE a @> ARRAY[1]', 60);
SET gin_fuzzy_search_limit = 100;
SELECT (cache_aside_query('ginfuzzy', 'SELECT count(*) AS c FROM fp_gin WHERE a @> ARRAY[1]', 60) -> 0 ->> 'c')::int < 20000 AS limited;
RESET gin_fuzzy_search_limit;
SELECT cache_aside_query('ginfuzzy', 'SELECT count(*) AS c FROM fp_gin WHERE a @> ARRAY[1]', 60);
RESET enable_seqscan;
DROP TABLE fp_gin;
CREATE SCHEMA fp_a;
CREATE SCHEMA fp_b;
SET search_path = fp_a, public;
SELECT cache_aside_query('path', 'SELECT current_schemas(false) AS s', 60);
SET search_path = fp_b, public;
SELECT cache_aside_query('path', 'SELECT current_schemas(false) AS s', 60);
RESET search_path;
DROP SCHEMA fp_a, fp_b;
