#!/usr/bin/env python3
"""A minimal IPFIX collector for tests: the reference model of the wire.

usage: ipfix_collector.py udp|tcp PORT LOG [DELAY_MS]
Listens on 127.0.0.1:PORT, learns templates from the wire (per UDP stream or
per TCP connection), decodes every data set with them, and appends one line
per message to LOG (flushed at once, so a kill -9 loses nothing written):
  conn=N seq=S len=L sets=ID,ID records=R gap=0|1 templates_known=0|1
gap=1 means the sequence number is not the previous one plus its records;
templates_known=0 means a data set arrived before its template. A message
that does not parse ends in "bad=REASON". DELAY_MS (TCP) sleeps after each
message: a slow collector, so that the exporter feels back pressure.
Runs until killed.
"""
import socket
import struct
import sys
import time


def parse(msg, tpls):
    """Returns (seq, set ids, data records, templates known, bad reason)."""
    if len(msg) < 16:
        return 0, [], 0, True, "short"
    ver, length, _t, seq, _dom = struct.unpack("!HHIII", msg[:16])
    if ver != 10 or length != len(msg):
        return seq, [], 0, True, f"version {ver} length {length}/{len(msg)}"
    p, ids, recs, known = 16, [], 0, True
    while p < length:
        sid, slen = struct.unpack("!HH", msg[p:p + 4])
        if slen < 4 or p + slen > length:
            return seq, ids, recs, known, f"set {sid} length {slen}"
        ids.append(sid)
        body, q = msg[p + 4:p + slen], 0
        if sid in (2, 3):
            while q + 4 <= len(body):
                tid, n = struct.unpack("!HH", body[q:q + 4])
                q += 6 if sid == 3 else 4
                fields = []
                for _ in range(n):
                    ie, flen = struct.unpack("!HH", body[q:q + 4])
                    q += 8 if ie & 0x8000 else 4
                    fields.append(flen)
                tpls[tid] = fields
        elif sid in tpls:
            while q < len(body):
                for flen in tpls[sid]:
                    if flen == 0xFFFF:
                        flen = body[q] + 1  # one-octet length form
                    q += flen
                recs += 1
            if q != len(body):
                return seq, ids, recs, known, f"set {sid} records overrun"
        else:
            known = False
        p += slen
    return seq, ids, recs, known, None


def log_msg(out, conn, msg, state):
    seq, ids, recs, known, bad = parse(msg, state["tpls"])
    gap = int(state["next"] is not None and seq != state["next"])
    state["next"] = (seq + recs) & 0xFFFFFFFF
    line = (f"conn={conn} seq={seq} len={len(msg)} sets={','.join(map(str, ids))} "
            f"records={recs} gap={gap} templates_known={int(known)}")
    out.write(line + (f" bad={bad.replace(' ', '_')}" if bad else "") + "\n")
    out.flush()


def main():
    mode, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    delay = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0
    out = open(path, "a")
    if mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind(("127.0.0.1", port))
        state = {"tpls": {}, "next": None}
        while True:
            log_msg(out, 0, s.recv(65536), state)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4)
    conn = 0
    while True:
        c, _ = s.accept()
        conn += 1
        state, buf = {"tpls": {}, "next": None}, b""
        while True:
            data = c.recv(16384 if delay else 262144)
            if not data:
                break
            buf += data
            while len(buf) >= 4 and len(buf) >= struct.unpack("!H", buf[2:4])[0]:
                n = struct.unpack("!H", buf[2:4])[0]
                if n < 16:
                    out.write(f"conn={conn} bad=length_{n}\n")
                    out.flush()
                    buf = b""
                    break
                log_msg(out, conn, buf[:n], state)
                buf = buf[n:]
                if delay:
                    time.sleep(delay)
        c.close()


if __name__ == "__main__":
    main()
