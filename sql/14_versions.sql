--
-- Older versions of the SQL surface work with this library, and update
-- step by step: an installation made at 1.0 keeps its calls working at
-- each step, and gains each version's objects.
--
SELECT current_database() AS regress_db \gset
CREATE DATABASE cacheaside_regress_versions;
\c cacheaside_regress_versions
SET client_min_messages = warning;
SELECT set_config('cacheaside.port', current_setting('cacheaside_test.redis_port'), false) IS NOT NULL AS port_set;
CREATE TABLE vt (id int);
INSERT INTO vt VALUES (1);

CREATE EXTENSION cacheaside VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'cacheaside';
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
SELECT cache_aside_query('vp', 'SELECT id FROM vt WHERE id = $1', 60, 1);
SELECT cache_get_ttl('v') > 0 AS has_ttl;
SELECT * FROM cache_dependencies('v');

ALTER EXTENSION cacheaside UPDATE TO '1.1';
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
SELECT * FROM cache_dependencies('v');
SELECT * FROM cache_stats;

ALTER EXTENSION cacheaside UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'cacheaside';
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
-- each update creates or replaces functions, which makes every entry of
-- the database a miss (21_ddl): one store per version
SELECT calls, hits, misses, stores FROM cache_stats
WHERE query = 'SELECT id FROM vt'
  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT preloaded, connection FROM cache_status();
SELECT cache_invalidate('v*') AS removed;
-- before 1.3, a parameter sent without a type cannot be told
PREPARE vu AS SELECT cache_aside_query('vu', 'SELECT id FROM vt WHERE id = $1', 60, $1);

ALTER EXTENSION cacheaside UPDATE TO '1.3';
SELECT extversion FROM pg_extension WHERE extname = 'cacheaside';
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
SELECT cache_aside_query('v', 'SELECT id FROM vt', 60);
PREPARE vu AS SELECT cache_aside_query('vu', 'SELECT id FROM vt WHERE id = $1', 60, $1);
EXECUTE vu('1');
DEALLOCATE vu;

-- what 1.3 consists of (from 17 on, a view's row type and the array types
-- of the extension's types are members too: left out)
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cacheaside')
  AND NOT EXISTS (SELECT FROM pg_type t
                  WHERE classid = 'pg_type'::regclass AND t.oid = objid
                    AND (t.typrelid <> 0 OR
                         (t.typelem <> 0 AND t.typcategory = 'A')))
ORDER BY 1;

\c :regress_db
DROP DATABASE cacheaside_regress_versions;
