--
-- Untyped values: literals written without a type, and parameters a driver
-- sends without one (type 0), take the type the cached SQL gives their $n,
-- as if the SQL had been sent directly with the same values.
--
CREATE TABLE ut (id int PRIMARY KEY, big bigint, price numeric(8,2),
				 ok boolean, at timestamptz, uid uuid, tags text[],
				 doc jsonb, name text);
INSERT INTO ut VALUES
	(1, 9007199254740993, 1.20, true, '2024-01-01 10:00+00',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{red,fruit}', '{"a": 1}', 'apple'),
	(2, 2, 2.50, false, '2024-01-02 10:00+00',
	 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '{}', '{"a": 2}', 'bread');
SET TIME ZONE 'UTC';

-- Calls whose hits this file counts
CREATE FUNCTION untyped_stats(sql text, OUT calls bigint, OUT hits bigint)
LANGUAGE sql AS $$
	SELECT calls, hits FROM cache_stats
	WHERE query = sql AND userid = current_user::regrole
		AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

-- untyped literals compared with typed columns
SELECT cache_aside_query('u:int', 'SELECT name FROM ut WHERE id = $1', 60, '2');
SELECT cache_aside_query('u:int', 'SELECT name FROM ut WHERE id = $1', 60, '2');
SELECT * FROM untyped_stats('SELECT name FROM ut WHERE id = $1');
SELECT cache_aside_query('u:big', 'SELECT id FROM ut WHERE big = $1', 60, '9007199254740993');
SELECT cache_aside_query('u:num', 'SELECT id FROM ut WHERE price < $1 ORDER BY id', 60, '2.00');
SELECT cache_aside_query('u:bool', 'SELECT id FROM ut WHERE ok = $1', 60, 'false');
SELECT cache_aside_query('u:ts', 'SELECT id FROM ut WHERE at > $1', 60, '2024-01-01 12:00');
SELECT cache_aside_query('u:uuid', 'SELECT id FROM ut WHERE uid = $1', 60,
						 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12');
SELECT cache_aside_query('u:array', 'SELECT id FROM ut WHERE id = ANY($1) ORDER BY id', 60, '{1,2}');
SELECT cache_aside_query('u:empty', 'SELECT id FROM ut WHERE id = ANY($1)', 60, '{}');
SELECT cache_aside_query('u:tags', 'SELECT id FROM ut WHERE tags && $1', 60, '{red}');
SELECT cache_aside_query('u:json', 'SELECT id FROM ut WHERE doc @> $1', 60, '{"a": 2}');
SELECT cache_aside_query('u:text', 'SELECT id FROM ut WHERE name = $1', 60, 'apple');
-- a type the SQL does not decide stays unknown (text where it is output)
SELECT cache_aside_query('u:out', 'SELECT $1 AS v, $2 IS NULL AS n', 60, 'x', 'y');
-- typed and untyped together; the untyped one gets the type of its place
SELECT cache_aside_query('u:mixed', 'SELECT $1 + $2 AS sum', 60, 40, '2');
-- a NULL without a type: the type of its place
SELECT cache_aside_query('u:null', 'SELECT count(*) AS n FROM ut WHERE coalesce($1, id) = id', 60, NULL);
-- a cast in the SQL decides
SELECT cache_aside_query('u:cast', 'SELECT $1::date + 1 AS next', 60, '2024-02-28');

-- Parameters sent without a type, as drivers that bind on the server send
-- them (PREPARE without types is analyzed the same way): they become
-- cache_untyped, and the call infers their types.
PREPARE by_id AS SELECT cache_aside_query('u:prep', 'SELECT name FROM ut WHERE id = $1', 60, $1);
SELECT name, parameter_types FROM pg_prepared_statements WHERE name = 'by_id';
EXECUTE by_id('1');
EXECUTE by_id('1');
SELECT * FROM untyped_stats('SELECT name FROM ut WHERE id = $1');
EXECUTE by_id(NULL);
PREPARE by_uid_at AS SELECT cache_aside_query('u:prep2',
	'SELECT id FROM ut WHERE uid = $1 AND at >= $2 AND ok = $3', 60, $1, $2, $3);
SELECT parameter_types FROM pg_prepared_statements WHERE name = 'by_uid_at';
EXECUTE by_uid_at('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-01', 't');
-- in a FROM clause and in a subquery too
PREPARE in_from AS SELECT * FROM json_to_recordset(
	cache_aside_query('u:from', 'SELECT id, price FROM ut WHERE id >= $1 ORDER BY id', 60, $1))
	AS r(id int, price numeric);
EXECUTE in_from('1');
PREPARE in_sub AS SELECT (SELECT cache_aside_query('u:sub', 'SELECT $1::int * 2 AS d', 60, $1)) AS v;
EXECUTE in_sub('21');
-- the outer statement's $n and the cached SQL's $n are numbered apart:
-- the key's $1 is text, the query's $1 is the outer $2
PREPARE numbered AS SELECT cache_aside_query('u:n:' || $1, 'SELECT name FROM ut WHERE id = $1', 60, $2);
SELECT parameter_types FROM pg_prepared_statements WHERE name = 'numbered';
EXECUTE numbered('2', '2');
-- a parameter typed before in the statement keeps that type; typed after,
-- it is ambiguous, as in any statement
PREPARE typed_before AS SELECT $1::int AS i, cache_aside_query('u:te', 'SELECT $1 AS v', 60, $1);
SELECT parameter_types FROM pg_prepared_statements WHERE name = 'typed_before';
EXECUTE typed_before('5');
PREPARE typed_after AS SELECT cache_aside_query('u:te', 'SELECT $1 AS v', 60, $1), $1::int AS i;
\echo :LAST_ERROR_SQLSTATE
-- only cache_aside_query's parameters: another function's "any" still
-- cannot tell
PREPARE not_ours AS SELECT num_nulls($1);
\echo :LAST_ERROR_SQLSTATE
-- the value of type cache_untyped is its text
SELECT 'abc'::cache_untyped;
SELECT cache_aside_query('u:explicit', 'SELECT id FROM ut WHERE id = $1', 60, '1'::cache_untyped);
SELECT cache_aside_query('u:variadic', 'SELECT id FROM ut WHERE id = $1 OR uid = $2 ORDER BY id', 60,
						 VARIADIC ARRAY['1', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12']::cache_untyped[]);

-- typed and untyped calls of the same SQL and values are separate entries
SELECT cache_aside_query('u:sep', 'SELECT $1 AS v', 60, '7'::text);
SELECT cache_aside_query('u:sep', 'SELECT $1 AS v', 60, '7');
SELECT cache_aside_query('u:sep', 'SELECT $1 AS v', 60, '7');
SELECT cache_aside_query('u:sep', 'SELECT $1 AS v', 60, '7'::text);
SELECT * FROM untyped_stats('SELECT $1 AS v');

-- the time zone is part of an entry: the same text is another instant
SELECT cache_aside_query('u:tz', 'SELECT id FROM ut WHERE at > $1 ORDER BY id', 60, '2024-01-01 05:00');
SET TIME ZONE 'America/New_York';
SELECT cache_aside_query('u:tz', 'SELECT id FROM ut WHERE at > $1 ORDER BY id', 60, '2024-01-01 05:00');
SET TIME ZONE 'UTC';

-- errors are PostgreSQL's own
SELECT cache_aside_query('u:bad', 'SELECT name FROM ut WHERE id = $1', 60, 'abc');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('u:bad', 'SELECT name FROM ut WHERE uid = $1', 60, '42');
\echo :LAST_ERROR_SQLSTATE
EXECUTE by_id('x');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('u:missing', 'SELECT $2 AS v', 60, '1');
\echo :LAST_ERROR_SQLSTATE
-- one $n both left unknown and typed: as when sent directly
SELECT cache_aside_query('u:ambiguous', 'SELECT $1 IS NULL AS n, $1 = 1 AS one', 60, '1');
\echo :LAST_ERROR_SQLSTATE
PREPARE direct AS SELECT $1 IS NULL AS n, $1 = 1 AS one;
\echo :LAST_ERROR_SQLSTATE
-- a value whose text cannot be of the type the SQL gives it
SELECT cache_aside_query('u:op', 'SELECT name FROM ut WHERE id = $1', 60, '1.5');
\echo :LAST_ERROR_SQLSTATE

DEALLOCATE ALL;
DROP FUNCTION untyped_stats(text);
DROP TABLE ut;
