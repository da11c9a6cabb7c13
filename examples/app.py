"""The seed's Flask cache-aside example, rewritten to let PostgreSQL do the caching.

The original application looked in Redis itself, queried PostgreSQL on a miss,
stored json.dumps(rows) in Redis with a TTL and returned it.  Here the whole
pattern is one SQL call to the cacheaside extension:

    SELECT cache_aside_query(key, sql, ttl, name, email)

which returns the rows as JSON, from Redis on a hit and from the query (then
stored in Redis) on a miss.  The application has no Redis client at all: the
Redis address is configured once in postgresql.conf (cacheaside.host,
cacheaside.port).

Writes need no cache call either: adding a comment is an INSERT and a COMMIT.
With cacheaside in shared_preload_libraries, the commit itself makes every
cached result that read the comments table a miss, before COMMIT returns, so
the next GET shows the new comment.  On a server that does not preload the
library, entries live until their TTL unless removed by name: set
CACHEASIDE_EXPLICIT_INVALIDATE=1 and the application also calls
cache_invalidate() for the user's key in the transaction of the INSERT.

Configuration, from the environment:
    CACHEASIDE_DSN   libpq connection string, e.g. "host=127.0.0.1 port=5432 dbname=app"
    CACHEASIDE_TTL   seconds a cached result lives (default 600, as in the seed)
    CACHEASIDE_EXPLICIT_INVALIDATE
                     1: call cache_invalidate() after each write, for servers
                     without cacheaside in shared_preload_libraries (default 0)

Run:  CACHEASIDE_DSN=... python3 examples/app.py     (see examples/README.md)
"""

import os
from urllib.parse import quote

import psycopg2
from flask import Flask, Response, current_app, g, jsonify, request

# The seed's query, with the identifiers its text had lost, and column aliases
# giving the JSON the keys the seed's jsonify() produced.  $1 and $2 are bound
# by the extension as parameters: never pasted into the SQL text.
COMMENTS_SQL = (
    "SELECT users.id AS user_id, users.name AS user_name, "
    "users.email AS user_email, comments.id AS comment_id, "
    "comments.content AS comment_content "
    "FROM users JOIN comments ON users.id = comments.user_id "
    "WHERE users.name = $1 AND users.email = $2 "
    "ORDER BY comments.id"
)

# Characters that are special in a Redis glob (the pattern language of
# cache_invalidate).
_GLOB_SPECIAL = set("*?[]\\")


def glob_escape(text):
    """Escape text so that cache_invalidate() matches it literally."""
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def comments_key(name, email, prefix=""):
    """The seed's cache key, comments:name=...:email=...

    Name and e-mail are percent-encoded, so that ':' inside a value cannot make
    two different (name, email) pairs share one key, and so that glob
    characters in a value cannot widen an invalidation pattern.
    """
    return "%scomments:name=%s:email=%s" % (
        prefix,
        quote(name, safe="@"),
        quote(email, safe="@"),
    )


def _env_flag(name):
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "yes", "on")


def create_app(dsn=None, ttl=None, key_prefix="", explicit_invalidate=None):
    """Build the Flask application.

    dsn         libpq connection string (default: $CACHEASIDE_DSN)
    ttl         seconds for cached results (default: $CACHEASIDE_TTL or 600)
    key_prefix  prepended to every cache key (the tests use it to keep their
                keys apart from anything else in the database)
    explicit_invalidate
                also remove the user's entry with cache_invalidate() when a
                comment is added (default: $CACHEASIDE_EXPLICIT_INVALIDATE,
                off); only needed when the server does not preload cacheaside
    """
    app = Flask(__name__)
    app.config["CACHEASIDE_DSN"] = dsn if dsn is not None else os.environ.get(
        "CACHEASIDE_DSN", ""
    )
    app.config["CACHEASIDE_TTL"] = int(
        ttl if ttl is not None else os.environ.get("CACHEASIDE_TTL", "600")
    )
    app.config["CACHEASIDE_KEY_PREFIX"] = key_prefix
    app.config["CACHEASIDE_EXPLICIT_INVALIDATE"] = bool(
        explicit_invalidate
        if explicit_invalidate is not None
        else _env_flag("CACHEASIDE_EXPLICIT_INVALIDATE")
    )

    def db():
        if "db" not in g:
            g.db = psycopg2.connect(current_app.config["CACHEASIDE_DSN"])
        return g.db

    @app.teardown_appcontext
    def close_db(exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    def key_for(name, email):
        return comments_key(name, email, current_app.config["CACHEASIDE_KEY_PREFIX"])

    @app.get("/comments")
    def get_comments():
        name = request.args.get("name", "")
        email = request.args.get("email", "")
        conn = db()
        with conn, conn.cursor() as cur:
            # ::text keeps psycopg2 from parsing the JSON: the bytes the
            # extension returns (from Redis on a hit) go to the client as they are.
            cur.execute(
                "SELECT cache_aside_query(%s, %s, %s, %s::text, %s::text)::text",
                (key_for(name, email), COMMENTS_SQL,
                 current_app.config["CACHEASIDE_TTL"], name, email),
            )
            (body,) = cur.fetchone()
        if body == "[]":
            return jsonify(
                {"error": f"No comments found for name={name} and email={email}"}
            ), 404
        return Response(body, mimetype="application/json")

    @app.post("/comments")
    def add_comment():
        data = request.get_json(silent=True) or request.form
        name = data.get("name", "")
        email = data.get("email", "")
        content = data.get("content", "")
        if not content:
            return jsonify({"error": "content is required"}), 400
        conn = db()
        with conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO comments (content, user_id) "
                "SELECT %s, id FROM users WHERE name = %s AND email = %s "
                "RETURNING id, user_id",
                (content, name, email),
            )
            row = cur.fetchone()
            if row is None:
                conn.rollback()
                return jsonify(
                    {"error": f"No user with name={name} and email={email}"}
                ), 404
            comment_id, user_id = row
            invalidated = None
            if current_app.config["CACHEASIDE_EXPLICIT_INVALIDATE"]:
                # Only for servers without cacheaside in
                # shared_preload_libraries, where the commit at the end of
                # this block does not make the cached comments a miss.
                # Called in the INSERT's transaction, cache_invalidate removes
                # the entry now and again once the transaction has committed,
                # so old rows a reader stored in between are removed too (a
                # reader slow enough to store after that second removal can
                # still leave them until their TTL: only preloading closes
                # that hole).
                cur.execute(
                    "SELECT cache_invalidate(%s)",
                    (glob_escape(key_for(name, email)),),
                )
                (invalidated,) = cur.fetchone()
        # Committed: with the library preloaded, every cached result that read
        # comments is now a miss, this user's included.
        return jsonify(
            {
                "comment_id": comment_id,
                "user_id": user_id,
                "invalidated": invalidated,
            }
        ), 201

    return app


app = create_app()

if __name__ == "__main__":
    app.run(
        host=os.environ.get("FLASK_RUN_HOST", "127.0.0.1"),
        port=int(os.environ.get("FLASK_RUN_PORT", "5000")),
    )
