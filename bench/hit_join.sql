-- A cache hit for the seed's join query through the extension.
-- pgbench variables (-D): key, sql (the join with $1 and $2), name, email.
-- (The key comments:name=...:email=... is passed as a variable: pgbench would
-- read ":name" and ":email" inside a literal as its own variables.)
SELECT cache_aside_query(CAST(:key AS text), CAST(:sql AS text), 600, CAST(:name AS text), CAST(:email AS text));
