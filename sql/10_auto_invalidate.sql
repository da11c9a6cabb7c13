--
-- Automatic invalidation: with the library in shared_preload_libraries
-- (as the regression instance has it), every committed write to a table
-- makes the entries that read it misses, before COMMIT returns.
--
-- probe(key, sql) calls cache_aside_query with sql wrapped so that each
-- run of the query draws a new random nonce, and tells from the nonces
-- (the one returned, the one in Redis before and after) whether the call
-- was a hit, a miss that stored its result, or a miss that did not.
--
CREATE FUNCTION test_stored_nonce(key text) RETURNS text
LANGUAGE sql AS $$
	SELECT test_redis('EVAL',
		'local v = redis.call(''GET'', KEYS[1]) if not v then return '''' end '
		|| 'return string.match(v, ''"nonce":"([^"]*)"'') or ''''',
		'1', test_rkey(key))
$$;

CREATE FUNCTION probe(key text, sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	before text := test_stored_nonce(key);
	result json;
	got text;
BEGIN
	result := cache_aside_query(key,
		format('SELECT random()::text AS nonce, coalesce(json_agg(q), ''[]'') AS rows FROM (%s) q', sql),
		600);
	got := result->0->>'nonce';
	RETURN CASE
		WHEN got = before THEN 'hit'
		WHEN got = test_stored_nonce(key) THEN 'miss, stored'
		ELSE 'miss, not stored' END || ' ' || (result->0->'rows')::text;
END
$$;

CREATE TABLE acct (id int PRIMARY KEY, owner text, balance int);
INSERT INTO acct VALUES (1, 'ann', 100), (2, 'bob', 50);
CREATE TABLE other (id int);
CREATE FUNCTION accounts() RETURNS text
LANGUAGE sql AS $$ SELECT probe('a', 'SELECT * FROM acct ORDER BY id') $$;

SELECT accounts();
SELECT accounts();

-- a write to another table changes nothing
INSERT INTO other VALUES (1);
SELECT accounts();

-- every kind of write
INSERT INTO acct VALUES (3, 'cy', 0);
SELECT accounts();
SELECT accounts();
UPDATE acct SET balance = balance + 1 WHERE id = 1;
SELECT accounts();
DELETE FROM acct WHERE id = 3;
SELECT accounts();
MERGE INTO acct USING (VALUES (2, 60)) AS v (id, b) ON acct.id = v.id
	WHEN MATCHED THEN UPDATE SET balance = v.b;
SELECT accounts();
COPY acct FROM STDIN;
4	dee	7
\.
SELECT accounts();
BEGIN;
TRUNCATE acct;
INSERT INTO acct VALUES (1, 'ann', 100), (2, 'bob', 50);
COMMIT;
SELECT accounts();
SELECT accounts();

-- a rolled-back transaction or subtransaction changes nothing
BEGIN;
UPDATE acct SET balance = 0;
ROLLBACK;
SELECT accounts();
BEGIN;
SAVEPOINT s;
UPDATE acct SET balance = 0;
ROLLBACK TO SAVEPOINT s;
INSERT INTO other VALUES (2);
COMMIT;
SELECT accounts();

-- a write inside a function
CREATE FUNCTION pay(account int, amount int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE acct SET balance = balance + amount WHERE id = account;
END
$$;
SELECT pay(1, 5);
SELECT accounts();

-- a write by a trigger on another table
CREATE TABLE ledger (account int, amount int);
CREATE FUNCTION ledger_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE acct SET balance = balance + NEW.amount WHERE id = NEW.account;
	RETURN NEW;
END
$$;
CREATE TRIGGER ledger_apply AFTER INSERT ON ledger
	FOR EACH ROW EXECUTE FUNCTION ledger_apply();
SELECT accounts();
INSERT INTO ledger VALUES (2, 10);
SELECT accounts();

-- foreign-key cascades
CREATE TABLE card (id int PRIMARY KEY,
	account int REFERENCES acct ON DELETE CASCADE ON UPDATE CASCADE);
INSERT INTO card VALUES (10, 1), (20, 2);
CREATE FUNCTION cards() RETURNS text
LANGUAGE sql AS $$ SELECT probe('cards', 'SELECT * FROM card ORDER BY id') $$;
SELECT cards();
SELECT cards();
DELETE FROM acct WHERE id = 2;
SELECT cards();
UPDATE acct SET id = 5 WHERE id = 1;
SELECT cards();

-- through a view
CREATE VIEW rich AS SELECT owner FROM acct WHERE balance > 50;
SELECT probe('rich', 'SELECT * FROM rich ORDER BY owner');
SELECT probe('rich', 'SELECT * FROM rich ORDER BY owner');
UPDATE acct SET balance = 0;
SELECT probe('rich', 'SELECT * FROM rich ORDER BY owner');
CREATE OR REPLACE VIEW rich AS SELECT owner FROM acct WHERE balance >= 0;
SELECT probe('rich', 'SELECT * FROM rich ORDER BY owner');

-- read by a function the query calls
CREATE FUNCTION total() RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT sum(balance) FROM acct);
END
$$;
SELECT probe('total', 'SELECT total() AS total');
SELECT probe('total', 'SELECT total() AS total');
UPDATE acct SET balance = 9;
SELECT probe('total', 'SELECT total() AS total');

-- ALTER TABLE, DROP TABLE
SELECT accounts();
ALTER TABLE acct ADD COLUMN note text DEFAULT 'x';
SELECT accounts();
DROP TABLE card;
CREATE TABLE card (id int, account int);
INSERT INTO card VALUES (99, 5);
SELECT cards();

-- partitions: a write through the parent or into a partition, and ATTACH
CREATE TABLE ev (day int, what text) PARTITION BY RANGE (day);
CREATE TABLE ev1 PARTITION OF ev FOR VALUES FROM (1) TO (10);
CREATE TABLE ev2 PARTITION OF ev FOR VALUES FROM (10) TO (20);
INSERT INTO ev VALUES (1, 'a'), (15, 'b');
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
SELECT probe('ev1', 'SELECT * FROM ev1 ORDER BY day');
SELECT probe('ev<10', 'SELECT * FROM ev WHERE day < 10 ORDER BY day');
INSERT INTO ev VALUES (2, 'c');
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
SELECT probe('ev1', 'SELECT * FROM ev1 ORDER BY day');
SELECT probe('ev<10', 'SELECT * FROM ev WHERE day < 10 ORDER BY day');
INSERT INTO ev2 VALUES (16, 'd');
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
SELECT probe('ev1', 'SELECT * FROM ev1 ORDER BY day');
CREATE TABLE ev3 (day int, what text);
INSERT INTO ev3 VALUES (25, 'e');
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
ALTER TABLE ev ATTACH PARTITION ev3 FOR VALUES FROM (20) TO (30);
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');

ALTER TABLE ev DETACH PARTITION ev3 CONCURRENTLY;
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');

-- VACUUM and ANALYZE take ShareUpdateExclusiveLock, as ATTACH and DETACH
-- PARTITION do, but change no rows: the entries stay hits.  With
-- track_counts off, whether a transaction that holds that lock wrote
-- pg_inherits cannot be told, and it counts as a write of what it locked.
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
ANALYZE ev1;
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
VACUUM ev1;
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
SET track_counts = off;
ANALYZE ev1;
RESET track_counts;
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');
SELECT probe('ev', 'SELECT * FROM ev ORDER BY day');

-- classic inheritance: a write to a child counts for its parents, also for
-- a table that became a child after this session last wrote it
CREATE TABLE animal (name text);
CREATE TABLE dog () INHERITS (animal);
CREATE TABLE cat (name text);
INSERT INTO cat VALUES ('tom');
SELECT probe('zoo', 'SELECT name FROM animal ORDER BY name');
SELECT probe('zoo-only', 'SELECT count(*) AS n FROM ONLY animal');
INSERT INTO dog VALUES ('rex');
SELECT probe('zoo', 'SELECT name FROM animal ORDER BY name');
SELECT probe('zoo-only', 'SELECT count(*) AS n FROM ONLY animal');
ALTER TABLE cat INHERIT animal;
SELECT probe('zoo', 'SELECT name FROM animal ORDER BY name');
SELECT probe('zoo-only', 'SELECT count(*) AS n FROM ONLY animal');
INSERT INTO cat VALUES ('felix');
SELECT probe('zoo-only', 'SELECT count(*) AS n FROM ONLY animal');
SELECT probe('zoo', 'SELECT name FROM animal ORDER BY name');

-- a materialized view changes when it is refreshed
CREATE MATERIALIZED VIEW evcount AS SELECT count(*) AS n FROM ev;
SELECT probe('evcount', 'SELECT n FROM evcount');
INSERT INTO ev VALUES (3, 'f');
SELECT probe('evcount', 'SELECT n FROM evcount');
REFRESH MATERIALIZED VIEW evcount;
SELECT probe('evcount', 'SELECT n FROM evcount');

-- inside a transaction that has written, entries of what it wrote are
-- neither served nor stored: it sees its own writes
SELECT accounts();
BEGIN;
SELECT accounts();
UPDATE acct SET balance = 1000 WHERE id = 5;
SELECT accounts();
SELECT accounts();
SELECT probe('others', 'SELECT count(*) AS n FROM other');
SELECT probe('others', 'SELECT count(*) AS n FROM other');
ROLLBACK;
SELECT accounts();
BEGIN;
UPDATE acct SET balance = 1000 WHERE id = 5;
SELECT accounts();
COMMIT;
SELECT accounts();

-- a serializable transaction is never served a hit (it would take no
-- predicate locks); what it computes may be stored
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT accounts();
SELECT accounts();
COMMIT;
SELECT accounts();

-- results that read system catalogs or temporary tables are not cached
SELECT probe('catalog', 'SELECT relname FROM pg_class WHERE relname = ''acct''');
CREATE TEMP TABLE scratch (x int);
SELECT probe('temp', 'SELECT * FROM scratch');
-- ... nor those that read foreign tables, written on other servers
CREATE EXTENSION file_fdw;
CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
CREATE FOREIGN TABLE outside (x int) SERVER files OPTIONS (program 'echo 1');
SELECT probe('foreign', 'SELECT * FROM outside');

-- ... nor those that read sequences, which change outside transactions
CREATE SEQUENCE seq;
SELECT probe('sequence', 'SELECT last_value FROM seq');

-- (this session has a temporary schema now, and made objects since: its
-- entries are its own, and those made before are misses, 19_temp_schema;
-- stored again here)
SELECT accounts();

-- cacheaside.auto_invalidate = off: entries are served until their TTL
SET cacheaside.auto_invalidate = off;
UPDATE acct SET balance = 1;
SELECT accounts();
RESET cacheaside.auto_invalidate;
SELECT accounts();

-- a query being cached that was served an entry without the check (in a
-- session with cacheaside.auto_invalidate off) is not stored: what it
-- computed may be stale
CREATE FUNCTION inner_count() RETURNS text
LANGUAGE sql AS $$ SELECT cache_aside_query('inner', 'SELECT count(*) AS n FROM acct', 600)::text $$;
SELECT inner_count();
INSERT INTO acct VALUES (7, 'fay', 1);
SET cacheaside.auto_invalidate = off;
SELECT probe('outer', 'SELECT inner_count() AS inner');
RESET cacheaside.auto_invalidate;
SELECT probe('outer', 'SELECT inner_count() AS inner');
SELECT probe('outer', 'SELECT inner_count() AS inner');
DELETE FROM acct WHERE id = 7;

-- a hit served inside a query being cached passes what its entry read to
-- the outer entry: a write to the inner query's table makes the outer
-- entry a miss, though the outer query read that table only through the
-- inner entry
CREATE TABLE nest (id int);
INSERT INTO nest VALUES (1);
CREATE FUNCTION nest_count() RETURNS text
LANGUAGE sql AS $$ SELECT cache_aside_query('nest-inner', 'SELECT count(*) AS n FROM nest', 600)::text $$;
SELECT nest_count();
SELECT probe('nest-outer', 'SELECT nest_count() AS inner');
SELECT probe('nest-outer', 'SELECT nest_count() AS inner');
SELECT relation FROM cache_dependencies('nest-outer') ORDER BY relation::text;
INSERT INTO nest VALUES (2);
SELECT probe('nest-outer', 'SELECT nest_count() AS inner');

-- ... and the privilege checks its entry carries: after a REVOKE on the
-- inner query's table (no write to the table, so no commit makes the outer
-- entry stale), the outer entry is not served to the role, whose call runs
-- the query and fails as the query does
CREATE ROLE regress_nest_reader;
GRANT SELECT ON nest TO regress_nest_reader;
GRANT EXECUTE ON FUNCTION cache_aside_query(text, text, integer) TO regress_nest_reader;
SET ROLE regress_nest_reader;
SELECT nest_count();
SELECT cache_aside_query('nest-outer-r', 'SELECT nest_count() AS inner', 600);
RESET ROLE;
SELECT test_redis('EXISTS', test_rkey('nest-outer-r'));
REVOKE SELECT ON nest FROM regress_nest_reader;
SET ROLE regress_nest_reader;
SELECT cache_aside_query('nest-outer-r', 'SELECT nest_count() AS inner', 600);
RESET ROLE;
DROP OWNED BY regress_nest_reader;
DROP ROLE regress_nest_reader;

