"""The driver matrix, Python side: cache_aside_query through every client.

    CACHEASIDE_DSN="host=127.0.0.1 port=5432 dbname=postgres user=postgres" \
        /usr/bin/python3 -m unittest -v test_drivers

Each case of driver_cases.json is called twice through psycopg2, psycopg 3
(sync and async), asyncpg, SQLAlchemy (over psycopg2 and over asyncpg) and
Django, written as each one's documentation writes a query with parameters,
without casts: the rows must equal those of the cached SQL sent directly
through the same client with the same values, and the second call must be a
hit (cache_stats).  The typed-rows recipes of the README (json_to_recordset,
json_populate_recordset, SQLAlchemy's from_statement, Django's raw() and a
QuerySet's SQL) are tested below the matrix.

asyncpg needs a codec for the type cache_untyped for values other than str
(README, "From your driver or ORM"); the matrix uses it.  With
CACHEASIDE_AS_WRITTEN=1 the asyncpg clients run without it (bench/drivers.py
counts the calls that pass as written, before and after).
"""

import asyncio
import datetime
import decimal
import json
import os
import re
import unittest
import uuid

import psycopg2
import psycopg2.extras

DSN = os.environ.get("CACHEASIDE_DSN")
AS_WRITTEN = os.environ.get("CACHEASIDE_AS_WRITTEN") == "1"
TTL = 300

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "driver_cases.json")) as f:
    CASES = json.load(f)

PREFIX = "drv%d:" % os.getpid()


def dsn_parts(dsn):
    parts = dict(p.split("=", 1) for p in dsn.split())
    return {"host": parts.get("host", "127.0.0.1"),
            "port": int(parts.get("port", "5432")),
            "user": parts.get("user", "postgres"),
            "dbname": parts.get("dbname", "postgres")}


def url(scheme):
    p = dsn_parts(DSN)
    return "%s://%s@%s:%d/%s" % (scheme, p["user"], p["host"], p["port"],
                                 p["dbname"])


def plain(param):
    """The Python value of a case parameter, before any driver wrapping."""
    (kind, v), = param.items()
    return {
        "str": lambda: v, "uuid_str": lambda: v, "int": lambda: v,
        "bigint": lambda: int(v), "numeric": lambda: decimal.Decimal(v),
        "float": lambda: float(v), "bool": lambda: v, "null": lambda: None,
        "timestamptz": lambda: datetime.datetime.fromisoformat(v),
        "date": lambda: datetime.date.fromisoformat(v),
        "uuid": lambda: uuid.UUID(v), "int_array": lambda: list(v),
        "text_array": lambda: list(v), "json": lambda: v,
    }[kind]()


def decoded(value):
    """JSON as the client returned it (text or already decoded), decoded."""
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def named(sql, style):
    """$n placeholders of the cached SQL as a client's named placeholders."""
    return re.sub(r"\$(\d+)", lambda m: style % ("p" + m.group(1)), sql)


def direct_sql(sql):
    return "SELECT coalesce(json_agg(q), '[]'::json) FROM (%s) q" % sql


