--
-- A miss stores, a hit returns the same text, the key lives in Redis with
-- its TTL, and the same key used by another query is another entry.
--
CREATE TABLE users (id serial PRIMARY KEY, name varchar(255) NOT NULL,
					email varchar(255) NOT NULL UNIQUE);
CREATE TABLE comments (id serial PRIMARY KEY, content text NOT NULL,
					   user_id integer REFERENCES users(id));
INSERT INTO users (name, email) VALUES
	('Alice', 'alice@example.com'), ('Bob', 'bob@example.com'),
	('Charlie', 'charlie@example.com');
INSERT INTO comments (content, user_id) VALUES
	('Great post!', 1), ('Interesting read.', 1), ('Thanks for sharing!', 2),
	('I learned something new today.', 2), ('Very insightful!', 3);

-- a miss: computed, stored
SELECT cache_aside_query('comments:name=Alice',
	'SELECT users.id, users.name, users.email, comments.id, comments.content
	   FROM users JOIN comments ON users.id = comments.user_id
	  WHERE users.name = $1 AND users.email = $2 ORDER BY comments.id',
	600, 'Alice', 'alice@example.com');
SELECT test_redis('EXISTS', test_rkey('comments:name=Alice'));
SELECT test_redis('TTL', test_rkey('comments:name=Alice'))::int BETWEEN 590 AND 600 AS ttl_set;

-- a hit is served from Redis: with automatic invalidation off, change the
-- table without invalidating, the cached rows come back
SET cacheaside.auto_invalidate = off;
UPDATE comments SET content = 'edited' WHERE id = 1;
SELECT cache_aside_query('comments:name=Alice',
	'SELECT users.id, users.name, users.email, comments.id, comments.content
	   FROM users JOIN comments ON users.id = comments.user_id
	  WHERE users.name = $1 AND users.email = $2 ORDER BY comments.id',
	600, 'Alice', 'alice@example.com');

-- with it on (the default), the committed UPDATE made the entry a miss
RESET cacheaside.auto_invalidate;
SELECT cache_aside_query('comments:name=Alice',
	'SELECT users.id, users.name, users.email, comments.id, comments.content
	   FROM users JOIN comments ON users.id = comments.user_id
	  WHERE users.name = $1 AND users.email = $2 ORDER BY comments.id',
	600, 'Alice', 'alice@example.com');
UPDATE comments SET content = 'Great post!' WHERE id = 1;

-- invalidated by hand, the next call is a miss too
SELECT cache_invalidate('comments:name=Alice');
SELECT cache_aside_query('comments:name=Alice',
	'SELECT users.id, users.name, users.email, comments.id, comments.content
	   FROM users JOIN comments ON users.id = comments.user_id
	  WHERE users.name = $1 AND users.email = $2 ORDER BY comments.id',
	600, 'Alice', 'alice@example.com');

-- the same key with another query is another entry: never the first
-- query's rows
SELECT cache_aside_query('shared', 'SELECT name FROM users WHERE id = 1', 60);
SELECT cache_aside_query('shared', 'SELECT name FROM users WHERE id = 2', 60);
SELECT cache_aside_query('shared', 'SELECT name FROM users WHERE id = 1', 60);
-- ... and with other parameter values or types
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, 1);
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, 2);
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, '1'::text);
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, 1::bigint);
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, NULL::int);
SELECT cache_aside_query('shared', 'SELECT $1 AS v', 60, 1);

-- ttl NULL or omitted means cacheaside.default_ttl
SET cacheaside.default_ttl = '2min';
SELECT cache_aside_query('default-ttl', 'SELECT 1 AS one');
SELECT test_redis('TTL', test_rkey('default-ttl'))::int BETWEEN 110 AND 120 AS ttl_default;
SELECT cache_invalidate('default-ttl');
SELECT cache_aside_query('default-ttl', 'SELECT 1 AS one', NULL);
SELECT test_redis('TTL', test_rkey('default-ttl'))::int BETWEEN 110 AND 120 AS ttl_default;
RESET cacheaside.default_ttl;

-- a hit with the same text the miss returned, byte for byte
SELECT cache_invalidate('same-text');
SELECT cache_aside_query('same-text', 'SELECT * FROM comments ORDER BY id', 60)::text
	 = cache_aside_query('same-text', 'SELECT * FROM comments ORDER BY id', 60)::text
	AS miss_equals_hit;

-- empty results are cached too, as []
SELECT cache_aside_query('empty', 'SELECT * FROM users WHERE false', 60);
SELECT test_redis('EXISTS', test_rkey('empty'));
SELECT cache_aside_query('empty', 'SELECT * FROM users WHERE false', 60);

-- TABLE, VALUES and WITH are queries too
SELECT cache_aside_query('table', 'TABLE users', 60);
SELECT cache_aside_query('values', 'VALUES (1, ''a''), (2, NULL)', 60);
SELECT cache_aside_query('with', 'WITH c AS (SELECT count(*) AS n FROM comments) SELECT n FROM c', 60);

-- expiry: once Redis expires the entry, the next call is a miss (with
-- automatic invalidation off, the INSERT alone would not make it one)
SET cacheaside.auto_invalidate = off;
SELECT cache_aside_query('expiring', 'SELECT count(*) AS n FROM comments', 60);
INSERT INTO comments (content, user_id) VALUES ('new', 3);
SELECT cache_aside_query('expiring', 'SELECT count(*) AS n FROM comments', 60);
SELECT test_redis('PEXPIRE', test_rkey('expiring'), '1');
SELECT pg_sleep(0.05);
SELECT test_redis('EXISTS', test_rkey('expiring'));
SELECT cache_aside_query('expiring', 'SELECT count(*) AS n FROM comments', 60);
RESET cacheaside.auto_invalidate;
