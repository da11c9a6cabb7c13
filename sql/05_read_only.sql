--
-- Only one read-only query runs; everything else is refused before it can
-- change anything.
--
CREATE TABLE ro (id int PRIMARY KEY, v text);
INSERT INTO ro VALUES (1, 'one'), (2, 'two');
CREATE SEQUENCE ro_seq;
CREATE FUNCTION ro_writer() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO ro VALUES (99, 'written'); RETURN 1; END $$;

SELECT cache_aside_query('ro', 'INSERT INTO ro VALUES (3, ''three'')', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'UPDATE ro SET v = ''x''', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'DELETE FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'MERGE INTO ro USING (VALUES (1)) s(id) ON ro.id = s.id WHEN MATCHED THEN DELETE', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'INSERT INTO ro VALUES (4, ''four'') RETURNING *', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'DROP TABLE ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'CREATE TABLE ro2 (x int)', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'TRUNCATE ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT * INTO ro3 FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'CREATE TABLE ro4 AS SELECT * FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'EXPLAIN ANALYZE DELETE FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'COMMIT', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SET search_path = pg_catalog', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'COPY ro TO STDOUT', 60);
\echo :LAST_ERROR_SQLSTATE

-- data-modifying WITH, at the top or nested
SELECT cache_aside_query('ro', 'WITH d AS (DELETE FROM ro RETURNING *) SELECT * FROM d', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'WITH d AS (UPDATE ro SET v = ''x'' RETURNING *) SELECT 1', 60);
\echo :LAST_ERROR_SQLSTATE

-- row locks, at the top or in a subquery
SELECT cache_aside_query('ro', 'SELECT * FROM ro FOR UPDATE', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT * FROM ro FOR SHARE', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT * FROM (SELECT * FROM ro FOR UPDATE) s', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT (SELECT v FROM ro WHERE id = 1 FOR KEY SHARE) AS v', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'WITH l AS (SELECT * FROM ro FOR NO KEY UPDATE) SELECT * FROM l', 60);
\echo :LAST_ERROR_SQLSTATE

-- more or fewer than one statement
SELECT cache_aside_query('ro', 'SELECT 1; SELECT 2', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT 1; DELETE FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', '', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', '  -- only a comment', 60);
\echo :LAST_ERROR_SQLSTATE

-- functions called by the query cannot write either
SELECT cache_aside_query('ro', 'SELECT ro_writer()', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT nextval(''ro_seq'')', 60);
\echo :LAST_ERROR_SQLSTATE

-- nothing was written, nothing was stored
SELECT * FROM ro ORDER BY id;
SELECT last_value, is_called FROM ro_seq;
SELECT test_redis('EXISTS', test_rkey('ro'));
SELECT to_regclass('ro2') IS NULL AS no_ro2, to_regclass('ro3') IS NULL AS no_ro3,
	   to_regclass('ro4') IS NULL AS no_ro4;

-- the read-only setting is the query's alone: the transaction can still write
BEGIN;
SELECT cache_aside_query('ro-ok', 'SELECT count(*) AS n FROM ro', 60);
INSERT INTO ro VALUES (5, 'five');
SHOW transaction_read_only;
ROLLBACK;
BEGIN;
SELECT cache_aside_query('ro', 'SELECT ro_writer()', 60);
ROLLBACK;
SHOW transaction_read_only;
INSERT INTO ro VALUES (6, 'six');
DELETE FROM ro WHERE id = 6;

-- syntax errors and missing relations are PostgreSQL's own errors
SELECT cache_aside_query('ro', 'SELEC 1', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT * FROM no_such_table', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT no_such_column FROM ro', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('ro', 'SELECT 1/0', 60);
\echo :LAST_ERROR_SQLSTATE
-- a failed call leaves nothing behind
SELECT test_redis('EXISTS', test_rkey('ro'));
