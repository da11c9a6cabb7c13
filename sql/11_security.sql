--
-- Security of a shared cache: no row reaches a role that the database would
-- refuse.  A hit makes again the privilege checks running the query would
-- make (tables, columns, views as their owner, functions, schemas named in
-- the SQL); when one fails the query runs and raises its own error, or
-- returns its rows uncached.  Results under row-level security are never
-- cached; entries are per role; settings that reach Redis are for
-- superusers only.
--
-- Stale rows show which calls were hits (the table is updated behind the
-- entry), so hits are not checked against writes here.
--
SET cacheaside.auto_invalidate = off;
SELECT test_redis('FLUSHDB');

CREATE ROLE regress_ca_owner;
CREATE ROLE regress_ca_reader;		-- granted, then revoked
CREATE ROLE regress_ca_columns;		-- granted some columns only
CREATE ROLE regress_ca_viewer;		-- granted a view only
CREATE ROLE regress_ca_alice;		-- under row-level security
CREATE ROLE regress_ca_bob;
CREATE ROLE regress_ca_invalidator;	-- may only invalidate
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer),
	cache_aside_query(text, text, integer, "any")
	TO regress_ca_owner, regress_ca_reader, regress_ca_columns,
	   regress_ca_viewer, regress_ca_alice, regress_ca_bob;
GRANT CREATE ON SCHEMA public TO regress_ca_owner;

SET ROLE regress_ca_owner;
CREATE TABLE secret (id int, label text, hidden text);
INSERT INTO secret VALUES (1, 'one', 'h1'), (2, 'two', 'h2');
GRANT SELECT ON secret TO regress_ca_reader;
GRANT SELECT (id, label) ON secret TO regress_ca_columns;
RESET ROLE;

-- updates behind the entries, so that a hit shows stale rows
CREATE FUNCTION bump() RETURNS void LANGUAGE sql AS
	$$ UPDATE secret SET label = label || '+' $$;

