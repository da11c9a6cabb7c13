--
-- Parameters are bound as $1..$n, never pasted into the SQL text.
--
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2),
					tags text[], added date);
INSERT INTO items VALUES (1, 'apple', 1.20, '{fruit,red}', '2024-01-01'),
	(2, 'bread', 2.50, '{bakery}', '2024-01-02'),
	(3, 'o''clock', 0.99, '{}', NULL);

SELECT cache_aside_query('p:int', 'SELECT name FROM items WHERE id = $1', 60, 2);
SELECT cache_aside_query('p:two', 'SELECT name FROM items WHERE id > $1 AND price < $2 ORDER BY id',
						 60, 1, 3.0);
SELECT cache_aside_query('p:text', 'SELECT id FROM items WHERE name = $1', 60, 'o''clock'::text);
-- an untyped literal takes the type the SQL gives its $n (text here)
SELECT cache_aside_query('p:unknown', 'SELECT id FROM items WHERE name = $1', 60, 'bread');
SELECT cache_aside_query('p:array', 'SELECT id FROM items WHERE tags && $1 ORDER BY id', 60,
						 ARRAY['red', 'bakery']);
SELECT cache_aside_query('p:date', 'SELECT name FROM items WHERE added = $1', 60, '2024-01-02'::date);
SELECT cache_aside_query('p:bool', 'SELECT $1 AS yes, NOT $1 AS no', 60, true);
SELECT cache_aside_query('p:null', 'SELECT count(*) AS n FROM items WHERE added IS NOT DISTINCT FROM $1', 60,
						 NULL::date);
SELECT cache_aside_query('p:jsonb', 'SELECT $1 -> ''a'' AS a', 60, '{"a": [1, 2]}'::jsonb);