def encode_untyped(value):
    """asyncpg text encoder for cache_untyped (README): PostgreSQL's text
    form of a Python value; the cached SQL's $n decides its type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "{%s}" % ",".join(
            "NULL" if e is None else
            '"%s"' % encode_untyped(e).replace("\\", "\\\\").replace('"', '\\"')
            for e in value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


ASYNCPG_CODEC = dict(encoder=encode_untyped, decoder=str, format="text")

_admin = None


def admin():
    global _admin
    if _admin is None:
        _admin = psycopg2.connect(DSN)
        _admin.autocommit = True
    return _admin


def hits(sql):
    with admin().cursor() as cur:
        cur.execute("""SELECT coalesce(sum(hits), 0) FROM cache_stats
                       WHERE query = %s AND userid = current_user::regrole
                         AND dbid = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())""",
                    (sql,))
        return cur.fetchone()[0]


def setUpModule():
    if not DSN:
        return
    with admin().cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS cacheaside")
        for stmt in CASES["setup"]:
            cur.execute(stmt)


def tearDownModule():
    global _admin
    if _admin is not None:
        with _admin.cursor() as cur:
            cur.execute("SELECT cache_invalidate(%s)", (PREFIX + "*",))
        _admin.close()
        _admin = None


class Psycopg2Connection:
    """One autocommit psycopg2 connection per test class, as cls.conn."""

    @classmethod
    def setUpClass(cls):
        psycopg2.extras.register_uuid()
        cls.conn = psycopg2.connect(DSN)
        cls.conn.autocommit = True

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()


class Matrix:
    """One client: call(key, sql, values) and direct(sql, values) return the
    decoded JSON; the test methods are added per case below."""
    client = None

    def run_case(self, case):
        values = [self.value(p) for p in case["params"]]
        key = "%s%s:%s" % (PREFIX, self.client, case["name"])
        want = decoded(self.direct(case["sql"], values))
        before = hits(case["sql"])
        first = decoded(self.call(key, case["sql"], values))
        second = decoded(self.call(key, case["sql"], values))
        self.assertEqual(first, want, "first call (a miss)")
        self.assertEqual(second, want, "second call")
        self.assertEqual(hits(case["sql"]) - before, 1,
                         "the second call is a hit")

    def value(self, param):
        return plain(param)


def add_cases(cls):
    for case in CASES["cases"]:
        def test(self, case=case):
            self.run_case(case)
        setattr(cls, "test_%s" % case["name"], test)
    return cls


# ---------------------------------------------------------------------------
# psycopg2: parameters interpolated on the client, %s placeholders
# ---------------------------------------------------------------------------

@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class Psycopg2(Psycopg2Connection, Matrix, unittest.TestCase):
    client = "psycopg2"

    def value(self, param):
        if "json" in param:
            return psycopg2.extras.Json(param["json"])
        return plain(param)

    def call(self, key, sql, values):
        with self.conn.cursor() as cur:
            cur.execute("SELECT cache_aside_query(%s, %s, %s" +
                        ", %s" * len(values) + ")",
                        [key, sql, TTL] + values)
            return cur.fetchone()[0]

    def direct(self, sql, values):
        with self.conn.cursor() as cur:
            cur.execute(direct_sql(named(sql.replace("%", "%%"), "%%(%s)s")),
                        {"p%d" % (i + 1): v for i, v in enumerate(values)})
            return cur.fetchone()[0]


# ---------------------------------------------------------------------------
# psycopg 3: server-side binding; str and None are sent untyped
# ---------------------------------------------------------------------------

def psycopg3_value(param):
    from psycopg.types.json import Jsonb
    if "json" in param:
        return Jsonb(param["json"])
    return plain(param)


def psycopg3_call_sql(values):
    return "SELECT cache_aside_query(%s, %s, %s" + ", %s" * len(values) + ")"


def psycopg3_direct(sql, values):
    return (direct_sql(named(sql.replace("%", "%%"), "%%(%s)s")),
            {"p%d" % (i + 1): v for i, v in enumerate(values)})


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class Psycopg3(Matrix, unittest.TestCase):
    client = "psycopg3"

    @classmethod
    def setUpClass(cls):
        import psycopg
        cls.conn = psycopg.connect(DSN, autocommit=True)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()

    def value(self, param):
        return psycopg3_value(param)

    def call(self, key, sql, values):
        return self.conn.execute(psycopg3_call_sql(values),
                                 [key, sql, TTL] + values).fetchone()[0]

    def direct(self, sql, values):
        return self.conn.execute(*psycopg3_direct(sql, values)).fetchone()[0]


class AsyncMatrix(Matrix):
    """A client driven from one event loop of its own."""

    @classmethod
    def setUpClass(cls):
        cls.loop = asyncio.new_event_loop()
        cls.loop.run_until_complete(cls.aconnect())

    @classmethod
    def tearDownClass(cls):
        cls.loop.run_until_complete(cls.aclose())
        cls.loop.close()

    def call(self, key, sql, values):
        return self.loop.run_until_complete(self.acall(key, sql, values))

    def direct(self, sql, values):
        return self.loop.run_until_complete(self.adirect(sql, values))


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class Psycopg3Async(AsyncMatrix, unittest.TestCase):
    client = "psycopg3-async"

    @classmethod
    async def aconnect(cls):
        import psycopg
        cls.conn = await psycopg.AsyncConnection.connect(DSN, autocommit=True)

    @classmethod
    async def aclose(cls):
        await cls.conn.close()

    def value(self, param):
        return psycopg3_value(param)

    async def acall(self, key, sql, values):
        cur = await self.conn.execute(psycopg3_call_sql(values),
                                      [key, sql, TTL] + values)
        return (await cur.fetchone())[0]

    async def adirect(self, sql, values):
        cur = await self.conn.execute(*psycopg3_direct(sql, values))
        return (await cur.fetchone())[0]


# ---------------------------------------------------------------------------
# asyncpg: $n placeholders, binary protocol, types from the server
# ---------------------------------------------------------------------------

@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class Asyncpg(AsyncMatrix, unittest.TestCase):
    client = "asyncpg"

    @classmethod
    async def aconnect(cls):
        import asyncpg
        p = dsn_parts(DSN)
        cls.conn = await asyncpg.connect(host=p["host"], port=p["port"],
                                         user=p["user"], database=p["dbname"])
        if not AS_WRITTEN:
            await cls.conn.set_type_codec("cache_untyped", schema="public",
                                          **ASYNCPG_CODEC)

    @classmethod
    async def aclose(cls):
        await cls.conn.close()

    def value(self, param):
        if "json" in param:
            return json.dumps(param["json"])	# asyncpg's json/jsonb take str
        return plain(param)

    async def acall(self, key, sql, values):
        placeholders = "".join(", $%d" % (i + 4) for i in range(len(values)))
        return await self.conn.fetchval(
            "SELECT cache_aside_query($1, $2, $3%s)" % placeholders,
            key, sql, TTL, *values)

    async def adirect(self, sql, values):
        return await self.conn.fetchval(direct_sql(sql), *values)


# ---------------------------------------------------------------------------
# SQLAlchemy: text() with :name parameters, over psycopg2 and over asyncpg
# ---------------------------------------------------------------------------

def sqlalchemy_statement(sql_text, params):
    """text() with the JSON parameters typed as JSONB, as SQLAlchemy's
    documentation binds structured values in textual SQL."""
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import JSONB
    stmt = text(sql_text)
    typed = [bindparam(name, type_=JSONB) for name, (kind, _) in params
             if kind == "json"]
    return stmt.bindparams(*typed) if typed else stmt


def sqlalchemy_call(key, sql, case_params):
    names = ["p%d" % (i + 1) for i in range(len(case_params))]
    stmt = sqlalchemy_statement(
        "SELECT cache_aside_query(:key, :sql, :ttl%s)" %
        "".join(", :" + n for n in names),
        [(n, next(iter(p.items()))) for n, p in zip(names, case_params)])
    values = {n: plain(p) for n, p in zip(names, case_params)}
    values.update(key=key, sql=sql, ttl=TTL)
    return stmt, values


def sqlalchemy_direct(sql, case_params):
    names = ["p%d" % (i + 1) for i in range(len(case_params))]
    stmt = sqlalchemy_statement(
        direct_sql(named(sql, ":%s")),
        [(n, next(iter(p.items()))) for n, p in zip(names, case_params)])
    return stmt, {n: plain(p) for n, p in zip(names, case_params)}


class SQLAlchemyMatrix(Matrix):
    def value(self, param):
        return param			# the statement types them

    def call(self, key, sql, values):
        with self.engine.connect() as conn:
            return conn.execute(*sqlalchemy_call(key, sql, values)).scalar()

    def direct(self, sql, values):
        with self.engine.connect() as conn:
            return conn.execute(*sqlalchemy_direct(sql, values)).scalar()


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class SQLAlchemyPsycopg2(SQLAlchemyMatrix, unittest.TestCase):
    client = "sqlalchemy-psycopg2"

    @classmethod
    def setUpClass(cls):
        import sqlalchemy
        cls.engine = sqlalchemy.create_engine(url("postgresql+psycopg2"),
                                              isolation_level="AUTOCOMMIT")

    @classmethod
    def tearDownClass(cls):
        cls.engine.dispose()


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class SQLAlchemyAsyncpg(AsyncMatrix, unittest.TestCase):
    client = "sqlalchemy-asyncpg"

    @classmethod
    async def aconnect(cls):
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine
        cls.engine = create_async_engine(url("postgresql+asyncpg"),
                                         isolation_level="AUTOCOMMIT")
        if not AS_WRITTEN:
            @event.listens_for(cls.engine.sync_engine, "connect")
            def untyped_codec(dbapi_connection, connection_record):
                dbapi_connection.run_async(
                    lambda conn: conn.set_type_codec(
                        "cache_untyped", schema="public", **ASYNCPG_CODEC))

    @classmethod
    async def aclose(cls):
        await cls.engine.dispose()

    def value(self, param):
        return param

    async def acall(self, key, sql, values):
        async with self.engine.connect() as conn:
            return (await conn.execute(*sqlalchemy_call(key, sql, values))).scalar()

    async def adirect(self, sql, values):
        async with self.engine.connect() as conn:
            return (await conn.execute(*sqlalchemy_direct(sql, values))).scalar()


# ---------------------------------------------------------------------------
# Django: the connection's cursor (psycopg2 underneath), %s placeholders
# ---------------------------------------------------------------------------

_django_ready = False


def django_setup():
    global _django_ready
    if _django_ready:
        return
    import django
    from django.conf import settings
    p = dsn_parts(DSN)
    settings.configure(
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": p["dbname"],
            "USER": p["user"], "HOST": p["host"], "PORT": str(p["port"])}},
        INSTALLED_APPS=[], USE_TZ=True, TIME_ZONE="UTC")
    django.setup()
    _django_ready = True


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
@add_cases
class Django(Matrix, unittest.TestCase):
    client = "django"

    @classmethod
    def setUpClass(cls):
        django_setup()

    def value(self, param):
        if "json" in param:
            return json.dumps(param["json"])
        return plain(param)

    def call(self, key, sql, values):
        from django.db import connection
        with connection.cursor() as cur:
            cur.execute("SELECT cache_aside_query(%s, %s, %s" +
                        ", %s" * len(values) + ")",
                        [key, sql, TTL] + values)
            return cur.fetchone()[0]

    def direct(self, sql, values):
        from django.db import connection
        with connection.cursor() as cur:
            cur.execute(direct_sql(named(sql.replace("%", "%%"), "%%(%s)s")),
                        {"p%d" % (i + 1): v for i, v in enumerate(values)})
            return cur.fetchone()[0]


# ---------------------------------------------------------------------------
# Typed rows: the README's recipes
# ---------------------------------------------------------------------------

ROWS_SQL = ("SELECT id, name, big, price, ok, at, added, uid, tags, doc "
            "FROM drv_items WHERE id <= $1 ORDER BY id")


@unittest.skipUnless(DSN, "CACHEASIDE_DSN is not set")
class TypedRows(Psycopg2Connection, unittest.TestCase):

    def direct_rows(self):
        with self.conn.cursor() as cur:
            cur.execute(ROWS_SQL.replace("$1", "%s"), (2,))
            return cur.fetchall()

    def check_types(self, rows):
        big, price, at, uid = rows[0][2], rows[0][3], rows[0][5], rows[0][7]
        self.assertEqual(big, 9007199254740993)		# beyond 2^53, exact
        self.assertEqual(price, decimal.Decimal("1.20"))
        self.assertEqual(at, datetime.datetime(2024, 1, 1, 10, 0,
                                               tzinfo=datetime.timezone.utc))
        self.assertEqual(uid, uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))

    def test_json_populate_recordset(self):
        for _ in range(2):
            with self.conn.cursor() as cur:
                cur.execute("""SELECT * FROM json_populate_recordset(NULL::drv_items,
                                   cache_aside_query(%s, %s, %s, %s))""",
                            (PREFIX + "rows:populate", ROWS_SQL, TTL, 2))
                rows = cur.fetchall()
            self.assertEqual(rows, self.direct_rows())
            self.check_types(rows)

    def test_json_to_recordset(self):
        for _ in range(2):
            with self.conn.cursor() as cur:
                cur.execute("""SELECT * FROM json_to_recordset(
                                   cache_aside_query(%s, %s, %s, %s))
                               AS r(id int, name text, big bigint,
                                    price numeric(8,2), ok boolean,
                                    at timestamptz, added date, uid uuid,
                                    tags text[], doc jsonb)""",
                            (PREFIX + "rows:to", ROWS_SQL, TTL, 2))
                rows = cur.fetchall()
            self.assertEqual(rows, self.direct_rows())
            self.check_types(rows)

    def test_json_values_without_recordset(self):
        """What the JSON alone gives: numbers as JSON numbers (a bigint
        beyond 2^53 stays exact in Python's json, not in JavaScript's),
        numeric with its scale, timestamps and uuids as strings."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT cache_aside_query(%s, %s, %s, %s)::text",
                        (PREFIX + "rows:json", ROWS_SQL, TTL, 2))
            row = json.loads(cur.fetchone()[0], parse_float=decimal.Decimal)[0]
        self.assertEqual(row["big"], 9007199254740993)
        self.assertEqual(row["price"], decimal.Decimal("1.20"))
        self.assertEqual(row["at"], "2024-01-01T10:00:00+00:00")
        self.assertEqual(row["added"], "2024-01-01")
        self.assertEqual(row["uid"], "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
        self.assertEqual(row["tags"], ["red", "fruit"])
        self.assertEqual(row["doc"]["n"], 12345678901234567890)

    def test_sqlalchemy_from_statement(self):
        import sqlalchemy
        from sqlalchemy import Column, Integer, Numeric, Text, BigInteger, text
        from sqlalchemy.dialects.postgresql import UUID
        from sqlalchemy.orm import Session, declarative_base

        Base = declarative_base()

        class Item(Base):
            __tablename__ = "drv_items"
            id = Column(Integer, primary_key=True)
            name = Column(Text)
            big = Column(BigInteger)
            price = Column(Numeric(8, 2))
            uid = Column(UUID(as_uuid=True))

        engine = sqlalchemy.create_engine(url("postgresql+psycopg2"))
        stmt = text("""SELECT * FROM json_populate_recordset(NULL::drv_items,
                           cache_aside_query(:key, :sql, :ttl, :max_id))""")
        try:
            for _ in range(2):
                with Session(engine) as session:
                    items = session.execute(
                        sqlalchemy.select(Item).from_statement(stmt),
                        {"key": PREFIX + "rows:sqlalchemy", "sql": ROWS_SQL,
                         "ttl": TTL, "max_id": 2}).scalars().all()
                self.assertEqual([i.id for i in items], [1, 2])
                self.assertEqual(items[0].big, 9007199254740993)
                self.assertEqual(items[0].price, decimal.Decimal("1.20"))
                self.assertEqual(items[1].uid,
                                 uuid.UUID("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"))
        finally:
            engine.dispose()

    def test_django_raw_and_queryset(self):
        django_setup()
        from django.db import connection, models

        class Item(models.Model):
            name = models.TextField()
            big = models.BigIntegerField()
            price = models.DecimalField(max_digits=8, decimal_places=2)
            ok = models.BooleanField()
            at = models.DateTimeField()
            uid = models.UUIDField()

            class Meta:
                app_label = "cacheaside_drivers"
                db_table = "drv_items"
                managed = False

        # raw(): typed model instances from the cached JSON
        before = hits(ROWS_SQL)
        for _ in range(2):
            items = list(Item.objects.raw(
                """SELECT * FROM json_populate_recordset(NULL::drv_items,
                       cache_aside_query(%s, %s, %s, %s))""",
                [PREFIX + "rows:django", ROWS_SQL, TTL, 2]))
            self.assertEqual([i.id for i in items], [1, 2])
            self.assertEqual(items[0].price, decimal.Decimal("1.20"))
            self.assertEqual(items[0].at, datetime.datetime(
                2024, 1, 1, 10, 0, tzinfo=datetime.timezone.utc))
            self.assertEqual(items[1].uid,
                             uuid.UUID("b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"))
        self.assertEqual(hits(ROWS_SQL) - before, 1)

        # a QuerySet's own SQL, cached: %s become $n, its params passed on
        qs = Item.objects.filter(price__lt=decimal.Decimal("5"),
                                 ok=True).order_by("id")
        sql, params = qs.query.sql_with_params()
        counter = iter(range(1, len(params) + 1))
        cached_sql = re.sub(r"%s", lambda m: "$%d" % next(counter), sql)
        before = hits(cached_sql)
        for _ in range(2):
            items = list(Item.objects.raw(
                "SELECT * FROM json_populate_recordset(NULL::drv_items, "
                "cache_aside_query(%s, %s, %s" + ", %s" * len(params) + "))",
                [PREFIX + "rows:queryset", cached_sql, TTL] + list(params)))
            self.assertEqual([i.pk for i in items], [i.pk for i in qs])
        self.assertEqual(hits(cached_sql) - before, 1)
        connection.close()


if __name__ == "__main__":
    unittest.main()
