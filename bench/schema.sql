-- bench/schema.sql: the seed's users/comments schema at benchmark size.
-- psql variables: users (default 100000), comments (default 1000000).
-- Every user gets exactly comments/users comments (10 at the defaults), each
-- comment about 60 characters of text.
\if :{?users}
\else
\set users 100000
\endif
\if :{?comments}
\else
\set comments 1000000
\endif

SET client_min_messages = warning;
DROP TABLE IF EXISTS comments, users;
RESET client_min_messages;

CREATE TABLE users (
    id    SERIAL PRIMARY KEY,
    name  VARCHAR(255) NOT NULL,
    email VARCHAR(255) NOT NULL UNIQUE
);

CREATE TABLE comments (
    id      SERIAL PRIMARY KEY,
    content TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id)
);

INSERT INTO users (name, email)
SELECT 'User ' || i, 'user' || i || '@example.com'
FROM generate_series(1, :users) AS i;

INSERT INTO comments (content, user_id)
SELECT format('Comment %s by user %s: %s', i, u, md5(i::text)), u
FROM generate_series(1, :comments) AS i,
     LATERAL (SELECT (i - 1) % :users + 1 AS u) AS s;

CREATE INDEX comments_user_id_idx ON comments (user_id);

VACUUM ANALYZE users;
VACUUM ANALYZE comments;
CHECKPOINT;