-- injection attempts are values, not SQL
SELECT cache_aside_query('p:inject', 'SELECT count(*) AS n FROM items WHERE name = $1', 60,
						 ''' OR ''1''=''1');
SELECT cache_aside_query('p:inject2', 'SELECT $1::text AS v', 60, '1; DROP TABLE items; --');
SELECT count(*) FROM items;

-- VARIADIC with an explicit array binds its elements
SELECT cache_aside_query('p:variadic', 'SELECT $1 + $2 AS sum', 60, VARIADIC ARRAY[20, 22]);
SELECT cache_aside_query('p:variadic-null', 'SELECT 1 AS one', 60, VARIADIC NULL::int[]);

-- hits with parameters return the same rows (seen with automatic
-- invalidation off, which serves them after the UPDATE)
SET cacheaside.auto_invalidate = off;
UPDATE items SET name = 'banana' WHERE id = 2;
SELECT cache_aside_query('p:int', 'SELECT name FROM items WHERE id = $1', 60, 2);
SELECT cache_aside_query('p:int', 'SELECT name FROM items WHERE id = $1', 60, 1);
RESET cacheaside.auto_invalidate;

-- errors with parameters are PostgreSQL's own
SELECT cache_aside_query('p:missing', 'SELECT $2 AS v', 60, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('p:type', 'SELECT name FROM items WHERE id = $1', 60, 'x'::text);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('p:bad-value', 'SELECT $1::int AS v', 60, 'not a number');
\echo :LAST_ERROR_SQLSTATE
-- parameters whose text does not tell their values apart: floats under
-- extra_float_digits 0 or less (rounded), OID alias types (a name, not
-- the object: a table created again has the same name, another OID)
SET extra_float_digits = 0;
SELECT cache_aside_query('p:float', 'SELECT $1 = 0.3::float8 AS eq', 60, 0.1::float8 + 0.2::float8);
SELECT cache_aside_query('p:float', 'SELECT $1 = 0.3::float8 AS eq', 60, 0.3::float8);
SELECT cache_aside_query('p:float[]', 'SELECT $1[1] = 0.3::float8 AS eq', 60, ARRAY[0.1::float8 + 0.2::float8]);
SELECT cache_aside_query('p:float[]', 'SELECT $1[1] = 0.3::float8 AS eq', 60, ARRAY[0.3::float8]);
SHOW extra_float_digits;
RESET extra_float_digits;
CREATE TABLE p_named (tbl regclass, n int);
CREATE TABLE p_target (x int);
INSERT INTO p_named VALUES ('p_target', 7);
SELECT cache_aside_query('p:regclass', 'SELECT count(*) AS c FROM p_named WHERE tbl = $1', 60, 'p_target'::regclass);
SELECT cache_aside_query('p:regclass[]', 'SELECT count(*) AS c FROM p_named WHERE tbl = ANY ($1)', 60, ARRAY['p_target'::regclass]);
DROP TABLE p_target;
CREATE TABLE p_target (x int);
SELECT cache_aside_query('p:regclass', 'SELECT count(*) AS c FROM p_named WHERE tbl = $1', 60, 'p_target'::regclass);
SELECT cache_aside_query('p:regclass[]', 'SELECT count(*) AS c FROM p_named WHERE tbl = ANY ($1)', 60, ARRAY['p_target'::regclass]);
-- also inside a composite (and an array of one); a composite with a column
-- that has no binary form (aclitem) counts by its text, without an error
CREATE TYPE p_rc AS (t regclass);
CREATE TYPE p_rca AS (t regclass, a aclitem);
UPDATE p_named SET tbl = 'p_target';
SELECT cache_aside_query('p:regclass()', 'SELECT count(*) AS c FROM p_named WHERE tbl = ($1).t', 60, ROW('p_target')::p_rc);
SELECT cache_aside_query('p:regclass()[]', 'SELECT count(*) AS c FROM p_named WHERE tbl = ($1[1]).t', 60, ARRAY[ROW('p_target')::p_rc]);
SELECT cache_aside_query('p:regclass(acl)', 'SELECT count(*) AS c FROM p_named WHERE tbl = ($1).t', 60, ROW('p_target', 'postgres=r/postgres')::p_rca);
DROP TABLE p_target;
CREATE TABLE p_target (x int);
SELECT cache_aside_query('p:regclass()', 'SELECT count(*) AS c FROM p_named WHERE tbl = ($1).t', 60, ROW('p_target')::p_rc);
SELECT cache_aside_query('p:regclass()[]', 'SELECT count(*) AS c FROM p_named WHERE tbl = ($1[1]).t', 60, ARRAY[ROW('p_target')::p_rc]);
DROP TABLE p_named, p_target;
DROP TYPE p_rc, p_rca;
-- a timestamptz under a DateStyle other than ISO prints its zone's
-- abbreviation: the two instants of the hour Moscow repeated on 26 October
-- 2014 (MSK both times) print the same
SET timezone = 'Europe/Moscow';
SET datestyle = 'Postgres, MDY';
SELECT '2014-10-25 21:30:00+00'::timestamptz AS a, '2014-10-25 22:30:00+00'::timestamptz AS b;
SELECT cache_aside_query('p:msk', 'SELECT extract(epoch FROM $1) AS e', 60, '2014-10-25 21:30:00+00'::timestamptz);
SELECT cache_aside_query('p:msk', 'SELECT extract(epoch FROM $1) AS e', 60, '2014-10-25 22:30:00+00'::timestamptz);
SET datestyle = 'SQL, DMY';
SELECT cache_aside_query('p:msk[]', 'SELECT extract(epoch FROM $1[1]) AS e', 60, ARRAY['2014-10-25 21:30:00+00'::timestamptz]);
SELECT cache_aside_query('p:msk[]', 'SELECT extract(epoch FROM $1[1]) AS e', 60, ARRAY['2014-10-25 22:30:00+00'::timestamptz]);
SHOW datestyle;
RESET datestyle;
RESET timezone;
