#!/usr/bin/python3
"""A fake Redis Sentinel whose answer the test chooses.

    fake_sentinel.py PORT_FILE ANSWER_FILE

Listens on an ephemeral port of 127.0.0.1 and writes the port to PORT_FILE.
AUTH is answered +OK; every other command (SENTINEL get-master-addr-by-name)
with the answer in ANSWER_FILE, read again for each command: one line
"HOST PORT", answered as the array of two bulk strings a Sentinel sends.
"""

import os
import socket
import sys
import threading


def commands(buf):
    """The whole RESP commands at the start of buf, and the bytes they take"""
    out, pos = [], 0
    while buf.startswith(b"*", pos):
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            break
        p, args = eol + 2, []
        for _ in range(int(buf[pos + 1:eol])):
            eol = buf.find(b"\r\n", p)
            if eol < 0 or not buf.startswith(b"$", p):
                return out, pos
            length = int(buf[p + 1:eol])
            if eol + 2 + length + 2 > len(buf):
                return out, pos
            args.append(buf[eol + 2:eol + 2 + length])
            p = eol + 2 + length + 2
        else:
            out.append(args)
            pos = p
            continue
        break
    return out, pos


def bulk(s):
    return b"$%d\r\n%s\r\n" % (len(s), s)


def serve(conn, answer_file):
    buf = b""
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            cmds, used = commands(buf)
            buf = buf[used:]
            for c in cmds:
                if c and c[0].upper() == b"AUTH":
                    reply = b"+OK\r\n"
                else:
                    with open(answer_file, "rb") as f:
                        host, port = f.read().split()
                    reply = b"*2\r\n" + bulk(host) + bulk(port)
                try:
                    conn.sendall(reply)
                except OSError:
                    return


def main():
    port_file, answer_file = sys.argv[1], sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(tmp, port_file)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, answer_file),
                         daemon=True).start()


if __name__ == "__main__":
    main()