-- ---------------------------------------------------------------------------
-- table privileges: REVOKE takes effect on the next call, hit or not
SET ROLE regress_ca_reader;
SELECT cache_aside_query('secret', 'SELECT id, label FROM secret ORDER BY id', 600);
RESET ROLE;
SELECT bump();
SET ROLE regress_ca_reader;
-- a hit: the stale rows
SELECT cache_aside_query('secret', 'SELECT id, label FROM secret ORDER BY id', 600);
RESET ROLE;
REVOKE SELECT ON secret FROM regress_ca_reader;
SELECT test_redis('EXISTS', test_rkey('secret')) AS stored;
SET ROLE regress_ca_reader;
\set VERBOSITY default
SELECT cache_aside_query('secret', 'SELECT id, label FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- the entry is still there; the GRANT back changes the table's catalog
-- row, which the entry recorded: a miss, then hits again
SELECT test_redis('EXISTS', test_rkey('secret')) AS stored;
GRANT SELECT ON secret TO regress_ca_reader;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('secret', 'SELECT id, label FROM secret ORDER BY id', 600);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- column privileges
SET ROLE regress_ca_columns;
SELECT cache_aside_query('cols', 'SELECT id, label FROM secret ORDER BY id', 600);
SELECT cache_aside_query('hidden', 'SELECT hidden FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('all', 'SELECT * FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT bump();
SET ROLE regress_ca_columns;
SELECT cache_aside_query('cols', 'SELECT id, label FROM secret ORDER BY id', 600);
RESET ROLE;
REVOKE SELECT (label) ON secret FROM regress_ca_columns;
SET ROLE regress_ca_columns;
SELECT cache_aside_query('cols', 'SELECT id, label FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
-- the column still granted is still served
SELECT cache_aside_query('cols-id', 'SELECT id FROM secret ORDER BY id', 600);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- a view: the caller needs SELECT on the view, the view's owner on the table
CREATE ROLE regress_ca_view_owner;
GRANT SELECT ON secret TO regress_ca_view_owner;
GRANT CREATE ON SCHEMA public TO regress_ca_view_owner;
SET ROLE regress_ca_view_owner;
CREATE VIEW secret_view AS SELECT id, label FROM secret;
GRANT SELECT ON secret_view TO regress_ca_viewer;
RESET ROLE;
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view', 'SELECT * FROM secret_view ORDER BY id', 600);
-- the table itself stays refused
SELECT cache_aside_query('table', 'SELECT * FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT bump();
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view', 'SELECT * FROM secret_view ORDER BY id', 600);
RESET ROLE;
-- the view's owner loses the table: the hit is refused as the query would be
REVOKE SELECT ON secret FROM regress_ca_view_owner;
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view', 'SELECT * FROM secret_view ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON secret TO regress_ca_view_owner;
REVOKE SELECT ON secret_view FROM regress_ca_viewer;
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view', 'SELECT * FROM secret_view ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the view turned security_invoker (hits checked against TTL only here,
-- so only the recorded version of the view tells it changed)
GRANT SELECT ON secret_view TO regress_ca_viewer;
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view2', 'SELECT * FROM secret_view ORDER BY id', 600);
RESET ROLE;
ALTER VIEW secret_view SET (security_invoker = on);
SET ROLE regress_ca_viewer;
SELECT cache_aside_query('view2', 'SELECT * FROM secret_view ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
ALTER VIEW secret_view RESET (security_invoker);
REVOKE SELECT ON secret_view FROM regress_ca_viewer;

-- cursors opened before the call, which its query could read: not cached
SET ROLE regress_ca_reader;
BEGIN;
DECLARE c CURSOR FOR SELECT id, label FROM secret ORDER BY id;
SELECT cache_aside_query('cursor', 'SELECT cursor_to_xml(''c''::refcursor, 1, false, false, '''') AS x', 600);
COMMIT;
BEGIN;
DECLARE h CURSOR WITH HOLD FOR SELECT id FROM secret ORDER BY id;
COMMIT;
SELECT cache_aside_query('held', 'SELECT 1 AS one', 600);
CLOSE h;
SELECT cache_aside_query('closed', 'SELECT 1 AS one', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('cursor')) AS stored_cursor,
	test_redis('EXISTS', test_rkey('held')) AS stored_held,
	test_redis('EXISTS', test_rkey('closed')) AS stored_closed;
-- a cursor over FETCH ALL keeps rows read before the call
CREATE FUNCTION open_fetch_all() RETURNS refcursor LANGUAGE plpgsql AS
	$$ DECLARE r refcursor := 'fa'; BEGIN OPEN r FOR EXECUTE 'FETCH ALL FROM c1'; RETURN r; END $$;
SET ROLE regress_ca_reader;
BEGIN;
DECLARE c1 CURSOR FOR SELECT id FROM secret ORDER BY id;
SELECT open_fetch_all();
FETCH 1 FROM fa;
SELECT cache_aside_query('fetched', 'SELECT cursor_to_xml(''fa''::refcursor, 10, false, false, '''') AS x', 600);
COMMIT;
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('fetched')) AS stored;
-- the look for cursors WITH HOLD does not need EXECUTE on pg_cursor()
REVOKE EXECUTE ON FUNCTION pg_cursor() FROM PUBLIC;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('no-pg-cursor', 'SELECT 1 AS one', 600);
RESET ROLE;
GRANT EXECUTE ON FUNCTION pg_cursor() TO PUBLIC;
SELECT test_redis('EXISTS', test_rkey('no-pg-cursor')) AS stored;

-- ---------------------------------------------------------------------------
-- functions: an inlined SQL function, a PL/pgSQL one, a SECURITY DEFINER one
SET ROLE regress_ca_owner;
CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
CREATE FUNCTION thrice(int) RETURNS int LANGUAGE plpgsql AS
	$$ BEGIN RETURN $1 * 3; END $$;
CREATE FUNCTION secret_labels() RETURNS SETOF text LANGUAGE sql
	SECURITY DEFINER SET search_path = public, pg_temp AS
	$$ SELECT label FROM public.secret ORDER BY id $$;
REVOKE EXECUTE ON FUNCTION secret_labels() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION secret_labels() TO regress_ca_bob;
RESET ROLE;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('twice', 'SELECT twice(id) AS t FROM secret ORDER BY id', 600);
SELECT cache_aside_query('thrice', 'SELECT thrice(id) AS t FROM secret ORDER BY id', 600);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION twice(int), thrice(int) FROM PUBLIC;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('twice', 'SELECT twice(id) AS t FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('thrice', 'SELECT thrice(id) AS t FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- bob may not read the table, but may call the definer function
SET ROLE regress_ca_bob;
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
RESET ROLE;
SELECT bump();
SET ROLE regress_ca_bob;
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION secret_labels() FROM regress_ca_bob;
SET ROLE regress_ca_bob;
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the definer function turned SECURITY INVOKER: bob's entry is not served
RESET ROLE;
GRANT EXECUTE ON FUNCTION secret_labels() TO regress_ca_bob;
SET ROLE regress_ca_bob;
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
RESET ROLE;
ALTER FUNCTION secret_labels() SECURITY INVOKER;
SET ROLE regress_ca_bob;
SELECT cache_aside_query('definer', 'SELECT * FROM secret_labels() l', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- a check recorded that the query no longer makes: the aggregate's support
-- function is checked as the aggregate's owner, so revoking it from the
-- caller does not refuse the query; the hit is not served, the query runs
-- (and its result is stored without that check)
CREATE FUNCTION my_acc(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + $2';
CREATE AGGREGATE my_sum(int) (SFUNC = my_acc, STYPE = int, INITCOND = '0');
SET ROLE regress_ca_reader;
SELECT cache_aside_query('agg', 'SELECT my_sum(id) AS s FROM secret', 600);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION my_acc(int, int) FROM PUBLIC;
UPDATE secret SET id = id + 10;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('agg', 'SELECT my_sum(id) AS s FROM secret', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('agg')) AS stored;
UPDATE secret SET id = id - 10;

-- a column dropped and added again behind an entry (hits checked against
-- TTL only here): a miss, not an error
CREATE TABLE wide (a int, b int);
INSERT INTO wide VALUES (1, 2);
GRANT SELECT ON wide TO regress_ca_reader;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('wide', 'SELECT a FROM wide', 600);
RESET ROLE;
ALTER TABLE wide DROP COLUMN a;
ALTER TABLE wide ADD COLUMN a int;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('wide', 'SELECT a FROM wide', 600);
RESET ROLE;

-- a query that switches roles is not cached: its entry could not repeat
-- the membership check
CREATE ROLE regress_ca_team;
CREATE ROLE regress_ca_carol NOINHERIT;
GRANT regress_ca_team TO regress_ca_carol;
GRANT SELECT ON secret TO regress_ca_team;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer) TO regress_ca_carol;
CREATE FUNCTION count_secret() RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN RETURN (SELECT count(*) FROM secret); END $$;
SET ROLE regress_ca_carol;
-- (18 words the context of the error differently: the error alone)
\set VERBOSITY terse
SELECT count_secret();
\set VERBOSITY default
SELECT cache_aside_query('switch', 'SELECT set_config(''role'', ''regress_ca_team'', true) AS r, count_secret() AS n', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('switch')) AS stored;

-- large objects: their privileges are checked inside the functions that
-- read them, so results of transactions that read them are not cached
SELECT lo_from_bytea(4242421, 'classified') > 0 AS created;
GRANT SELECT ON LARGE OBJECT 4242421 TO regress_ca_reader;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('lo', 'SELECT convert_from(lo_get(4242421), ''UTF8'') AS doc', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('lo')) AS stored;
SELECT lo_unlink(4242421);

-- ---------------------------------------------------------------------------
-- a schema named in the SQL: USAGE is checked as the parser would
CREATE SCHEMA vault;
CREATE TABLE vault.gold (bars int);
INSERT INTO vault.gold VALUES (10);
GRANT USAGE ON SCHEMA vault TO regress_ca_reader;
GRANT SELECT ON vault.gold TO regress_ca_reader;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('gold', 'SELECT bars FROM vault.gold', 600);
RESET ROLE;
UPDATE vault.gold SET bars = 11;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('gold', 'SELECT bars FROM vault.gold', 600);
RESET ROLE;
REVOKE USAGE ON SCHEMA vault FROM regress_ca_reader;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('gold', 'SELECT bars FROM vault.gold', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- ---------------------------------------------------------------------------
-- row-level security: results are not cached for roles it applies to
SET ROLE regress_ca_owner;
CREATE TABLE notes (author name, body text);
INSERT INTO notes VALUES ('regress_ca_alice', 'alice''s'), ('regress_ca_bob', 'bob''s');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (author = current_user);
GRANT SELECT ON notes TO regress_ca_alice, regress_ca_bob;
RESET ROLE;
SET ROLE regress_ca_alice;
SELECT cache_aside_query('notes', 'SELECT body FROM notes', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('notes')) AS stored;
SET ROLE regress_ca_bob;
SELECT cache_aside_query('notes', 'SELECT body FROM notes', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('notes')) AS stored;
-- the table's owner bypasses the policy: its result is cached, for it alone
SET ROLE regress_ca_owner;
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('notes')) AS stored;
SET ROLE regress_ca_alice;
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('notes')) AS stored;
-- once the policy applies to the owner too, its entry is no longer served
UPDATE notes SET body = body || '+';
SET ROLE regress_ca_owner;
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
ALTER TABLE notes NO FORCE ROW LEVEL SECURITY;
RESET ROLE;
-- a superuser always bypasses it
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
SELECT cache_aside_query('notes', 'SELECT body FROM notes ORDER BY body', 600);
-- also when the policy's table is read in a parallel-safe function that
-- a function runs through a plan allowed to use parallel workers
CREATE FUNCTION count_notes() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS
	$$ BEGIN RETURN (SELECT count(*) FROM notes); END $$;
CREATE FUNCTION counted_notes() RETURNS SETOF bigint LANGUAGE plpgsql STABLE AS
	$$ BEGIN RETURN QUERY SELECT count_notes(); END $$;
-- (force_parallel_mode is named debug_parallel_query from 16 on)
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
SET ROLE regress_ca_alice;
SET :force_parallel = on;
SELECT cache_aside_query('parallel', 'SELECT counted_notes() AS n', 600);
RESET :force_parallel;
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('parallel')) AS stored;
-- a query that raises the parallel settings again: a plan that may start
-- parallel workers makes its result unstorable (without it, it is stored)
CREATE FUNCTION count_secret_par() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS
	$$ BEGIN RETURN (SELECT count(*) FROM secret); END $$;
CREATE FUNCTION counted_secret() RETURNS SETOF bigint LANGUAGE plpgsql STABLE AS
	$$ BEGIN RETURN QUERY SELECT count_secret_par(); END $$;
CREATE FUNCTION counted_secret_too() RETURNS SETOF bigint LANGUAGE plpgsql STABLE
	SET max_parallel_workers_per_gather = 2 SET max_parallel_workers = 8
	SET :force_parallel = on AS
	$$ BEGIN RETURN QUERY SELECT count_secret_par(); END $$;
SET ROLE regress_ca_reader;
SELECT cache_aside_query('serial', 'SELECT counted_secret() AS n', 600);
SELECT cache_aside_query('reparallel', 'SELECT counted_secret_too() AS n', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('serial')) AS stored;
SELECT test_redis('EXISTS', test_rkey('reparallel')) AS stored;
-- with row_security off, the role gets the query's own error
SET ROLE regress_ca_alice;
SET row_security = off;
SELECT cache_aside_query('notes', 'SELECT body FROM notes', 600);
\echo :LAST_ERROR_SQLSTATE
RESET row_security;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- entries are per role: current_user in a view, without row-level security
CREATE VIEW my_notes AS SELECT body FROM notes WHERE author = current_user;
ALTER TABLE notes OWNER TO CURRENT_USER;	-- the superuser running the tests
ALTER TABLE notes DISABLE ROW LEVEL SECURITY;
GRANT SELECT ON my_notes TO regress_ca_alice, regress_ca_bob;
SET ROLE regress_ca_alice;
SELECT cache_aside_query('mine', 'SELECT * FROM my_notes', 600);
RESET ROLE;
SET ROLE regress_ca_bob;
SELECT cache_aside_query('mine', 'SELECT * FROM my_notes', 600);
RESET ROLE;
SET ROLE regress_ca_alice;
SELECT cache_aside_query('mine', 'SELECT * FROM my_notes', 600);
RESET ROLE;

-- ---------------------------------------------------------------------------
-- the same key with another search_path, SQL text, parameter or setting is
-- another computation: never another one's result
CREATE SCHEMA east;
CREATE SCHEMA west;
CREATE TABLE east.place (name text);
CREATE TABLE west.place (name text);
INSERT INTO east.place VALUES ('east');
INSERT INTO west.place VALUES ('west');
SET search_path = east, public;
SELECT cache_aside_query('place', 'SELECT name FROM place', 600);
SET search_path = west, public;
SELECT cache_aside_query('place', 'SELECT name FROM place', 600);
SET search_path = east, public;
SELECT cache_aside_query('place', 'SELECT name FROM place', 600);
RESET search_path;
SELECT cache_aside_query('same', 'SELECT 1 AS n', 600);
SELECT cache_aside_query('same', 'SELECT 2 AS n', 600);
SELECT cache_aside_query('same', 'SELECT $1 AS n', 600, 3);
SELECT cache_aside_query('same', 'SELECT $1 AS n', 600, 4);
SELECT cache_aside_query('same', 'SELECT $1 AS n', 600, '4'::text);
SELECT cache_aside_query('same', 'SELECT ''2026-01-01 12:00+00''::timestamptz AS t', 600);
SET TimeZone = 'Asia/Tokyo';
SELECT cache_aside_query('same', 'SELECT ''2026-01-01 12:00+00''::timestamptz AS t', 600);
RESET TimeZone;

-- ---------------------------------------------------------------------------
-- default grants: none to PUBLIC; a role may be allowed to invalidate only
SET ROLE regress_ca_invalidator;
SELECT cache_aside_query('x', 'SELECT 1', 60);
\echo :LAST_ERROR_SQLSTATE
SELECT cache_invalidate('secret');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION cache_invalidate(text) TO regress_ca_invalidator;
SET ROLE regress_ca_invalidator;
SELECT cache_invalidate('secret');
SELECT cache_get_ttl('cols');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cache_dependencies('cols');
\echo :LAST_ERROR_SQLSTATE
SELECT cache_aside_query('cols', 'SELECT id FROM secret ORDER BY id', 600);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- every function is SECURITY INVOKER
SELECT p.proname, p.prosecdef
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.classid = 'pg_proc'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cacheaside')
 ORDER BY 1, 2;
-- nothing of the extension that reaches Redis is granted to PUBLIC;
-- cache_stats, which reads shared memory only and hides other roles' SQL
-- text, is, as pg_stat_statements is (its view too); so are the I/O
-- functions of the type cache_untyped (text's own)
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.classid = 'pg_proc'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cacheaside')
 ORDER BY 1, 2;
SELECT has_table_privilege('public', 'cache_stats', 'SELECT') AS view_public;

-- ---------------------------------------------------------------------------
-- connection settings: superusers only, also through ALTER ROLE/DATABASE
CREATE ROLE regress_ca_dbowner CREATEDB;
SET ROLE regress_ca_dbowner;
ALTER ROLE regress_ca_dbowner SET cacheaside.host = 'evil.example.com';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_ca_dbowner SET cacheaside.password_file = '/tmp/x';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_ca_dbowner SET cacheaside.key_prefix = 'other:';
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE regress_ca_dbowner SET cacheaside.max_value_bytes = '100MB';
\echo :LAST_ERROR_SQLSTATE
-- what anyone may tune, they may also set for themselves
ALTER ROLE regress_ca_dbowner SET cacheaside.command_timeout = 100;
ALTER ROLE regress_ca_dbowner RESET ALL;
RESET ROLE;
-- the database the harness created, whatever its name and owner
SELECT datname AS regress_db, pg_get_userbyid(datdba) AS regress_db_owner
  FROM pg_database WHERE datname = current_database() \gset
ALTER DATABASE :"regress_db" OWNER TO regress_ca_dbowner;
SET ROLE regress_ca_dbowner;
ALTER DATABASE :"regress_db" SET cacheaside.port = 1;
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE :"regress_db" SET cacheaside.database = 2;
\echo :LAST_ERROR_SQLSTATE
-- and cannot read them
SELECT name FROM pg_settings WHERE name IN
	('cacheaside.host', 'cacheaside.port', 'cacheaside.password_file',
	 'cacheaside.database', 'cacheaside.key_prefix',
	 'cacheaside.max_value_bytes') ORDER BY name;
RESET ROLE;
ALTER DATABASE :"regress_db" OWNER TO :"regress_db_owner";

-- ---------------------------------------------------------------------------
DROP VIEW my_notes, secret_view;
DROP FUNCTION counted_notes(), count_notes(), count_secret(),
	counted_secret(), counted_secret_too(), count_secret_par(),
	open_fetch_all();
DROP AGGREGATE my_sum(int);
DROP FUNCTION my_acc(int, int);
DROP TABLE notes, wide, vault.gold, east.place, west.place;
DROP SCHEMA vault, east, west;
DROP FUNCTION bump();
DROP OWNED BY regress_ca_owner, regress_ca_reader, regress_ca_columns,
	regress_ca_viewer, regress_ca_alice, regress_ca_bob,
	regress_ca_invalidator, regress_ca_view_owner, regress_ca_dbowner,
	regress_ca_team, regress_ca_carol;
DROP ROLE regress_ca_owner, regress_ca_reader, regress_ca_columns,
	regress_ca_viewer, regress_ca_alice, regress_ca_bob,
	regress_ca_invalidator, regress_ca_view_owner, regress_ca_dbowner,
	regress_ca_team, regress_ca_carol;
SELECT test_redis('FLUSHDB');
