#!/usr/bin/env python3
"""Writes small journal files (the format of systemd's JOURNAL_FILE_FORMAT) as fuzz seeds:
a header, DATA objects, ENTRY objects and one ENTRY_ARRAY, regular or compact. Hash tables are
left out (readers that list entries do not need them); `journalctl --file=F -o export` reads
the result. Usage: scripts/journal-seed.py OUT_DIR"""
import os, struct, sys

def align(n):
    return (n + 7) & ~7

def build(compact, entries):
    header_size = 272
    objs = bytearray()
    base = header_size
    def add(obj):
        nonlocal objs
        off = base + len(objs)
        objs += obj + b"\0" * (align(len(obj)) - len(obj))
        return off
    data_off = {}
    entry_offs = []
    for seq, (rt, mono, fields) in enumerate(entries, 1):
        items = []
        for f in fields:
            if f not in data_off:
                pay = 72 if compact else 64
                size = pay + len(f)
                head = struct.pack("<BB6xQ", 1, 0, size)
                body = struct.pack("<QQQQQQ", 0, 0, 0, 0, 0, 0)
                if compact:
                    body += struct.pack("<II", 0, 0)
                data_off[f] = add(head + body + f)
            items.append(data_off[f])
        n = len(items)
        size = 64 + n * (4 if compact else 16)
        e = struct.pack("<BB6xQQQQ16sQ", 3, 0, size, seq, rt, mono, b"\x11" * 16, 0)
        for i in items:
            e += struct.pack("<I", i) if compact else struct.pack("<QQ", i, 0)
        entry_offs.append(add(e))
    # Link each data object to its first entry (n_entries 1).
    buf = bytearray(objs)
    for f, off in data_off.items():
        first = next(eo for eo, (_, _, fs) in zip(entry_offs, entries) if f in fs)
        struct.pack_into("<QQQ", buf, off - base + 40, first, 0, 1)
    arr_items = b"".join(struct.pack("<I" if compact else "<Q", o) for o in entry_offs)
    size = 24 + len(arr_items)
    arr_off = base + len(buf)
    buf += struct.pack("<BB6xQQ", 6, 0, size, 0) + arr_items
    buf += b"\0" * (align(len(buf)) - len(buf))
    h = bytearray(header_size)
    h[0:8] = b"LPKSHHRH"
    struct.pack_into("<II", h, 8, 2, (16 if compact else 0))
    h[16] = 0
    h[24:40] = b"\x22" * 16
    h[40:56] = b"\x33" * 16
    h[56:72] = b"\x11" * 16
    h[72:88] = b"\x22" * 16
    struct.pack_into("<QQ", h, 88, header_size, len(buf))
    struct.pack_into("<QQQQQQ", h, 136, arr_off, len(data_off) + len(entries) + 1,
                     len(entries), len(entries), 1, arr_off)
    struct.pack_into("<QQQ", h, 184, entries[0][0], entries[-1][0], entries[-1][1])
    return bytes(h) + bytes(buf)

entries = [
    (1_700_000_000_000_000 + i * 1000, 1000 + i,
     [b"MESSAGE=line %d" % i, b"_HOSTNAME=web1", b"SYSLOG_IDENTIFIER=sshd", b"PRIORITY=%d" % (i % 3)])
    for i in range(6)
]
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for compact in (False, True):
    with open(os.path.join(out, "seed-%s.journal" % ("compact" if compact else "regular")), "wb") as f:
        f.write(build(compact, entries))
