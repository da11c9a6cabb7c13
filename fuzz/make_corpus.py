#!/usr/bin/python3
"""Write seed entries of format 4 (laid out in src/entry.h) into fuzz/corpus/.

An encoder of its own, on purpose: seeds made by the code under test would
share its mistakes.  So are the compressed ones: an LZ4 block encoder
(greedy, literals and matches) and zstd frames of raw and RLE blocks are
written here from their format descriptions, not by liblz4 or libzstd."""

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


def lz4_varlen(n):
    """The extra length bytes of an LZ4 sequence (after 15 in the token)."""
    out = b""
    while n >= 255:
        out += b"\xff"
        n -= 255
    return out + bytes([n])


def lz4_block(src):
    """An LZ4 block of src: greedy 4-byte matches within 64 kB, the last
    5 bytes literals, no match starting in the last 12 (the format's end
    rules)."""
    out = bytearray()
    seen = {}
    anchor = i = 0
    while i + 12 <= len(src):
        j = seen.get(src[i:i + 4])
        seen[src[i:i + 4]] = i
        if j is None or i - j > 65535:
            i += 1
            continue
        m = 4
        while i + m < len(src) - 5 and src[j + m] == src[i + m]:
            m += 1
        lit = src[anchor:i]
        out.append((min(len(lit), 15) << 4) | min(m - 4, 15))
        if len(lit) >= 15:
            out += lz4_varlen(len(lit) - 15)
        out += lit + struct.pack("<H", i - j)
        if m - 4 >= 15:
            out += lz4_varlen(m - 4 - 15)
        i += m
        anchor = i
    lit = src[anchor:]
    out.append(min(len(lit), 15) << 4)
    if len(lit) >= 15:
        out += lz4_varlen(len(lit) - 15)
    return bytes(out + lit)


def zstd_frame(blocks):
    """One zstd frame, single segment, with a 4-byte content size and no
    checksum, of blocks: ("raw", bytes) or ("rle", byte, count)."""
    size = sum(len(b[1]) if b[0] == "raw" else b[2] for b in blocks)
    out = struct.pack("<IB", 0xFD2FB528, 0xA0) + struct.pack("<I", size)
    for k, b in enumerate(blocks):
        last = 1 if k == len(blocks) - 1 else 0
        if b[0] == "raw":
            out += struct.pack("<I", last | len(b[1]) << 3)[:3] + b[1]
        else:
            out += struct.pack("<I", last | 1 << 1 | b[2] << 3)[:3] + b[1]
    return out


def entry(payload, relations=(), tracked=True, checks=b"", compute_us=1500,
          ttl=600, codec=0):
    plen = (88 + 4 * len(relations) + len(checks) + 7) // 8 * 8
    hlen = plen + (8 if codec else 0)
    flags = (1 if tracked else 0) | (2 if codec else 0)
    epoch, as_of = (0x1234567890ABCDEF, 42) if tracked else (0, 0)
    head = b"CAE\x04" + struct.pack(">I", hlen) + b"\0\0\0\0"
    rest = struct.pack(">IQ", flags, 787000000000000)
    rest += bytes(range(32))  # fingerprint
    rest += struct.pack(">II", len(relations), len(checks))
    rest += struct.pack(">QQ", epoch, as_of)
    rest += struct.pack(">II", compute_us, ttl)
    rest += b"".join(struct.pack(">I", r) for r in relations)
    rest += checks
    rest += b"\0" * (plen - 12 - len(rest))
    if codec:
        rest += struct.pack(">II", codec, len(payload))
        payload = lz4_block(payload) if codec == 1 else zstd_frame(
            [("raw", payload[:1]), ("rle", payload[1:2], len(payload) - 2),
             ("raw", payload[-1:])]) if payload[1:-1] == payload[1:2] * (
                len(payload) - 2) else zstd_frame([("raw", payload)])
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
    # compressed: with LZ4 (literals and matches), with zstd (an RLE block
    # between raw ones; one raw block)
    "lz4-rows": entry(
        b"[" + b", ".join(b'{"id":%d,"v":"compressible compressible"}' % i
                          for i in range(1, 40)) + b"]",
        [16384, 16390], codec=1),
    "lz4-short": entry(b'[{"n":5}]', [16500], tracked=False, codec=1),
    "zstd-rle": entry(b"[" + b" " * 3000 + b"]", [16384], codec=2),
    "zstd-raw": entry(b'[{"id":1,"v":"one"}]', [16384], codec=2),
}
os.makedirs(os.path.join(here, "corpus"), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, "corpus", name), "wb") as f:
        f.write(data)
