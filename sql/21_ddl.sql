--
-- What a query's text means can change without a write to any table it
-- read: a name comes to resolve to another object, a function it calls is
-- replaced or gets a better-matching overload, a domain gets a
-- constraint.  A transaction that creates, alters or drops a permanent
-- object counts as a write to its whole database (README, Automatic
-- invalidation): after it commits, every entry of the database is a miss;
-- before, the transaction itself is served none and stores none.
-- probe() is 10_auto_invalidate's: hit, or miss and whether it was stored.
--
SELECT cache_invalidate('ddl*') >= 0 AS cleared;
CREATE SCHEMA ddl_a;
CREATE SCHEMA ddl_b;
CREATE TABLE ddl_b.item (v text);
INSERT INTO ddl_b.item VALUES ('b');
CREATE TABLE ddl_other (v text);
INSERT INTO ddl_other VALUES ('other');
SET search_path = ddl_a, ddl_b, public;
SELECT probe('ddl-item', 'SELECT v FROM item');
SELECT probe('ddl-item', 'SELECT v FROM item');

-- a table of the same name, earlier in the search path
CREATE TABLE ddl_a.item (v text);
INSERT INTO ddl_a.item VALUES ('a');
SELECT probe('ddl-item', 'SELECT v FROM item');
SELECT probe('ddl-item', 'SELECT v FROM item');
-- dropped again: ddl_b's table
DROP TABLE ddl_a.item;
SELECT probe('ddl-item', 'SELECT v FROM item');

-- in the transaction that makes it, before COMMIT: neither served nor
-- stored; other sessions are served the entry until COMMIT (isolation
-- spec ddl)
SELECT probe('ddl-item', 'SELECT v FROM item');
BEGIN;
CREATE TABLE ddl_a.item (v text);
INSERT INTO ddl_a.item VALUES ('a2');
SELECT probe('ddl-item', 'SELECT v FROM item');
ROLLBACK;
-- rolled back: the entry is still a hit
SELECT probe('ddl-item', 'SELECT v FROM item');
-- made in a subtransaction rolled back: not served in the transaction
-- (whether the object is there is told at COMMIT), a hit after it
BEGIN;
SAVEPOINT s;
CREATE TABLE ddl_a.item (v text);
ROLLBACK TO SAVEPOINT s;
SELECT probe('ddl-item', 'SELECT v FROM item');
COMMIT;
SELECT probe('ddl-item', 'SELECT v FROM item');

-- a permanent table made and dropped again by one transaction counts too
-- (CREATE OR REPLACE looks like a creation to the hook, and a savepoint
-- may bring a dropped object back)
BEGIN;
CREATE TABLE ddl_scratch (id serial PRIMARY KEY, v text DEFAULT 'x' CHECK (v <> ''));
CREATE INDEX ON ddl_scratch (v);
ALTER TABLE ddl_scratch ADD COLUMN w int;
INSERT INTO ddl_scratch (v) VALUES ('y');
DROP TABLE ddl_scratch;
COMMIT;
SELECT probe('ddl-item', 'SELECT v FROM item');
SELECT probe('ddl-item', 'SELECT v FROM item');
-- kept: a miss after COMMIT, and no entry in the transaction after it
BEGIN;
CREATE TABLE ddl_scratch (id int);
SELECT probe('ddl-item', 'SELECT v FROM item');
COMMIT;
SELECT probe('ddl-item', 'SELECT v FROM item');
-- an existing permanent table dropped
DROP TABLE ddl_scratch;
SELECT probe('ddl-item', 'SELECT v FROM item');
-- made, then dropped in a savepoint rolled back: it is there at COMMIT
BEGIN;
CREATE TABLE ddl_a.item (v text);
INSERT INTO ddl_a.item VALUES ('a4');
SAVEPOINT s;
DROP TABLE ddl_a.item;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT probe('ddl-item', 'SELECT v FROM item');
DROP TABLE ddl_a.item;
SELECT probe('ddl-item', 'SELECT v FROM item');
-- the same in a PL/pgSQL block's exception handler
CREATE FUNCTION ddl_ov(numeric) RETURNS text LANGUAGE sql AS $$ SELECT 'numeric' $$;
SELECT probe('ddl-ov', 'SELECT ddl_ov(1) AS v');
DO $$
BEGIN
	CREATE FUNCTION ddl_ov(int) RETURNS text LANGUAGE sql AS $f$ SELECT 'int' $f$;
	BEGIN
		DROP FUNCTION ddl_ov(int);
		RAISE EXCEPTION 'undo the drop';
	EXCEPTION WHEN raise_exception THEN NULL;
	END;
