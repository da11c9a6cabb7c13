-- A database created or altered (renamed, its owner changed) counts as a
-- write to that database: a database dropped and made again with its OID
-- (CREATE DATABASE ... OID) from the same template has the same entry
-- keys, and current_database() names it.  (The template has the
-- extension: CREATE EXTENSION in the new database would count as a change
-- of its own.)
SELECT current_database() AS origdb \gset
CREATE DATABASE regress_ca_dbtemplate TEMPLATE template0;
\c regress_ca_dbtemplate
CREATE EXTENSION cacheaside;
\c :origdb
CREATE DATABASE regress_ca_dbreuse TEMPLATE regress_ca_dbtemplate;
SELECT oid AS reuse_oid FROM pg_database WHERE datname = 'regress_ca_dbreuse' \gset
\c regress_ca_dbreuse
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT hits, misses FROM cache_stats WHERE query = 'SELECT current_database() AS db';
\c :origdb
DROP DATABASE regress_ca_dbreuse WITH (FORCE);
CREATE DATABASE regress_ca_dbreuse2 TEMPLATE regress_ca_dbtemplate OID = :reuse_oid;
\c regress_ca_dbreuse2
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT hits, misses FROM cache_stats WHERE query = 'SELECT current_database() AS db';

-- renamed
\c :origdb
ALTER DATABASE regress_ca_dbreuse2 RENAME TO regress_ca_dbreuse3;
\c regress_ca_dbreuse3
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT hits, misses FROM cache_stats WHERE query = 'SELECT current_database() AS db';

-- the settings of ALTER DATABASE ... SET apply to new sessions, whose
-- fingerprints hold those that change results: they do not count
\c :origdb
ALTER DATABASE regress_ca_dbreuse3 SET work_mem = '5MB';
\c regress_ca_dbreuse3
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT hits, misses FROM cache_stats WHERE query = 'SELECT current_database() AS db';

-- a prepared transaction that writes more tables than its record holds
-- keeps the databases it altered
\c :origdb
\set ECHO none
SELECT format('CREATE TABLE regress_ca_w%s (a int)', g)
FROM generate_series(1, 70) g \gexec
BEGIN;
SELECT format('INSERT INTO regress_ca_w%s VALUES (1)', g)
FROM generate_series(1, 70) g \gexec
\set ECHO all
ALTER DATABASE regress_ca_dbreuse3 RENAME TO regress_ca_dbreuse4;
PREPARE TRANSACTION 'regress_ca_dbrename';
COMMIT PREPARED 'regress_ca_dbrename';
\c regress_ca_dbreuse4
SELECT cache_aside_query('db', 'SELECT current_database() AS db', 600);
SELECT hits, misses FROM cache_stats WHERE query = 'SELECT current_database() AS db';
SELECT cache_invalidate('*') > 0 AS removed;

\c :origdb
DROP DATABASE regress_ca_dbreuse4 WITH (FORCE);
\set ECHO none
SELECT format('DROP TABLE regress_ca_w%s', g)
FROM generate_series(1, 70) g \gexec
\set ECHO all
DROP DATABASE regress_ca_dbtemplate WITH (FORCE);
