--
-- A search path of more than 64 schemas (pg_catalog, implicit, included):
-- the fingerprint keeps the first MAX_SEARCH_PATH (64) of them only, so
-- two paths that differ after those resolve a name to different tables
-- under the same fingerprint.  A call must not be served the other's rows.
--
DO $$ BEGIN FOR i IN 1..66 LOOP EXECUTE format('CREATE SCHEMA lsp%s', i); END LOOP; END $$;
CREATE TABLE lsp65.deep (x text);
INSERT INTO lsp65.deep VALUES ('lsp65');
CREATE TABLE lsp66.deep (x text);
INSERT INTO lsp66.deep VALUES ('lsp66');
SELECT cache_invalidate('deep') >= 0 AS cleared;
SELECT set_config('search_path', (SELECT string_agg('lsp' || i, ',') FROM generate_series(1, 64) i) || ',lsp65,public', false) IS NOT NULL AS set;
SELECT cache_aside_query('deep', 'SELECT x FROM deep');
SELECT set_config('search_path', (SELECT string_agg('lsp' || i, ',') FROM generate_series(1, 64) i) || ',lsp66,public', false) IS NOT NULL AS set;
SELECT x FROM deep;
-- must be lsp66
SELECT cache_aside_query('deep', 'SELECT x FROM deep');
RESET search_path;
DO $$ BEGIN FOR i IN 1..66 LOOP EXECUTE format('DROP SCHEMA lsp%s CASCADE', i); END LOOP; END $$;
