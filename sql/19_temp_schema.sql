--
-- A temporary table shadows a permanent table of the same name in the
-- session that has it: its temporary schema comes first in the search
-- path.  The fingerprint must tell such a session from one without the
-- temporary schema (README, Guarantees: "search path resolution"): a call
-- must not be served what another session, or the same session before
-- it created its temporary schema, stored from the permanent table.
-- (fetch_search_path_array() leaves the temporary schema out.)
--
CREATE TABLE shadowed (x text);
INSERT INTO shadowed VALUES ('permanent');
SELECT cache_invalidate('shadow*') >= 0 AS cleared;
-- stored from the permanent table
SELECT cache_aside_query('shadow', 'SELECT x FROM shadowed');
CREATE TEMP TABLE shadowed (x text);
INSERT INTO shadowed VALUES ('temporary');
SELECT x FROM shadowed;
-- the query would read the temporary table now
SELECT cache_aside_query('shadow', 'SELECT x FROM shadowed');
\c
-- a new session, without a temporary schema: stored from the permanent table
SELECT cache_aside_query('shadow', 'SELECT x FROM shadowed');
CREATE TEMP TABLE shadowed (x text);
INSERT INTO shadowed VALUES ('temporary');
-- another session's entry must not be served over the temporary table
SELECT cache_aside_query('shadow', 'SELECT x FROM shadowed');
-- pg_temp named explicitly after public: the permanent table again
SET search_path = public, pg_temp;
SELECT cache_aside_query('shadow', 'SELECT x FROM shadowed');
RESET search_path;
DROP TABLE pg_temp.shadowed;
-- a session that already has a temporary schema stores an entry from the
-- permanent table, then makes a temporary table that hides it
\c
CREATE TEMP TABLE other_temp (y int);
SELECT cache_aside_query('shadow2', 'SELECT x FROM shadowed');
SELECT cache_aside_query('shadow2', 'SELECT x FROM shadowed');
CREATE TEMP TABLE shadowed (x text);
INSERT INTO shadowed VALUES ('temporary');
SELECT cache_aside_query('shadow2', 'SELECT x FROM shadowed');
-- dropped again: the permanent table's rows
DROP TABLE pg_temp.shadowed;
SELECT cache_aside_query('shadow2', 'SELECT x FROM shadowed');
DROP TABLE other_temp;
DROP TABLE shadowed;

-- a temporary table dropped or renamed, then rolled back, hides the
-- permanent table again: an entry stored in between is not served after
CREATE TABLE shadowed3 (x text);
INSERT INTO shadowed3 VALUES ('permanent');
CREATE TEMP TABLE shadowed3 (x text);
INSERT INTO shadowed3 VALUES ('temporary');
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
BEGIN;
SAVEPOINT s;
ALTER TABLE pg_temp.shadowed3 RENAME TO shadowed3_old;
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
ROLLBACK TO SAVEPOINT s;
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
COMMIT;
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
BEGIN;
DROP TABLE pg_temp.shadowed3;
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
ROLLBACK;
SELECT cache_aside_query('shadow3', 'SELECT x FROM shadowed3');
DROP TABLE pg_temp.shadowed3;
DROP TABLE shadowed3;
