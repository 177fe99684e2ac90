#!/usr/bin/env python3
"""Seeds the decode_frame corpus: extracts frames from pcap/pcapng captures and writes each as
<link index byte><flags byte = 0><frame bytes>, the decode_frame target's input layout.

usage: extract_frames.py OUT_DIR [--per-file N] [--max M] CAPTURE...
"""
import hashlib
import os
import struct
import sys

LINK_TYPES = [1, 113, 276, 101, 228, 229, 0, 108, 239]


def pcap_frames(data):
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    link = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(e + "I", data[pos + 8:pos + 12])[0]
        pos += 16
        if incl > len(data) - pos:
            return
        yield link, data[pos:pos + incl]
        pos += incl


def pcapng_frames(data):
    pos = 0
    e = "<"
    links = []
    while pos + 12 <= len(data):
        btype = struct.unpack(e + "I", data[pos:pos + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[pos + 8:pos + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack(e + "I", data[pos + 4:pos + 8])[0]
        if blen < 12 or pos + blen > len(data):
            return
        body = data[pos + 8:pos + blen - 4]
        if btype == 1 and len(body) >= 2:
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:
            iface, _, _, cap = struct.unpack(e + "IIII", body[:16])
            if iface < len(links):
                yield links[iface], body[20:20 + cap]
        elif btype == 3 and len(body) >= 4 and links:
            yield links[0], body[4:]
        pos += blen


def main():
    args = sys.argv[1:]
    out = args.pop(0)
    per_file, limit = 12, 600
    if args and args[0] == "--per-file":
        per_file = int(args[1]); args = args[2:]
    if args and args[0] == "--max":
        limit = int(args[1]); args = args[2:]
    os.makedirs(out, exist_ok=True)
    written = 0
    for path in args:
        with open(path, "rb") as f:
            data = f.read()
        frames = pcapng_frames(data) if data[:4] == b"\x0a\x0d\x0d\x0a" else pcap_frames(data)
        taken = 0
        for link, frame in frames:
            if link not in LINK_TYPES:
                continue
            if taken >= per_file or written >= limit:
                break
            record = bytes([LINK_TYPES.index(link), 0]) + frame
            name = hashlib.sha1(record).hexdigest()
            target = os.path.join(out, name)
            if not os.path.exists(target):
                with open(target, "wb") as f:
                    f.write(record)
                written += 1
            taken += 1
    print(f"wrote {written} frames to {out}")


if __name__ == "__main__":
    main()
