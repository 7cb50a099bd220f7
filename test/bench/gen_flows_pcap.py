#!/usr/bin/env python3
"""gen_flows_pcap.py OUT.pcap FLOWS [PACKETS_PER_FLOW]

Writes a classic pcap of FLOWS distinct IPv4 5-tuples (TCP and UDP, 64-byte
frames, round-robin so consecutive packets belong to different flows) for
bench_vswitch. Source MAC 02:00:00:00:00:01 (the bench's ENI); half of the
flows go to the second ENI's MAC (02:00:00:00:00:02), half to an unknown MAC
(the uplink). Stdlib only.
"""
import struct
import sys


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


def frame(i):
    dst = b"\x02\x00\x00\x00\x00\x02" if i % 2 == 0 else b"\x02\x00\x00\x00\x00\x99"
    eth = dst + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    proto = 6 if i % 4 < 2 else 17
    src = bytes([10, 1, (i >> 8) & 0xFF, i & 0xFF])
    dsta = bytes([10, 2, (i >> 16) & 0xFF, (i >> 24) & 0xFF])
    sport = 1024 + (i * 7919) % 60000
    dport = 80 if proto == 6 else 53
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, i, 0, 5 << 4, 0x10, 65535, 0, 0)
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + 2, 0) + b"\x00\x00"
    total = 20 + len(l4)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, i & 0xFFFF, 0, 64, proto, 0, src, dsta)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    f = eth + ip + l4
    return f + b"\x00" * (60 - len(f)) if len(f) < 60 else f


def main():
    out, flows = sys.argv[1], int(sys.argv[2])
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        frames = [frame(i) for i in range(flows)]
        for r in range(per):
            for i, fr in enumerate(frames):
                f.write(struct.pack("<IIII", r, i % 1000000, len(fr), len(fr)))
                f.write(fr)


if __name__ == "__main__":
    main()
