#!/usr/bin/env python3
"""Writes a few seed scripts for the reassembly target (see fuzz_targets/reassembly.rs for the
layout): a DNS-over-TCP exchange split across segments, out of order, with a retransmission,
and a fragmented UDP datagram in and out of order.

usage: seed_reassembly.py OUT_DIR
"""
import os
import struct
import sys

# A DNS query for pool.contoso.com A and a response with two A records.
QNAME = b"\x04pool\x07contoso\x03com\x00"
QUERY = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + QNAME + b"\x00\x01\x00\x01"
ANSWER = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04"
RESPONSE = (struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 2, 0, 0) + QNAME + b"\x00\x01\x00\x01"
            + ANSWER + bytes([10, 10, 10, 1]) + ANSWER + bytes([10, 10, 10, 2]))


def framed(message):
    return struct.pack(">H", len(message)) + message


def segment(src, dst, seq, payload, syn=False, fin=False, rst=False, dt=1):
    flags = (1 if syn else 0) | (2 if fin else 0) | (12 if rst else 0)
    return (bytes([0, (dst << 4) | src, flags]) + struct.pack(">IHH", seq, dt, len(payload))
            + payload)


def fragment(src, dst, ident, offset, payload, more, dt=1):
    mode = 0x02 | (0 if more else 0x80)  # byte-exact offsets
    return (bytes([2, (dst << 4) | src, ident, mode]) + struct.pack(">HHH", offset, dt, len(payload))
            + payload)


def expire(dt):
    return bytes([3]) + struct.pack(">H", dt)


def udp(message):
    return struct.pack(">HHHH", 40000, 53, 8 + len(message), 0) + message


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    # Client 10.0.0.1:40000 is socket index 6 + 0 = 6; server 10.0.0.2:53 is index 1.
    client, server = 6, 1
    q, r = framed(QUERY), framed(RESPONSE)
    seeds = {
        "tcp_in_order": segment(client, server, 1000, b"", syn=True)
        + segment(client, server, 1001, q)
        + segment(server, client, 5000, b"", syn=True)
        + segment(server, client, 5001, r[:10])
        + segment(server, client, 5011, r[10:], fin=True),
        "tcp_out_of_order": segment(server, client, 5001, r[20:] + r)
        + segment(server, client, 4981, r[:20])
        + segment(server, client, 4981, r[:20])
        + expire(2000),
        "tcp_midstream": segment(client, server, 77, q[5:] + q + q[:3])
        + segment(client, server, 77 + len(q) * 2 - 2, q[3:], rst=True),
    }
    datagram = udp(RESPONSE)
    seeds["frag_in_order"] = (fragment(0, 1, 1, 0, datagram[:24], True)
                              + fragment(0, 1, 1, 24, datagram[24:], False))
    seeds["frag_reverse_overlap"] = (fragment(0, 1, 2, 16, datagram[16:], False)
                                     + fragment(0, 1, 2, 8, datagram[8:40], True)
                                     + fragment(0, 1, 2, 0, datagram[:16], True)
                                     + expire(5000))
    seeds["mixed"] = seeds["tcp_in_order"] + seeds["frag_in_order"] + expire(9)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
