#!/usr/bin/env python3
"""extract_corpus.py - seed the parser's fuzz corpus with real frames.

Usage: extract_corpus.py OUT_DIR PCAP_OR_DIR... [--max-files N] [--max-bytes B]

Reads pcap and pcapng files (stdlib only, both byte orders, malformed files
are read up to the first bad block), keeps the Ethernet frames (link type 1)
and writes each frame whose coarse shape has not been seen yet as one raw
file named by its SHA-1. The shape is a rough key (VLAN tags, ethertype, IP
version, protocol chain, fragment bits, cut by the snap length, size class),
so a few hundred files cover what thousands of frames show without the
corpus growing past a couple of MB. Real frames only: no invented bytes.
"""
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from pcapfile import LINKTYPE_ETHERNET, read_frames  # noqa: E402

def shape(frame, orig):
    """A coarse, parser-independent description of a frame's headers."""
    key = []
    off, et, tags = 12, None, 0
    while off + 2 <= len(frame):
        et = struct.unpack(">H", frame[off:off + 2])[0]
        if et in (0x8100, 0x88A8, 0x9100, 0x9200) and tags < 6:
            tags += 1
            off += 4
            continue
        break
    off += 2
    key += [tags, et if et is None or et >= 0x600 else "len"]
    if et == 0x0800 and off + 20 <= len(frame):
        v = frame[off]
        key += [v >> 4, v & 15, frame[off + 9], frame[off + 6] & 0x3F != 0,
                (frame[off + 6] & 0x1F) | frame[off + 7] != 0]
    elif et == 0x86DD and off + 40 <= len(frame):
        nh, p, n = frame[off + 6], off + 40, 0
        key += [frame[off] >> 4]
        while nh in (0, 43, 44, 51, 60) and p + 8 <= len(frame) and n < 10:
            key.append(nh)
            step = 8 if nh == 44 else ((frame[p + 1] + 2) * 4 if nh == 51 else (frame[p + 1] + 1) * 8)
            nh, p, n = frame[p], p + step, n + 1
        key.append(nh)
    key += [len(frame) < orig, min(len(frame) // 64, 8)]
    return tuple(key)


def main(argv):
    args, max_files, max_bytes = [], 400, 1_800_000
    it = iter(argv[1:])
    for a in it:
        if a == "--max-files":
            max_files = int(next(it))
        elif a == "--max-bytes":
            max_bytes = int(next(it))
        else:
            args.append(a)
    if len(args) < 2:
        sys.exit(__doc__)
    out, inputs = args[0], []
    for a in args[1:]:
        if os.path.isdir(a):
            for root, _, names in sorted(os.walk(a)):
                inputs += [os.path.join(root, n) for n in sorted(names)]
        else:
            inputs.append(a)
    os.makedirs(out, exist_ok=True)
    seen, written, total = set(), 0, 0
    for path in inputs:
        try:
            frames = list(read_frames(path))
        except (OSError, struct.error) as e:
            print(f"{path}: skipped: {e}", file=sys.stderr)
            continue
        for linktype, frame, orig in frames:
            if linktype != LINKTYPE_ETHERNET:
                break
            k = shape(frame, orig)
            if k in seen or written >= max_files or total + len(frame) > max_bytes:
                continue
            seen.add(k)
            name = os.path.join(out, hashlib.sha1(frame).hexdigest())
            if os.path.exists(name):
                continue
            with open(name, "wb") as f:
                f.write(frame)
            written += 1
            total += len(frame)
    print(f"{written} frames, {total} bytes written to {out}")


if __name__ == "__main__":
    main(sys.argv)