END
$$;
SELECT probe('ddl-ov', 'SELECT ddl_ov(1) AS v');
-- an existing function replaced, then dropped, by one transaction
CREATE FUNCTION ddl_legacy(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT probe('ddl-legacy', $q$SELECT to_regprocedure('ddl_legacy(int)') IS NOT NULL AS present$q$);
BEGIN;
CREATE OR REPLACE FUNCTION ddl_legacy(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
DROP FUNCTION ddl_legacy(int);
COMMIT;
SELECT probe('ddl-legacy', $q$SELECT to_regprocedure('ddl_legacy(int)') IS NOT NULL AS present$q$);

-- a function replaced
CREATE FUNCTION ddl_f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
SELECT probe('ddl-f', 'SELECT ddl_f() AS f');
SELECT probe('ddl-f', 'SELECT ddl_f() AS f');
CREATE OR REPLACE FUNCTION ddl_f() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2';
SELECT probe('ddl-f', 'SELECT ddl_f() AS f');
SELECT probe('ddl-f', 'SELECT ddl_f() AS f');

-- a better-matching overload added
CREATE FUNCTION ddl_g(numeric) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'numeric' $$;
SELECT probe('ddl-g', 'SELECT ddl_g(1) AS g');
SELECT probe('ddl-g', 'SELECT ddl_g(1) AS g');
CREATE FUNCTION ddl_g(int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'int' $$;
SELECT probe('ddl-g', 'SELECT ddl_g(1) AS g');

-- a domain's new constraint: the query fails now
CREATE DOMAIN ddl_pos AS int;
SELECT probe('ddl-pos', 'SELECT 0::ddl_pos AS p');
SELECT probe('ddl-pos', 'SELECT 0::ddl_pos AS p');
ALTER DOMAIN ddl_pos ADD CONSTRAINT ddl_pos_check CHECK (VALUE > 0);
SELECT probe('ddl-pos', 'SELECT 0::ddl_pos AS p');

-- a view replaced (it locks the view: a miss before this change too)
CREATE VIEW ddl_v AS SELECT v FROM ddl_other;
SELECT probe('ddl-v', 'SELECT * FROM ddl_v');
SELECT probe('ddl-v', 'SELECT * FROM ddl_v');
CREATE OR REPLACE VIEW ddl_v AS SELECT upper(v) AS v FROM ddl_other;
SELECT probe('ddl-v', 'SELECT * FROM ddl_v');

-- an index: its name is a relation's name, which regclass resolves
CREATE INDEX ddl_idx ON ddl_other (v);
SELECT probe('ddl-idx', $q$SELECT 'ddl_idx'::regclass::text AS v$q$);
SELECT probe('ddl-idx', $q$SELECT 'ddl_idx'::regclass::text AS v$q$);
ALTER INDEX ddl_idx RENAME TO ddl_idx2;
SELECT probe('ddl-idx', $q$SELECT 'ddl_idx'::regclass::text AS v$q$);

-- not changes of meaning: a comment, statistics, a table's rewrite or a
-- materialized view's refresh (their transient tables are internal; the
-- relation itself is locked, so its own entries miss), a temporary table
-- of another session, a constraint, a trigger
CREATE MATERIALIZED VIEW ddl_mv AS SELECT v FROM ddl_other;
SELECT probe('ddl-item', 'SELECT v FROM item');
REINDEX INDEX ddl_idx2;
SELECT probe('ddl-item', 'SELECT v FROM item');
COMMENT ON TABLE ddl_other IS 'a comment';
SELECT probe('ddl-item', 'SELECT v FROM item');
ANALYZE ddl_other;
SELECT probe('ddl-item', 'SELECT v FROM item');
VACUUM FULL ddl_other;
SELECT probe('ddl-item', 'SELECT v FROM item');
REFRESH MATERIALIZED VIEW ddl_mv;
SELECT probe('ddl-item', 'SELECT v FROM item');
ALTER TABLE ddl_other ADD CONSTRAINT ddl_v_check CHECK (v <> '');
SELECT probe('ddl-item', 'SELECT v FROM item');
CREATE TRIGGER ddl_t BEFORE INSERT ON ddl_other
	FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
SELECT probe('ddl-item', 'SELECT v FROM item');
\c
SET search_path = ddl_a, ddl_b, public;
SELECT probe('ddl-item', 'SELECT v FROM item');
CREATE TEMP TABLE item (v text);
CREATE TEMP VIEW ddl_tv AS SELECT 1 AS one;
CREATE FUNCTION pg_temp.ddl_tf() RETURNS int LANGUAGE sql AS 'SELECT 1';
\c
-- a session without a temporary schema: still a hit
SET search_path = ddl_a, ddl_b, public;
SELECT probe('ddl-item', 'SELECT v FROM item');

-- a role renamed: names of roles appear in results, in every database;
-- other changes of a role do not count
CREATE ROLE regress_ddl_alice;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer) TO regress_ddl_alice;
SET ROLE regress_ddl_alice;
SELECT cache_aside_query('ddl-who', 'SELECT current_user AS u');
RESET ROLE;
SELECT probe('ddl-item', 'SELECT v FROM item');
ALTER ROLE regress_ddl_alice CONNECTION LIMIT 5;
SELECT probe('ddl-item', 'SELECT v FROM item');
ALTER ROLE regress_ddl_alice RENAME TO regress_ddl_alicia;
SET ROLE regress_ddl_alicia;
SELECT cache_aside_query('ddl-who', 'SELECT current_user AS u');
RESET ROLE;
SELECT probe('ddl-item', 'SELECT v FROM item');
-- renamed and back again in one transaction: nothing
BEGIN;
ALTER ROLE regress_ddl_alicia RENAME TO regress_ddl_alice;
ALTER ROLE regress_ddl_alice RENAME TO regress_ddl_alicia;
COMMIT;
SELECT probe('ddl-item', 'SELECT v FROM item');
REVOKE EXECUTE ON FUNCTION cache_aside_query(text, text, integer) FROM regress_ddl_alicia;
DROP ROLE regress_ddl_alicia;

-- a role renamed in a prepared transaction: every database's entries are
-- misses until it ends (the registry of prepared transactions holds 64
-- slots: with more databases, PREPARE is refused)
CREATE ROLE regress_ddl_bob;
BEGIN;
ALTER ROLE regress_ddl_bob RENAME TO regress_ddl_robert;
PREPARE TRANSACTION 'regress_ddl_role';
SELECT probe('ddl-item', 'SELECT v FROM item');
COMMIT PREPARED 'regress_ddl_role';
SELECT probe('ddl-item', 'SELECT v FROM item');
SELECT probe('ddl-item', 'SELECT v FROM item');
\set ECHO none
SELECT format('CREATE DATABASE regress_ddl_db%s TEMPLATE template0', i)
FROM generate_series(1, 64) i \gexec
\set ECHO all
BEGIN;
ALTER ROLE regress_ddl_robert RENAME TO regress_ddl_bob;
PREPARE TRANSACTION 'regress_ddl_role';
SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress_ddl_%' ORDER BY 1;
\set ECHO none
SELECT format('DROP DATABASE regress_ddl_db%s', i)
FROM generate_series(1, 64) i \gexec
\set ECHO all
DROP ROLE regress_ddl_robert;

-- a schema made (a later "$user" schema would come first)
CREATE SCHEMA ddl_c;
SELECT probe('ddl-item', 'SELECT v FROM item');

-- with auto_invalidate off, by TTL only, as for writes
SELECT probe('ddl-item', 'SELECT v FROM item');
SET cacheaside.auto_invalidate = off;
CREATE TABLE ddl_a.item (v text);
INSERT INTO ddl_a.item VALUES ('a3');
SELECT probe('ddl-item', 'SELECT v FROM item');
RESET cacheaside.auto_invalidate;
SELECT probe('ddl-item', 'SELECT v FROM item');

RESET search_path;
SET client_min_messages = warning;
DROP SCHEMA ddl_a, ddl_b, ddl_c CASCADE;
RESET client_min_messages;
DROP TABLE ddl_other CASCADE;
SELECT cache_invalidate('ddl*') > 0 AS removed;
