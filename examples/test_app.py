"""Tests of examples/app.py against a real PostgreSQL with the cacheaside extension.

    CACHEASIDE_DSN="host=127.0.0.1 port=5432 dbname=postgres user=postgres" \
        python3 -m unittest examples/test_app.py -v

The server named by CACHEASIDE_DSN must have cacheaside.host/cacheaside.port
pointing at a running Redis.  The test of automatic invalidation also needs
shared_preload_libraries = 'cacheaside' (it is skipped otherwise);
examples/run_tests starts such a server.  The extension is created if it is
missing (that needs a superuser).  Everything else the tests make lives in a
fresh schema and under a key prefix of their own, both removed at the end.

Without CACHEASIDE_DSN the tests are skipped.
"""

import json
import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

DSN = os.environ.get("CACHEASIDE_DSN")

try:
    import psycopg2
    import psycopg2.extensions
    import app as example_app
except ImportError as exc:  # pragma: no cover - reported as a skip
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None


@unittest.skipIf(IMPORT_ERROR is not None, "cannot import: %s" % IMPORT_ERROR)
@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
class ExampleAppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tag = "%d_%06d" % (os.getpid(), random.randrange(10**6))
        cls.schema = "cacheaside_example_" + tag
        cls.key_prefix = "example_test_%s:" % tag
        cls.ttl = 600

        cls.admin = psycopg2.connect(DSN)
        cls.admin.autocommit = True
        with cls.admin.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS cacheaside")
            cur.execute(
                "SELECT extnamespace::regnamespace::text FROM pg_extension "
                "WHERE extname = 'cacheaside'"
            )
            (ext_schema,) = cur.fetchone()
            cur.execute("CREATE SCHEMA " + cls.schema)
            cur.execute("SET search_path = %s, %s" % (cls.schema, ext_schema))
            with open(os.path.join(HERE, "schema.sql")) as f:
                cur.execute(f.read())
        cls.search_path = "%s,%s" % (cls.schema, ext_schema)

        # The application sees the scratch schema first, then the extension's.
        app_dsn = psycopg2.extensions.make_dsn(
            DSN, options="-c search_path=" + cls.search_path
        )
        # As configured by default: writes leave invalidation to the commit.
        cls.app = example_app.create_app(
            dsn=app_dsn, ttl=cls.ttl, key_prefix=cls.key_prefix,
            explicit_invalidate=False,
        )
        cls.app.testing = True
        # For servers that do not preload cacheaside: writes also call
        # cache_invalidate.  Works with or without preloading.
        cls.explicit_app = example_app.create_app(
            dsn=app_dsn, ttl=cls.ttl, key_prefix=cls.key_prefix,
            explicit_invalidate=True,
        )
        cls.explicit_app.testing = True

    @classmethod
    def tearDownClass(cls):
        try:
            with cls.admin.cursor() as cur:
                cur.execute("SET search_path = " + cls.search_path)
                cur.execute(
                    "SELECT cache_invalidate(%s)",
                    (example_app.glob_escape(cls.key_prefix) + "*",),
                )
                cur.execute("DROP SCHEMA %s CASCADE" % cls.schema)
        finally:
            cls.admin.close()

    def setUp(self):
        self.client = self.app.test_client()
        self.explicit_client = self.explicit_app.test_client()

    # helpers -------------------------------------------------------------

    def sql(self, query, params=()):
        with self.admin.cursor() as cur:
            cur.execute("SET search_path = " + self.search_path)
            cur.execute(query, params)
            return cur.fetchone()[0]

    def key(self, name, email):
        return example_app.comments_key(name, email, self.key_prefix)

    def get(self, name, email):
        return self.client.get("/comments", query_string={"name": name, "email": email})

    def automatic_invalidation_off(self):
        """Why commits do not invalidate on this server, or None if they do."""
        with self.admin.cursor() as cur:
            cur.execute(
                "SELECT current_setting('shared_preload_libraries'), "
                "current_setting('cacheaside.auto_invalidate', true), "
                "pg_is_in_recovery()"
            )
            preload, auto, recovery = cur.fetchone()
        libraries = [lib.strip().strip('"') for lib in preload.split(",")]
        if "cacheaside" not in libraries:
            return "cacheaside is not in shared_preload_libraries"
        if auto != "on":
            return "cacheaside.auto_invalidate is off"
        if recovery:
            return "the server is a standby"
        return None

    # tests ---------------------------------------------------------------

    def test_key_is_unambiguous_and_glob_safe(self):
        self.assertEqual(
            example_app.comments_key("Alice", "alice@example.com"),
            "comments:name=Alice:email=alice@example.com",
        )
        self.assertNotEqual(
            example_app.comments_key("a:email=b", "c"),
            example_app.comments_key("a", "b:email=c"),
        )
        self.assertNotRegex(example_app.comments_key("*", "?[x]\\"), r"[*?\[\]\\]")
        self.assertEqual(example_app.glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\")

    def test_miss_then_hit_return_the_same_json(self):
        name, email = "Alice", "alice@example.com"
        key = self.key(name, email)
        self.assertIsNone(self.sql("SELECT cache_get_ttl(%s)", (key,)))

        miss = self.get(name, email)  # runs the query, stores the result
        self.assertEqual(miss.status_code, 200)
        self.assertEqual(miss.mimetype, "application/json")
        rows = json.loads(miss.get_data(as_text=True))
        self.assertEqual(
            rows,
            [
                {"user_id": 1, "user_name": "Alice", "user_email": "alice@example.com",
                 "comment_id": 1, "comment_content": "Great post!"},
                {"user_id": 1, "user_name": "Alice", "user_email": "alice@example.com",
                 "comment_id": 2, "comment_content": "Interesting read."},
            ],
        )
        ttl = self.sql("SELECT cache_get_ttl(%s)", (key,))
        self.assertIsNotNone(ttl, "the miss did not store an entry")
        self.assertTrue(0 < ttl <= self.ttl, ttl)

        # Give the entry a TTL the application never uses: a hit leaves it
        # alone, a miss would store the result again with ttl=600.
        self.assertTrue(self.sql("SELECT cache_set_ttl(%s, 5000)", (key,)))
        hit = self.get(name, email)
        self.assertEqual(hit.status_code, 200)
        self.assertEqual(hit.get_data(), miss.get_data())
        ttl = self.sql("SELECT cache_get_ttl(%s)", (key,))
        self.assertGreater(ttl, self.ttl, "the second request was not a cache hit")

    def test_commit_alone_makes_the_next_get_show_the_comment(self):
        why = self.automatic_invalidation_off()
        if why:
            self.skipTest("no automatic invalidation: " + why)
        # a user of this test's own
        name, email = "Dave", "dave@example.com"
        with self.admin.cursor() as cur:
            cur.execute("SET search_path = " + self.search_path)
            cur.execute(
                "INSERT INTO users (name, email) VALUES (%s, %s) RETURNING id",
                (name, email),
            )
            (user_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO comments (content, user_id) VALUES ('First!', %s)",
                (user_id,),
            )
        key = self.key(name, email)

        before = self.get(name, email)  # a miss, stored
        self.assertEqual(before.status_code, 200)
        self.assertEqual(len(before.get_json()), 1)
        # A TTL the application never uses: the entry stays recognisable
        # until a miss stores the result again with ttl=600.
        self.assertTrue(self.sql("SELECT cache_set_ttl(%s, 5000)", (key,)))
        hit = self.get(name, email)
        self.assertEqual(hit.get_data(), before.get_data())
        self.assertGreater(self.sql("SELECT cache_get_ttl(%s)", (key,)), self.ttl,
                           "the second request was not a cache hit")

        posted = self.client.post(
            "/comments", json={"name": name, "email": email, "content": "Second!"}
        )
        self.assertEqual(posted.status_code, 201, posted.get_data(as_text=True))
        self.assertIsNone(posted.get_json()["invalidated"])
        new_id = posted.get_json()["comment_id"]
        # Nobody removed the entry: it is still in Redis with its long TTL.
        self.assertGreater(self.sql("SELECT cache_get_ttl(%s)", (key,)), self.ttl,
                           "the entry was removed; this test is about the commit")

        # The commit alone made it a miss: the new comment is there.
        after = self.get(name, email)
        self.assertEqual(after.status_code, 200)
        rows = after.get_json()
        self.assertEqual(
            [(r["comment_id"], r["comment_content"]) for r in rows[1:]],
            [(new_id, "Second!")],
            "the GET after the POST returned the cached rows",
        )
        self.assertEqual(rows[:1], before.get_json())
        # That miss stored the result again, with the application's TTL.
        ttl = self.sql("SELECT cache_get_ttl(%s)", (key,))
        self.assertTrue(0 < ttl <= self.ttl, ttl)
        self.assertEqual(self.get(name, email).get_data(), after.get_data())

    def test_explicit_invalidation_removes_the_entry(self):
        name, email = "Bob", "bob@example.com"
        key = self.key(name, email)
        before = self.get(name, email)
        self.assertEqual(before.status_code, 200)
        self.assertEqual(len(before.get_json()), 2)
        self.assertIsNotNone(self.sql("SELECT cache_get_ttl(%s)", (key,)))

        posted = self.explicit_client.post(
            "/comments",
            json={"name": name, "email": email, "content": "A new comment, with 'quotes'."},
        )
        self.assertEqual(posted.status_code, 201, posted.get_data(as_text=True))
        new_id = posted.get_json()["comment_id"]
        self.assertEqual(posted.get_json()["invalidated"], 1)
        self.assertIsNone(self.sql("SELECT cache_get_ttl(%s)", (key,)))

        after = self.get(name, email)
        self.assertEqual(after.status_code, 200)
        rows = after.get_json()
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[-1]["comment_id"], new_id)
        self.assertEqual(rows[-1]["comment_content"], "A new comment, with 'quotes'.")
        self.assertEqual(rows[:2], before.get_json())
        # and that result is cached again
        self.assertIsNotNone(self.sql("SELECT cache_get_ttl(%s)", (key,)))
        self.assertEqual(self.get(name, email).get_data(), after.get_data())

    def test_post_form_data(self):
        posted = self.explicit_client.post(
            "/comments",
            data={"name": "Charlie", "email": "charlie@example.com", "content": "Form post."},
        )
        self.assertEqual(posted.status_code, 201, posted.get_data(as_text=True))
        rows = self.get("Charlie", "charlie@example.com").get_json()
        self.assertEqual(rows[-1]["comment_content"], "Form post.")

    def test_unknown_user(self):
        resp = self.get("Mallory", "mallory@example.com")
        self.assertEqual(resp.status_code, 404)
        self.assertIn("error", resp.get_json())
        posted = self.client.post(
            "/comments",
            json={"name": "Mallory", "email": "mallory@example.com", "content": "hi"},
        )
        self.assertEqual(posted.status_code, 404)
        self.assertEqual(self.sql("SELECT count(*) FROM comments WHERE content = 'hi'"), 0)

    def test_parameters_are_not_pasted_into_sql(self):
        resp = self.get("x' OR '1'='1", "y' OR '1'='1")
        self.assertEqual(resp.status_code, 404)

    def test_post_requires_content(self):
        posted = self.client.post(
            "/comments", json={"name": "Alice", "email": "alice@example.com"}
        )
        self.assertEqual(posted.status_code, 400)


if __name__ == "__main__":
    unittest.main()