-- cache_invalidate in a transaction removes entries now, and again after
-- commit: one stored in between (here by the same transaction, which has
-- not written acct) is gone once COMMIT returns
BEGIN;
SELECT cache_invalidate('a');
SELECT test_redis('EXISTS', test_rkey('a'));
SELECT accounts();
SELECT test_redis('EXISTS', test_rkey('a'));
COMMIT;
SELECT test_redis('EXISTS', test_rkey('a'));

-- the same with a glob pattern (repeated with SCAN, not UNLINK)
BEGIN;
SELECT cache_invalidate('a*');
SELECT accounts();
SELECT test_redis('EXISTS', test_rkey('a'));
COMMIT;
SELECT test_redis('EXISTS', test_rkey('a'));

-- each glob is a SCAN at commit, which cannot be interrupted there: at most
-- 64 different ones per transaction; keys without glob characters, removed
-- together after commit, have no limit
BEGIN;
SELECT count(cache_invalidate('glob' || g || '*')) FROM generate_series(1, 64) g;
SELECT cache_invalidate('glob1*');
SELECT cache_invalidate('one glob too many*');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT sum(cache_invalidate('key' || g)) FROM generate_series(1, 2500) g;
SELECT cache_aside_query('key1', 'SELECT 1 AS x', 60),
	cache_aside_query('key2500', 'SELECT 2500 AS x', 60);
