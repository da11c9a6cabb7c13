"""Driver test: cache_aside_query called through psycopg2.

    CACHEASIDE_DSN="host=127.0.0.1 port=5432 dbname=postgres user=postgres" \
        /usr/bin/python3 -m unittest -v test_psycopg2

scripts/test runs it against its own server, whose cacheaside.host/port point
at its own Redis, in a database where the extension exists (it is created here
if missing).  The server preloads cacheaside as users run it; the test of
explicit invalidation turns automatic invalidation off for its session, and
the test of automatic invalidation skips itself on a server without it.

psycopg2 interpolates parameters on the client, so each Python value reaches
the VARIADIC "any" argument as a SQL literal of the type psycopg2 writes
(int -> integer, str -> an untyped literal, Decimal/float -> numeric,
date -> '...'::date, list -> ARRAY[...], None -> NULL).  The truth each result
is compared with is what PostgreSQL computes for

    SELECT coalesce(json_agg(q), '[]'::json) FROM (<sql>) q

with the same literals in place of $1..$n, on a miss and again on a hit.
JSON is compared both as text without the layout whitespace (so key order,
number scale and string escapes must match exactly) and parsed.
"""

import datetime
import decimal
import json
import os
import re
import unittest

import psycopg2
import psycopg2.errors
import psycopg2.extras

