-- The seed's users/comments schema, with example e-mail addresses.
--
-- Tables are created in the first schema of search_path, so the same file can
-- be loaded into a scratch schema (examples/test_app.py does that).
-- The extension itself is created separately, once per database, by a
-- superuser:  CREATE EXTENSION IF NOT EXISTS cacheaside;

CREATE TABLE users (
    id    SERIAL PRIMARY KEY,
    name  VARCHAR(255) NOT NULL,
    email VARCHAR(255) NOT NULL UNIQUE
);

INSERT INTO users (name, email) VALUES
    ('Alice',   'alice@example.com'),
    ('Bob',     'bob@example.com'),
    ('Charlie', 'charlie@example.com');

CREATE TABLE comments (
    id      SERIAL PRIMARY KEY,
    content TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id)
);

CREATE INDEX comments_user_id_idx ON comments (user_id);

INSERT INTO comments (content, user_id) VALUES
    ('Great post!', 1),
    ('Interesting read.', 1),
    ('Thanks for sharing!', 2),
    ('I learned something new today.', 2),
    ('Very insightful!', 3);
