#!/usr/bin/python3
"""How fast do interrupts end a call that waits on a frozen Redis?

    interrupts.py DSN REDIS_PID ROUNDS

Called by bench/interrupts, which starts the servers.  For each kind of
interrupt, measures ROUNDS times, side by side, a cache_aside_query() call
waiting on a Redis stopped with SIGSTOP (cacheaside.command_timeout = 10min)
and PostgreSQL's own pg_sleep(600), which waits on its latch the same way:

    cancel      pg_cancel_backend() from a second session: time from just
                before the call that sends the signal until the error
                reaches the waiting client
    timeout     statement_timeout = 100ms: the call's elapsed time past 100 ms
    terminate   pg_terminate_backend(): time until the client sees its
                connection end

Prints one table (milliseconds: median, 90th percentile, maximum) and the
ratio of the medians.  The Redis wait gets no slower to interrupt than
pg_sleep when the two lines match.
"""

import os
import signal
import statistics
import sys
import threading
import time

import psycopg2

DSN, REDIS_PID, ROUNDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

CALL = "SELECT cache_aside_query('bench:interrupts', 'SELECT 1 AS x', 60)"
SLEEP = "SELECT pg_sleep(600)"
# the wait event each statement shows while it waits
WAITS = {CALL: ("Extension", None), SLEEP: ("Timeout", "PgSleep")}


def connect():
    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    return conn


def prepare(conn):
    cur = conn.cursor()
    cur.execute("SET cacheaside.command_timeout = '10min'")
    cur.execute("SET cacheaside.retry_interval = 0")
    cur.execute("SELECT pg_backend_pid()")
    return cur.fetchone()[0]


def wait_until_waiting(admin, pid, statement):
    etype, event = WAITS[statement]
    cur = admin.cursor()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cur.execute(
            "SELECT wait_event_type, wait_event FROM pg_stat_activity"
            " WHERE pid = %s AND state = 'active'", (pid,))
        row = cur.fetchone()
        if row and row[0] == etype and (event is None or row[1] == event):
            return
        time.sleep(0.002)
    raise RuntimeError(f"backend {pid} never waited on {etype}/{event}")


def run_in_thread(conn, statement):
    """Run statement in a thread; returns (thread, result) where result
    gets the time the statement ended and its error."""
    result = {}

    def target():
        try:
            conn.cursor().execute(statement)
            result["error"] = None
        except psycopg2.Error as e:
            result["error"] = e
        result["end"] = time.perf_counter()

    t = threading.Thread(target=target)
    t.start()
    return t, result


def signal_round(statement, admin, function):
    """Run statement in a new session, wait until it waits, call function
    (pg_cancel_backend or pg_terminate_backend) on it from admin; returns
    the time until the client saw the statement end, and its error."""
    conn = connect()
    pid = prepare(conn)
    t, result = run_in_thread(conn, statement)
    wait_until_waiting(admin, pid, statement)
    start = time.perf_counter()
    admin.cursor().execute(f"SELECT {function}(%s)", (pid,))
    t.join(60)
    assert result["error"] is not None, result
    return conn, result["end"] - start, result["error"]


def cancel_round(statement, admin):
    conn, elapsed, error = signal_round(statement, admin, "pg_cancel_backend")
    assert error.pgcode == "57014", error
    # the session is usable afterwards
    cur = conn.cursor()
    cur.execute("SELECT 42")
    assert cur.fetchone()[0] == 42
    conn.close()
    return elapsed


def timeout_round(statement, admin):
    conn = connect()
    prepare(conn)
    conn.cursor().execute("SET statement_timeout = '100ms'")
    start = time.perf_counter()
    try:
        conn.cursor().execute(statement)
        raise AssertionError("the statement was not cancelled")
    except psycopg2.errors.QueryCanceled:
        pass
    end = time.perf_counter()
    conn.close()
    return end - start - 0.100


def terminate_round(statement, admin):
    conn, elapsed, _ = signal_round(statement, admin, "pg_terminate_backend")
    conn.close()
    return elapsed


def summary(samples):
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]
    return statistics.median(ms), p90, ms[-1]


def main():
    admin = connect()
    # one call with Redis up, so that the entry exists and connects work
    warm = connect()
    warm.cursor().execute(CALL)
    warm.close()

    os.kill(REDIS_PID, signal.SIGSTOP)
    try:
        rows = []
        for name, fn in (("cancel", cancel_round), ("timeout", timeout_round),
                         ("terminate", terminate_round)):
            samples = {CALL: [], SLEEP: []}
            for _ in range(ROUNDS):
                # interleaved, so that both see the same machine
                for statement in (CALL, SLEEP):
                    samples[statement].append(fn(statement, admin))
            rows.append((name, summary(samples[CALL]), summary(samples[SLEEP])))
    finally:
        os.kill(REDIS_PID, signal.SIGCONT)

    print(f"{ROUNDS} rounds each, milliseconds (median / p90 / max)")
    print(f"{'interrupt':<11} {'frozen Redis':>24} {'pg_sleep':>24} {'ratio':>6}")
    for name, redis, sleep in rows:
        fmt = "{:6.2f} / {:6.2f} / {:6.2f}"
        print(f"{name:<11} {fmt.format(*redis):>24} {fmt.format(*sleep):>24}"
              f" {redis[0] / sleep[0]:6.2f}")


if __name__ == "__main__":
    main()