DSN = os.environ.get("CACHEASIDE_DSN")

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\s+|[^\s"]+', re.S)


def json_norm(text):
    """JSON text without whitespace outside strings."""
    return "".join(t for t in _JSON_TOKEN.findall(text) if not t[0].isspace())


def inline_params(sql):
    """Turn $n placeholders into psycopg2 %(pn)s placeholders (and escape %)."""
    sql = sql.replace("%", "%%")
    return re.sub(r"\$(\d+)", lambda m: "%%(p%s)s" % m.group(1), sql)


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
class CacheAsideQueryThroughPsycopg2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.conn = psycopg2.connect(DSN)
        cls.conn.autocommit = True
        cls.prefix = "py%d:" % os.getpid()
        with cls.conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS cacheaside")
            cur.execute(
                """
                DROP TABLE IF EXISTS ca_py_comments, ca_py_users;
                CREATE TABLE ca_py_users (
                    id    SERIAL PRIMARY KEY,
                    name  VARCHAR(255) NOT NULL,
                    email VARCHAR(255) NOT NULL UNIQUE);
                INSERT INTO ca_py_users (name, email) VALUES
                    ('Alice', 'alice@example.com'),
                    ('Bob', 'bob@example.com'),
                    ('Charlie', 'charlie@example.com');
                CREATE TABLE ca_py_comments (
                    id      SERIAL PRIMARY KEY,
                    content TEXT NOT NULL,
                    user_id INTEGER REFERENCES ca_py_users(id));
                INSERT INTO ca_py_comments (content, user_id) VALUES
                    ('Great post!', 1), ('Interesting read.', 1),
                    ('Thanks for sharing!', 2),
                    ('I learned something new today.', 2),
                    ('Very insightful!', 3);
                """
            )

    @classmethod
    def tearDownClass(cls):
        with cls.conn.cursor() as cur:
            cur.execute("SELECT cache_invalidate(%s)", (cls.prefix + "*",))
            cur.execute("DROP TABLE IF EXISTS ca_py_comments, ca_py_users")
        cls.conn.close()

    # -- helpers -----------------------------------------------------------

    def one(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]

    def call(self, key, sql, params, ttl=None, as_text=True):
        placeholders = "".join(", %s" for _ in params)
        cast = "::text" if as_text else ""
        return self.one(
            "SELECT cache_aside_query(%%s, %%s, %%s%s)%s" % (placeholders, cast),
            (key, sql, ttl) + tuple(params),
        )

    def truth(self, sql, params):
        wrapped = "SELECT coalesce(json_agg(q), '[]'::json)::text FROM (%s) q" % (
            inline_params(sql)
        )
        return self.one(wrapped, {"p%d" % (i + 1): v for i, v in enumerate(params)})

    def check(self, name, sql, params=(), ttl=None):
        """Miss then hit: both equal what PostgreSQL computes; returns the text."""
        key = self.prefix + name
        expected = self.truth(sql, params)
        self.assertIsNone(self.one("SELECT cache_get_ttl(%s)", (key,)),
                          "no entry before the first call")

        miss = self.call(key, sql, params, ttl)
        self.assertEqual(json_norm(miss), json_norm(expected), "miss: JSON text")
        self.assertEqual(json.loads(miss), json.loads(expected), "miss: parsed")

        left = self.one("SELECT cache_get_ttl(%s)", (key,))
        self.assertIsNotNone(left, "the miss stored an entry")
        self.assertGreater(left, 0)
        if ttl is not None:
            self.assertLessEqual(left, ttl)

        hit = self.call(key, sql, params, ttl)
        self.assertEqual(hit, miss, "a hit returns the same text the miss returned")

        parsed = self.call(key, sql, params, ttl, as_text=False)
        self.assertEqual(parsed, json.loads(expected),
                         "psycopg2 decodes the json result")
        return miss

    # -- parameter types -----------------------------------------------------

    def test_no_params_value_types(self):
        self.check(
            "noparams",
            "SELECT 1 AS one, 'two'::text AS two, NULL::int AS nothing, "
            "1.50::numeric AS price, ARRAY[1, 2] AS arr, "
            "'{\"a\": [1, {\"b\": null}]}'::jsonb AS doc, true AS flag, "
            "'2024-02-29'::date AS day",
            ttl=60,
        )

    def test_int_param(self):
        self.check("int",
                   "SELECT g AS n, g * 1.50 AS price "
                   "FROM generate_series(1, $1) g ORDER BY g",
                   (3,))

    def test_bigint_param(self):
        self.check("bigint", "SELECT $1 AS big, $1 + 1 AS next", (2 ** 40,))

    def test_text_param_untyped_literal(self):
        # psycopg2 sends strings as untyped literals: 'abc', not 'abc'::text
        self.check("text", "SELECT $1 AS s, length($1) AS len",
                   ('h\u00e9llo "quoted" \\ back\tslash',))

    def test_two_text_params_seed_query(self):
        sql = ("SELECT ca_py_users.id, ca_py_users.name, ca_py_users.email, "
               "ca_py_comments.id, ca_py_comments.content "
               "FROM ca_py_users JOIN ca_py_comments "
               "ON ca_py_users.id = ca_py_comments.user_id "
               "WHERE ca_py_users.name = $1 AND ca_py_users.email = $2 "
               "ORDER BY ca_py_comments.id")
        text = self.check("seed", sql, ("Alice", "alice@example.com"), ttl=600)
        self.assertEqual(len(json.loads(text)), 2)

    def test_decimal_param_keeps_scale(self):
        text = self.check("decimal", "SELECT $1 AS amount, $1 * 2 AS twice",
                          (decimal.Decimal("12.340"),))
        self.assertIn("12.340", text)

    def test_float_param(self):
        self.check("float", "SELECT $1 AS x, $1 / 4 AS quarter", (2.5,))

    def test_bool_param(self):
        self.check("bool", "SELECT $1 AS flag, NOT $1 AS negated", (True,))

    def test_null_and_int_params(self):
        self.check("null", "SELECT $1::int IS NULL AS is_null, $2 AS two",
                   (None, 2))

    def test_date_and_timestamp_params(self):
        self.check("date", "SELECT $1 AS d, $1 + 1 AS next_day, $2 AS ts",
                   (datetime.date(2024, 2, 29),
                    datetime.datetime(2024, 2, 29, 12, 30, 15, 250000)))

    def test_array_param(self):
        self.check("array",
                   "SELECT x FROM unnest($1) AS x ORDER BY x", ([3, 1, 2],))

    def test_json_param(self):
        self.check("json", "SELECT $1::jsonb -> 'a' AS a, $1::jsonb AS doc",
                   (psycopg2.extras.Json({"a": [1, 2.5, None], "b": "x"}),))

    def test_empty_result(self):
        text = self.check("empty",
                          "SELECT g FROM generate_series(1, $1) g WHERE g > $1",
                          (3,))
        self.assertEqual(json.loads(text), [])

    # -- behaviour -----------------------------------------------------------

    def test_hit_is_served_from_the_cache(self):
        key = self.prefix + "served"
        sql = "SELECT id, name FROM ca_py_users WHERE id = $1"
        with self.conn.cursor() as cur:
            # by TTL only: the UPDATE below must not invalidate by itself
            cur.execute("SET cacheaside.auto_invalidate = off")
        before = self.call(key, sql, (3,))
        with self.conn.cursor() as cur:
            cur.execute("UPDATE ca_py_users SET name = 'Carol' WHERE id = 3")
        try:
            self.assertEqual(self.call(key, sql, (3,)), before,
                             "without invalidation the hit returns the cached rows")
            self.assertEqual(self.one("SELECT cache_invalidate(%s)", (key,)), 1)
            after = self.call(key, sql, (3,))
            self.assertEqual(json_norm(after), json_norm(self.truth(sql, (3,))))
            self.assertIn("Carol", after)
        finally:
            with self.conn.cursor() as cur:
                cur.execute("UPDATE ca_py_users SET name = 'Charlie' WHERE id = 3")
                cur.execute("RESET cacheaside.auto_invalidate")

    def test_commit_makes_the_next_call_a_miss(self):
        if "cacheaside" not in self.one("SHOW shared_preload_libraries"):
            self.skipTest("the server does not preload cacheaside")
        key = self.prefix + "autoinval"
        sql = "SELECT id, name FROM ca_py_users WHERE id = $1"
        before = self.call(key, sql, (2,))
        self.assertEqual(self.call(key, sql, (2,)), before, "a hit")
        with self.conn.cursor() as cur:
            cur.execute("UPDATE ca_py_users SET name = 'Robert' WHERE id = 2")
        try:
            after = self.call(key, sql, (2,))
            self.assertIn("Robert", after,
                          "the committed UPDATE made the entry a miss")
            self.assertEqual(json_norm(after), json_norm(self.truth(sql, (2,))))
        finally:
            with self.conn.cursor() as cur:
                cur.execute("UPDATE ca_py_users SET name = 'Bob' WHERE id = 2")

    def test_different_params_are_different_entries(self):
        key = self.prefix + "sharedkey"
        sql = "SELECT $1 AS v"
        a = self.call(key, sql, (1,))
        b = self.call(key, sql, (2,))
        self.assertEqual(json.loads(a), [{"v": 1}])
        self.assertEqual(json.loads(b), [{"v": 2}])

    def test_nonpositive_ttl_is_an_error(self):
        with self.assertRaises(psycopg2.Error) as cm:
            self.call(self.prefix + "badttl", "SELECT 1 AS one", (), ttl=0)
        self.assertEqual(cm.exception.pgcode, "22023")


if __name__ == "__main__":
    unittest.main()
