-- A cache hit for a 1000-row result (about 100 kB of JSON).
-- pgbench variables (-D): key, sql.
SELECT cache_aside_query(CAST(:key AS text), CAST(:sql AS text), 600);
