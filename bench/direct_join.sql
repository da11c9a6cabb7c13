-- The seed's join query, run directly (about 10 rows for one user).
-- pgbench variables (-D): name, email.  With -M prepared they are bound as $1, $2.
SELECT users.id, users.name, users.email, comments.id, comments.content FROM users JOIN comments ON users.id = comments.user_id WHERE users.name = :name AND users.email = :email;
