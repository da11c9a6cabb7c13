#!/usr/bin/env python3
"""bench/drivers.py: the driver matrix as written, and hit vs direct latency.

    bench/drivers.py --dsn "host=127.0.0.1 port=5432 dbname=bench user=postgres" \
        [--node-modules DIR] [--matrix] [--latency] [--calls 5000]

Against a running server that preloads cacheaside, with the extension created
in that database (scripts/test's client suite sets one up the same way):

--matrix   runs the driver matrix (test/client/test_drivers.py and, with
           --node-modules holding pg@8, postgres@3 and knex@3,
           test/client/test_drivers.js) with CACHEASIDE_AS_WRITTEN=1: every
           call exactly as the client's documentation writes it, without the
           asyncpg codec for cache_untyped and without postgres.js's
           sql.array().  Prints the calls that pass per client (of 20: the
           rows equal the direct query's, and the second call is a hit).
           Run it against a build of main's HEAD for "before".
--latency  psycopg2 and asyncpg (with the README's codec), one connection
           each: the median (and 99th percentile) of --calls calls of the
           direct query and of a hit on the same query, for a one-row query
           and a query of about 6 ms.

Results and how they were taken: bench/README.md, "Drivers".
"""

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "..", "test", "client")
sys.path.insert(0, CLIENT_DIR)

ONE_ROW = "SELECT id, name, price FROM drv_items WHERE id = $1"
# a 6 ms query: its time spent in pg_sleep, so that the load of a shared
# machine does not move it
SLOW = ("SELECT id, name, price FROM drv_items, pg_sleep(0.006) "
        "WHERE id = $1")


def run_matrix(dsn, node_modules):
    env = dict(os.environ, CACHEASIDE_DSN=dsn, CACHEASIDE_AS_WRITTEN="1",
               PYTHONDONTWRITEBYTECODE="1")
    counts = {}
    out = subprocess.run([sys.executable, "-m", "unittest", "-v", "test_drivers"],
                         cwd=CLIENT_DIR, env=env, capture_output=True, text=True)
    for m in re.finditer(r"^test_\w+ \(test_drivers\.(\w+)(?:\.\w+)?\) \.\.\. (\w+)",
                         out.stderr, re.M):
        client, result = m.group(1), m.group(2)
        if client == "TypedRows":
            continue
        c = counts.setdefault(client, [0, 0])
        c[0 if result == "ok" else 1] += 1
    if node_modules:
        out = subprocess.run(["node", "--test", "--test-reporter=tap",
                              "test_drivers.js"], cwd=CLIENT_DIR,
                             env=dict(env, NODE_PATH=node_modules),
                             capture_output=True, text=True)
        for m in re.finditer(r"^\s*(not ok|ok) \d+ - (\S+) \w+$", out.stdout, re.M):
            if m.group(2) not in ("node-postgres", "postgres.js", "knex"):
                continue
            c = counts.setdefault(m.group(2), [0, 0])
            c[0 if m.group(1) == "ok" else 1] += 1
    print("%-22s %s" % ("client", "calls passing as written"))
    for client, (ok, bad) in counts.items():
        print("%-22s %d/%d" % (client, ok, ok + bad))


def summary(name, times):
    times = sorted(times)
    med = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    print("%-34s median %8.3f ms   p99 %8.3f ms" % (name, med, p99))
    return med


def latency_psycopg2(dsn, calls):
    import psycopg2
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    results = {}
    for label, sql in (("one-row", ONE_ROW), ("6 ms", SLOW)):
        key = "bench:drivers:psycopg2:%s" % label
        cur.execute("SELECT cache_invalidate(%s)", (key,))
        direct = sql.replace("$1", "%s")
        call = "SELECT cache_aside_query(%s, %s, 600, %s)"
        cur.execute(call, (key, sql, 1))	# warm the entry
        times = {"direct": [], "hit": []}
        for _ in range(calls):
            t = time.perf_counter()
            cur.execute(direct, (1,))
            cur.fetchall()
            times["direct"].append(time.perf_counter() - t)
            t = time.perf_counter()
            cur.execute(call, (key, sql, 1))
            cur.fetchall()
            times["hit"].append(time.perf_counter() - t)
        d = summary("psycopg2 %s direct" % label, times["direct"])
        h = summary("psycopg2 %s hit" % label, times["hit"])
        results[label] = (d, h)
    conn.close()
    return results


async def latency_asyncpg(dsn, calls):
    import asyncpg
    from test_drivers import ASYNCPG_CODEC, dsn_parts
    p = dsn_parts(dsn)
    conn = await asyncpg.connect(host=p["host"], port=p["port"], user=p["user"],
                                 database=p["dbname"])
    await conn.set_type_codec("cache_untyped", schema="public", **ASYNCPG_CODEC)
    for label, sql in (("one-row", ONE_ROW), ("6 ms", SLOW)):
        key = "bench:drivers:asyncpg:%s" % label
        await conn.execute("SELECT cache_invalidate($1)", key)
        call = "SELECT cache_aside_query($1, $2, 600, $3)"
        await conn.fetchval(call, key, sql, 1)
        times = {"direct": [], "hit": []}
        for _ in range(calls):
            t = time.perf_counter()
            await conn.fetch(sql, 1)
            times["direct"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await conn.fetchval(call, key, sql, 1)
            times["hit"].append(time.perf_counter() - t)
        summary("asyncpg %s direct" % label, times["direct"])
        summary("asyncpg %s hit" % label, times["hit"])
    await conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--node-modules")
    ap.add_argument("--matrix", action="store_true")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--calls", type=int, default=5000)
    args = ap.parse_args()
    if args.matrix:
        run_matrix(args.dsn, args.node_modules)
    if args.latency:
        import psycopg2
        conn = psycopg2.connect(args.dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            from test_drivers import CASES
            for stmt in CASES["setup"]:
                cur.execute(stmt)
        conn.close()
        latency_psycopg2(args.dsn, args.calls)
        asyncio.run(latency_asyncpg(args.dsn, args.calls))


if __name__ == "__main__":
    main()
