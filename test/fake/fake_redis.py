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


def complete_commands(buf):
    """Count the whole RESP commands (arrays of bulk strings) at the start
    of buf; return (count, bytes they take).  Clients may pipeline several
    commands in one write: each gets its own reply."""
    count = 0
    pos = 0
    while True:
        if not buf.startswith(b"*", pos):
            return count, pos
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return count, pos
        nargs = int(buf[pos + 1:eol])
        p = eol + 2
        for _ in range(nargs):
            eol = buf.find(b"\r\n", p)
            if eol < 0 or not buf.startswith(b"$", p):
                return count, pos
            length = int(buf[p + 1:eol])
            p = eol + 2 + length + 2
            if p > len(buf):
                return count, pos
        count += 1
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
            count, used = complete_commands(buf)
            buf = buf[used:]
            try:
                for _ in range(count):
                    conn.sendall(REPLIES[mode])
                    if mode in ("truncated", "stall"):
                        break
            except OSError:
                return
            if mode == "truncated":
                return


def main():
    port_file, mode_file = sys.argv[1], sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
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
