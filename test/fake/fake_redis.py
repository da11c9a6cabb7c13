#!/usr/bin/python3
"""A fake Redis server that answers every request with a broken reply.

    fake_redis.py PORT_FILE MODE_FILE

Listens on an ephemeral port of 127.0.0.1 and writes the port to PORT_FILE.
Each connection it accepts adds a line to PORT_FILE.accepts.
Each new connection reads MODE_FILE (one word) and answers each command on
that connection (several may come in one write) as the mode says:

    huge-array   "*2000000000": an array no reply could fill
    garbage      a line that is not the Redis protocol
    truncated    the start of a bulk string, then the connection is closed
    oversized    a 5 MB bulk string
    nested       arrays nested deeper than cacheaside lets hiredis parse
    wrong-type   an integer, whatever the command
    close        closes the connection without answering
    stall        half a reply, then nothing
    error        an error reply, whatever the command
    resp3-double a RESP3 double, never asked for (hiredis 1.x parses it,
                 0.14 does not)
    resp3-map    a RESP3 map announced with two billion pairs

and, as a hostile Redis Sentinel, an answer to SENTINEL
get-master-addr-by-name that names no usable master:

    sentinel-bad-port    a port out of range
    sentinel-long-host   a host name of 100 000 bytes
    sentinel-nul-host    a host name with a NUL byte inside
    sentinel-three       three elements instead of two

and, as a hostile node of a Redis Cluster, MOVED for every command but
CLUSTER SLOTS, which is answered as the mode says:

    cluster-moved-loop   MOVED to the fake server itself, again and again
                         (CLUSTER SLOTS: MOVED too)
    cluster-moved-closed MOVED to a port nothing listens on
                         (CLUSTER SLOTS: MOVED too)
    cluster-bad-range    a slot map whose range ends past the last slot
    cluster-long-host    a slot map naming a host of 100 000 bytes
    cluster-many-nodes   a slot map of 16 384 ranges, each on its own node
    cluster-overlap      a slot map of 16 384 ranges, each of every slot
    cluster-huge-map     a slot map announced with two billion ranges
    cluster-17-masters   a slot map of 17 ranges, each on its own master
"""

import os
import socket
import sys
import threading

REPLIES = {
    "huge-array": b"*2000000000\r\n",
    "garbage": b"hello, this is not Redis\r\n",
    "truncated": b"$100\r\nabc",
    "oversized": b"$5000000\r\n" + b"x" * 5000000 + b"\r\n",
    "nested": b"*1\r\n" * 12 + b":1\r\n",
    "wrong-type": b":42\r\n",
    "stall": b"$10\r\nabc",
    "error": b"-ERR the fake server refuses everything\r\n",
    "resp3-double": b",3.14\r\n",
    "resp3-map": b"%2000000000\r\n",
    "sentinel-bad-port": b"*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n",
    "sentinel-long-host": b"*2\r\n$100000\r\n" + b"h" * 100000
    + b"\r\n$4\r\n6379\r\n",
    "sentinel-nul-host": b"*2\r\n$5\r\nab\x00cd\r\n$4\r\n6379\r\n",
    "sentinel-three": b"*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n$1\r\nx\r\n",
}


# set in main(): the fake server's port, and one nothing listens on
OWN_PORT = 0
CLOSED_PORT = 0


def cluster_map(ranges):
    """A CLUSTER SLOTS reply of (first, last, host, port) ranges."""
    out = b"*%d\r\n" % len(ranges)
    for first, last, host, port in ranges:
        out += b"*3\r\n:%d\r\n:%d\r\n*2\r\n$%d\r\n%s\r\n:%d\r\n" % (
            first, last, len(host), host, port)
    return out


def cluster_reply(mode, command):
    """The reply of a hostile cluster node to one command."""
    moved_self = b"-MOVED 1 127.0.0.1:%d\r\n" % OWN_PORT
    if mode == "cluster-moved-closed":
        return b"-MOVED 1 127.0.0.1:%d\r\n" % CLOSED_PORT
    if command != b"CLUSTER" or mode == "cluster-moved-loop":
        return moved_self
    if mode == "cluster-bad-range":
        return cluster_map([(0, 99999999, b"127.0.0.1", OWN_PORT)])
    if mode == "cluster-long-host":
        return cluster_map([(0, 16383, b"h" * 100000, OWN_PORT)])
    if mode == "cluster-many-nodes":
        return cluster_map([(i, i, b"127.0.0.1", 1 + i) for i in range(16384)])
    if mode == "cluster-overlap":
        return cluster_map([(0, 16383, b"127.0.0.1", OWN_PORT)] * 16384)
    if mode == "cluster-huge-map":
        return b"*2000000000\r\n"
    if mode == "cluster-17-masters":
        return cluster_map([(i * 964, min(i * 964 + 963, 16383), b"127.0.0.1",
                             CLOSED_PORT if i == 0 else 1 + i)
                            for i in range(17)])
    return moved_self


def complete_commands(buf):
    """Count the whole RESP commands (arrays of bulk strings) at the start
    of buf; return (count, bytes they take, their names).  Clients may
    pipeline several commands in one write: each gets its own reply."""
    count = 0
    pos = 0
    names = []
    while True:
        if not buf.startswith(b"*", pos):
            return count, pos, names
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return count, pos, names
        nargs = int(buf[pos + 1:eol])
        p = eol + 2
        name = b""
        for i in range(nargs):
            eol = buf.find(b"\r\n", p)
            if eol < 0 or not buf.startswith(b"$", p):
                return count, pos, names
            length = int(buf[p + 1:eol])
            if i == 0:
                name = buf[eol + 2:eol + 2 + length].upper()
            p = eol + 2 + length + 2
            if p > len(buf):
                return count, pos, names
        count += 1
        names.append(name)
        pos = p


def serve(conn, mode):
    buf = b""
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            if mode == "close":
                return
            buf += data
            count, used, names = complete_commands(buf)
            buf = buf[used:]
            try:
                for name in names:
                    if mode.startswith("cluster-"):
                        conn.sendall(cluster_reply(mode, name))
                        continue
                    conn.sendall(REPLIES[mode])
                    if mode in ("truncated", "stall"):
                        break
            except OSError:
                return
            if mode == "truncated":
                return


def main():
    global OWN_PORT, CLOSED_PORT
    port_file, mode_file = sys.argv[1], sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    OWN_PORT = listener.getsockname()[1]
    # a port bound, never listened on, and closed: connections are refused
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    CLOSED_PORT = closed.getsockname()[1]
    closed.close()
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(tmp, port_file)
    while True:
        conn, _ = listener.accept()
        with open(port_file + ".accepts", "a") as f:
            f.write("accepted\n")
        with open(mode_file) as f:
            mode = f.read().strip()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