SELECT test_redis('EXISTS', test_rkey('key1'), test_rkey('key2500'));
COMMIT;
SELECT test_redis('EXISTS', test_rkey('key1'), test_rkey('key2500'));

-- ... so such a transaction cannot be prepared
BEGIN;
SELECT cache_invalidate('a');
PREPARE TRANSACTION 'invalidated';
\echo :LAST_ERROR_SQLSTATE

-- two-phase commit: while a transaction that wrote acct is prepared,
-- entries of acct are neither served nor stored (it may commit at any
-- time, possibly applied by a replication worker); once it has ended,
-- committed or rolled back, they are misses, and other tables' entries
-- were never affected
SELECT accounts();
-- (the 2500 keys invalidated above took as many ledger slots, which a
-- relation's slot may share: 'others' is filled again first, whatever)
SELECT probe('others', 'SELECT count(*) AS n FROM other') IS NOT NULL AS filled;
SELECT probe('others', 'SELECT count(*) AS n FROM other');
BEGIN;
UPDATE acct SET balance = 77;
PREPARE TRANSACTION 'paid';
SELECT accounts();
COMMIT PREPARED 'paid';
SELECT accounts();
SELECT probe('others', 'SELECT count(*) AS n FROM other');
BEGIN;
UPDATE acct SET balance = 78;
PREPARE TRANSACTION 'unpaid';
ROLLBACK PREPARED 'unpaid';
SELECT accounts();

-- cache_dependencies: what the query of an entry read (views and the
-- tables under them, tables read by functions it called), and whether a
-- commit wrote each since the entry was made
SELECT probe('rich', 'SELECT * FROM rich ORDER BY owner');
SELECT probe('total', 'SELECT total() AS total');
SELECT * FROM cache_dependencies('rich') ORDER BY relation::text;
SELECT * FROM cache_dependencies('total') ORDER BY relation::text;
INSERT INTO acct VALUES (6, 'eve', 3);
SELECT * FROM cache_dependencies('rich') ORDER BY relation::text;
SELECT * FROM cache_dependencies('no such key');
