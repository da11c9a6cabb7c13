--
-- Transactions that write more tables than are told apart one by one
-- count as writes of their whole database: every entry of the database is
-- a miss afterwards, whichever tables it read.
--
-- wide_make(prefix, n) creates the tables prefix1..prefixN, wide_write
-- inserts a row into each; wide_current(prefix, n) caches, under keys
-- prefix1..prefixN, their row counts and says how many of the counts
-- returned equal the tables' counts now; wide_stored says how many of
-- those keys hold an entry.
--
CREATE FUNCTION wide_make(prefix text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE format('CREATE TABLE %I (x int)', prefix || i);
	END LOOP;
END
$$;

CREATE FUNCTION wide_write(prefix text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..n LOOP
		EXECUTE format('INSERT INTO %I VALUES (1)', prefix || i);
	END LOOP;
END
$$;

CREATE FUNCTION wide_current(prefix text, n int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	current bigint := 0;
	cached bigint;
	truth bigint;
BEGIN
	FOR i IN 1..n LOOP
		cached := (cache_aside_query(prefix || i,
			format('SELECT count(*) AS n FROM %I', prefix || i), 600)->0->>'n')::bigint;
		EXECUTE format('SELECT count(*) FROM %I', prefix || i) INTO truth;
		IF cached = truth THEN
			current := current + 1;
		END IF;
	END LOOP;
	RETURN current;
END
$$;

CREATE FUNCTION wide_stored(prefix text, n int) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(*) FROM generate_series(1, n) i
	WHERE cache_get_ttl(prefix || i) IS NOT NULL
$$;

-- a prepared transaction records at most 64 slots of what it wrote; one
-- that wrote 70 tables counts as a write of the whole database, from
-- PREPARE until it ends
SELECT wide_make('pw', 70);
SELECT wide_current('pw', 70) AS current, wide_stored('pw', 70) AS stored;
BEGIN;
SELECT wide_write('pw', 70);
PREPARE TRANSACTION 'wide';
SELECT cache_invalidate('pw*') AS removed;
SELECT wide_current('pw', 70) AS current, wide_stored('pw', 70) AS stored;
COMMIT PREPARED 'wide';
SELECT wide_current('pw', 70) AS current, wide_stored('pw', 70) AS stored;
SELECT wide_current('pw', 70) AS current;

-- a commit tells apart at most 1024 written relations; one that wrote 1100
-- tables counts as a write of the whole database
SELECT wide_make('cw', 1100);
SELECT wide_current('cw', 1100) AS current, wide_stored('cw', 1100) AS stored;
SELECT wide_current('cw', 1100) AS current;
SELECT wide_write('cw', 1100);
SELECT wide_current('cw', 1100) AS current;

-- and one that wrote fewer is told apart: other tables' entries stay hits
SELECT probe('wide-other', 'SELECT count(*) AS n FROM other');
SELECT wide_write('cw', 1000);
SELECT probe('wide-other', 'SELECT count(*) AS n FROM other');
SELECT wide_current('cw', 1100) AS current;

DO $$
BEGIN
	FOR i IN 1..70 LOOP
		EXECUTE format('DROP TABLE %I', 'pw' || i);
	END LOOP;
	FOR i IN 1..1100 LOOP
		EXECUTE format('DROP TABLE %I', 'cw' || i);
	END LOOP;
END
$$;
SELECT cache_invalidate('pw*') + cache_invalidate('cw*') > 0 AS removed;
