#!/usr/bin/python3
"""Write seed entries of format 4 (laid out in src/entry.h) into fuzz/corpus/.

An encoder of its own, on purpose: seeds made by the code under test would
share its mistakes."""

import os
import struct

POLY = 0x82F63B78  # CRC-32C, reflected


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (POLY if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def check(kind, role, obj, privileges=0, version=0, columns=()):
    return struct.pack(">IIIIII", kind, role, obj, privileges, version,
                       len(columns)) + \
        b"".join(struct.pack(">I", c) for c in columns)


def entry(payload, relations=(), tracked=True, checks=b"", compute_us=1500,
          ttl=600):
    hlen = (88 + 4 * len(relations) + len(checks) + 7) // 8 * 8
    flags = 1 if tracked else 0
    epoch, as_of = (0x1234567890ABCDEF, 42) if tracked else (0, 0)
    head = b"CAE\x04" + struct.pack(">I", hlen) + b"\0\0\0\0"
    rest = struct.pack(">IQ", flags, 787000000000000)
    rest += bytes(range(32))  # fingerprint
    rest += struct.pack(">II", len(relations), len(checks))
    rest += struct.pack(">QQ", epoch, as_of)
    rest += struct.pack(">II", compute_us, ttl)
    rest += b"".join(struct.pack(">I", r) for r in relations)
    rest += checks
    rest += b"\0" * (hlen - 12 - len(rest))
    rest += payload
    return head[:8] + struct.pack(">I", crc32c(rest)) + rest


here = os.path.dirname(os.path.abspath(__file__))
seeds = {
    "empty-result": entry(b"[]"),
    "one-row": entry(b'[{"id":1,"v":"one"}]', [16384]),
    "two-rows-three-relations": entry(
        b'[{"id":1,"v":"one"}, \n {"id":2,"v":"two"}]', [16384, 16390, 16401]),
    "untracked": entry(b'[{"n":5}]', [16500], tracked=False),
    # SELECT on two columns of a table, EXECUTE on a function, USAGE on a
    # schema, checked for role 10
    "privilege-checks": entry(
        b'[{"a":1,"b":2}]', [16384],
        checks=check(1, 10, 16384, 2, 750, [8, 9]) +
        check(2, 10, 16390, 0, 751) + check(3, 10, 16383)),
}
os.makedirs(os.path.join(here, "corpus"), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, "corpus", name), "wb") as f:
        f.write(data)
