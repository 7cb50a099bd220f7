#!/usr/bin/env python3
"""Hostile HTTP clients against a running eniflowd (driven by http_abuse.sh).

Each case must end with a 4xx or a connection the daemon closed; while it
runs a health poller from another source address (127.0.0.1; attackers use
127.0.0.2+) must keep getting 200, and the daemon's VmRSS must stay within
a bound derived from its limits. Raw sockets, because curl normalises or
refuses most of what is sent here.
usage: http_abuse.py PORT TOKEN PID SEGMENT_NAME SEGMENT_SIZE MAX_PER_IP TIMEOUT_S BODY_MAX
"""
import os
import selectors
import socket
import sys
import threading
import time

PORT, TOKEN, PID, SEG = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
SEG_SIZE, PER_IP, TMO, BODY_MAX = (int(x) for x in sys.argv[5:9])
HOST = "127.0.0.1"
FAILS = []


def fail(msg):
    print("FAIL:", msg, flush=True)
    FAILS.append(msg)


def rss_kib():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def threads():
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def conn(src="127.0.0.2", timeout=5.0):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((HOST, PORT))
    return s


def read_all(s, limit=1 << 20):
    """Read until EOF/reset/timeout. Returns (bytes, how) with how in eof|reset|timeout."""
    out = b""
    try:
        while len(out) < limit:
            b = s.recv(65536)
            if not b:
                return out, "eof"
            out += b
    except ConnectionResetError:
        return out, "reset"
    except socket.timeout:
        return out, "timeout"
    return out, "limit"


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def raw(data, src="127.0.0.2", timeout=5.0, shut=False):
    """Send raw bytes; return (status or 0, raw response, how the connection ended)."""
    s = conn(src, timeout)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass
    resp, how = read_all(s)
    s.close()
    return status_of(resp), resp, how


def req(method, path, body=b"", headers=(), src="127.0.0.2"):
    h = "".join("%s: %s\r\n" % kv for kv in headers)
    if body or method in ("POST", "PATCH"):
        h += "Content-Length: %d\r\n" % len(body)
    data = ("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (method, path, h)).encode("latin-1")
    return raw(data + body, src)


class Health(threading.Thread):
    """Polls /v1/health from 127.0.0.1 every 50 ms; counts answers and failures."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ok = self.bad = 0
        self.last_err = ""
        self.stop = False
        self.lock = threading.Lock()

    def run(self):
        while not self.stop:
            try:
                st, _, _ = raw(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               src="127.0.0.1", timeout=2.0)
                good = st == 200
            except OSError as e:
                good, st = False, str(e)
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.bad += 1
                    self.last_err = str(st)
            time.sleep(0.05)

    def take(self):
        with self.lock:
            r = (self.ok, self.bad, self.last_err)
            self.ok = self.bad = 0
        return r


HEALTH = Health()
BASE_RSS = 0
# thread-per-connection: a connection costs its thread's touched stack and at
# most the per-connection memory limit (64 KiB) plus the body cap
RSS_BOUND_KIB = 0
FIGS = []


def case(name, fn):
    HEALTH.take()
    before = rss_kib()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib())
            time.sleep(0.05)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.time()
    try:
        detail = fn()
    except Exception as e:  # a case that raises is a failure, not a crash of the test
        fail("%s: raised %r" % (name, e))
        detail = ""
    dt = time.time() - t0
    time.sleep(0.2)
    done.set()
    t.join()
    ok, bad, err = HEALTH.take()
    after = rss_kib()
    line = ("%-22s %5.1f s  health %3d ok %d failed  RSS %d -> peak %d -> %d KiB  %s"
            % (name, dt, ok, bad, before, peak[0], after, detail or ""))
    print(line, flush=True)
    FIGS.append(line)
    if bad or ok == 0:
        fail("%s: health during the case: %d ok, %d failed (last: %s)" % (name, ok, bad, err))
    if peak[0] > BASE_RSS + RSS_BOUND_KIB:
        fail("%s: RSS peak %d KiB > bound %d KiB" % (name, peak[0], BASE_RSS + RSS_BOUND_KIB))
    try:
        os.kill(PID, 0)
    except OSError:
        fail("%s: eniflowd died" % name)
        sys.exit(1)


def expect_4xx_or_closed(name, st, how, want=None):
    if want is not None and st != want:
        fail("%s: status %d (%s), want %d" % (name, st, how, want))
    elif want is None and not (400 <= st < 500) and not (st == 0 and how in ("eof", "reset")):
        fail("%s: status %d, connection %s: want a 4xx or a closed connection" % (name, st, how))


# ------------------------------------------------------------------ cases
def slowloris():
    """4 source IPs x max_per_ip connections trickle header bytes: each is cut
    within the request deadline although it is never idle for the timeout."""
    socks = []
    for ip in range(4):
        for _ in range(PER_IP):
            s = conn("127.0.0.%d" % (10 + ip))
            s.setblocking(False)
            socks.append([s, None])
    hdr = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
    t0 = time.time()
    i = 0
    while time.time() - t0 < TMO + 4 and any(c is None for _, c in socks):
        for ent in socks:
            if ent[1] is not None:
                continue
            try:
                ent[0].send(hdr[i % len(hdr):i % len(hdr) + 1])
                if ent[0].recv(1) == b"":
                    ent[1] = time.time() - t0
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                ent[1] = time.time() - t0
        i += 1
        time.sleep(0.25)
    cut = [c for _, c in socks if c is not None]
    for s, _ in socks:
        s.close()
    if len(cut) != len(socks):
        fail("slowloris: %d of %d trickling connections still open after %.1f s"
             % (len(socks) - len(cut), len(socks), TMO + 4))
    return "%d connections, all cut after %.1f-%.1f s" % (
        len(socks), min(cut or [0]), max(cut or [0]))


def flood():
    """10,000 connections opened as fast as the kernel takes them from one
    address: the per-IP limit refuses all but max_per_ip, health answers."""
    n = 10000
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.3", 0))
        s.setblocking(False)
        s.connect_ex((HOST, PORT))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ)
    closed = set()
    t0 = time.time()
    poked = False
    base_threads = threads()
    peak_threads = base_threads
    while time.time() - t0 < TMO + 8 and len(closed) < n:
        if not poked and time.time() - t0 > 3:
            # a handshake the full accept queue dropped looks established to
            # the client only: one request byte gets it a reset, or it is a
            # connection the daemon holds and the request deadline will cut
            poked = True
            for s in socks:
                if s not in closed:
                    try:
                        s.send(b"G")
                    except OSError:
                        pass
        peak_threads = max(peak_threads, threads())
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                gone = s.recv(1) == b""
            except (ConnectionResetError, ConnectionRefusedError):
                gone = True
            except (BlockingIOError, OSError):
                gone = False
            if gone:
                closed.add(s)
                sel.unregister(s)
    for s in socks:
        s.close()
    if len(closed) < n:
        fail("flood: %d of %d connections never closed by the daemon" % (n - len(closed), n))
    # thread per connection: the threads show how many the daemon held at once
    # (health polls from 127.0.0.1 add at most one or two)
    if peak_threads > base_threads + PER_IP + 2:
        fail("flood: %d threads at peak: the per-IP limit (%d) let more in" % (peak_threads, PER_IP))
    return "%d opened, all closed within %.1f s; threads %d -> peak %d" % (
        n, time.time() - t0, base_threads, peak_threads)


def oversize_declared():
    s = conn()
    s.sendall(b"POST /v1/flow-logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
              + b"\r\nContent-Length: 1000000000000\r\n\r\n{\"a\":")
    t0 = time.time()
    resp, how = read_all(s)
    s.close()
    st = status_of(resp)
    expect_4xx_or_closed("oversize (declared)", st, how, 413)
    return "Content-Length 1e12: %d after %.2f s, then %s" % (st, time.time() - t0, how)


def oversize_chunked():
    s = conn()
    s.sendall(b"POST /v1/flow-logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
              + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (65536, b"a" * 65536)
    sent = 0
    s.settimeout(0.5)
    resp, how = b"", ""
    t0 = time.time()
    try:
        while sent < 64 << 20 and time.time() - t0 < TMO + 4:
            s.sendall(chunk)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        how = "reset"
    except socket.timeout:
        pass
    s.settimeout(TMO + 2)
    r2, how2 = read_all(s)
    resp += r2
    s.close()
    st = status_of(resp)
    expect_4xx_or_closed("oversize (chunked)", st, how or how2)
    return "chunked, %d KiB sent before %d/%s" % (sent >> 10, st, how or how2)


def deep_json():
    body = b"[" * 10000 + b"]" * 10000
    st, resp, how = req("POST", "/v1/flow-logs", body, [("Authorization", "Bearer " + TOKEN)])
    expect_4xx_or_closed("deep JSON", st, how, 400)
    body = b'{"resource":"vpc-1","traffic_type":"ALL","x":' + b'{"a":' * 10000 + b"1" + b"}" * 10001
    st2, _, how = req("POST", "/v1/flow-logs", body, [("Authorization", "Bearer " + TOKEN)])
    expect_4xx_or_closed("deep JSON object", st2, how, 400)
    return "10,000 deep: %d, %d" % (st, st2)


def dup_keys():
    out = []
    for body in (b'{"resource":"vpc-1","traffic_type":"ALL","traffic_type":"REJECT"}',
                 b'{"resource":"vpc-1","resource":"vpc-2","traffic_type":"ALL"}'):
        st, resp, how = req("POST", "/v1/flow-logs", body, [("Authorization", "Bearer " + TOKEN)])
        expect_4xx_or_closed("duplicate keys", st, how, 400)
        out.append(st)
    return "statuses %s" % out


def dup_content_length():
    out = []
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    body = b'{"resource":"vpc-dup","traffic_type":"ALL"}'
    for hdrs in (b"Content-Length: %d\r\nContent-Length: 5\r\n" % len(body),
                 b"Content-Length: 5\r\nContent-Length: %d\r\n" % len(body),
                 b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(body), len(body)),
                 b"Content-Length: %d, 5\r\n" % len(body),
                 b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(body)):
        st, resp, how = raw(b"POST /v1/flow-logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                            + auth + hdrs + b"\r\n" + body, shut=True)
        expect_4xx_or_closed("duplicate Content-Length %r" % hdrs, st, how)
        out.append(st or how)
    return "statuses %s" % out


def bad_paths():
    out = []
    for path in (b"/v1/\xff\xfe\xc0\xaf", b"/v1/health\x00x", b"/v1/health%00x",
                 b"/v1/flow-logs/fl-%ff%fe", b"/v1/flow-logs/%00", b"/v1/segments/%c0%ae%c0%ae",
                 b"/v1/%01%02%7f", b"/v1/stats\x7f"):
        st, resp, how = raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        expect_4xx_or_closed("path %r" % path, st, how)
        if st and b"\r\n\r\n{" not in resp and st >= 400:
            fail("path %r: %d without a JSON error body" % (path, st))
        out.append(st or how)
    return "statuses %s" % out


def traversal():
    out = []
    for name in ("../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 "%2E%2E/%2E%2E/etc/passwd", "/etc/passwd", "%2fetc%2fpasswd", SEG + "%00",
                 SEG + "%00.txt", "..%00/" + SEG, SEG + "/..", "./" + SEG, "..\\" + SEG,
                 SEG.replace("-", "-%30", 1)[:-1], "%252e%252e%252fetc%252fpasswd"):
        st, resp, how = req("GET", "/v1/segments/" + name)
        expect_4xx_or_closed("segment name %s" % name, st, how)
        if b"root:" in resp:
            fail("segment name %s served /etc/passwd" % name)
        st2, _, how2 = req("DELETE", "/v1/segments/" + name, headers=[("Authorization", "Bearer " + TOKEN)])
        expect_4xx_or_closed("DELETE segment name %s" % name, st2, how2)
        out.append("%d/%d" % (st, st2))
    st, resp, _ = req("GET", "/v1/segments/" + SEG)
    if st != 200 or len(resp.split(b"\r\n\r\n", 1)[1]) != SEG_SIZE:
        fail("the real segment no longer downloads whole: %d" % st)
    return "statuses %s" % " ".join(out)


def ranges():
    out = []
    for rng, want in (("bytes=%d-" % SEG_SIZE, 416), ("bytes=%d-%d" % (SEG_SIZE, SEG_SIZE + 10), 416),
                      ("bytes=99999999999999999999-", 416), ("bytes=-0", 416), ("bytes=5-2", 416),
                      ("bytes=0-1,4-5", 416), ("bits=0-1", 416),
                      ("bytes=%d-99999999999999999999" % (SEG_SIZE - 1), 206),
                      ("bytes=-99999999999", 206)):
        st, resp, how = req("GET", "/v1/segments/" + SEG, headers=[("Range", rng)])
        if st != want:
            fail("Range %s: %d, want %d" % (rng, st, want))
        if want == 416 and b"bytes */%d" % SEG_SIZE not in resp:
            fail("Range %s: no Content-Range bytes */%d" % (rng, SEG_SIZE))
        out.append(st)
    return "statuses %s" % out


def auth_matrix():
    rows = []
    good = "Bearer " + TOKEN
    bads = [(None, 401), ("Bearer", 401), ("Bearer ", 401), ("Bearer wrong", 403),
            ("Basic " + TOKEN, 401), (TOKEN, 401), ("Bearer " + TOKEN + "x", 403),
            ("Bearer " + TOKEN[:-1], 403), ("Bearer  " + TOKEN, 403), ("Bearer " + TOKEN.upper(), 403)]
    for method, path, body in (("POST", "/v1/flow-logs", b'{"resource":"vpc-auth","traffic_type":"ALL"}'),
                               ("PATCH", "/v1/flow-logs/fl-0000000000000000", b'{"traffic_type":"ALL"}'),
                               ("DELETE", "/v1/flow-logs/fl-0000000000000000", b""),
                               ("DELETE", "/v1/segments/" + SEG, b""),
                               ("PUT", "/v1/flow-logs", b"{}")):
        for tok, want in bads:
            hd = [("Authorization", tok)] if tok is not None else []
            st, resp, how = req(method, path, body, hd)
            if st != want:
                fail("auth %s %s with %r: %d, want %d" % (method, path, tok, st, want))
            rows.append(st)
        st, _, _ = req(method, path + "?token=" + TOKEN, body)
        if st != 401:
            fail("auth %s %s with the token in the query: %d, want 401" % (method, path, st))
    # the token in the query string or a second header never counts; GETs need none
    st, _, _ = req("POST", "/v1/flow-logs", b'{"resource":"vpc-auth","traffic_type":"ALL"}',
                   [("Authorization", "Bearer wrong"), ("Authorization", good)])
    if st not in (400, 403):
        fail("auth: two Authorization headers (wrong first): %d, want 400/403" % st)
    for path in ("/v1/health", "/v1/enis", "/v1/flow-logs", "/v1/segments", "/v1/stats", "/metrics"):
        for hd in ([], [("Authorization", good)], [("Authorization", "Bearer wrong")]):
            st, _, _ = req("GET", path, headers=hd)
            if st != 200:
                fail("GET %s with %r: %d, want 200 (reads need no token)" % (path, hd, st))
    # the segment is still there: no DELETE above was let through
    st, _, _ = req("GET", "/v1/segments/" + SEG)
    if st != 200:
        fail("auth: the segment is gone after the unauthenticated DELETEs: %d" % st)
    st, resp, _ = req("POST", "/v1/flow-logs", b'{"resource":"vpc-auth","traffic_type":"ALL"}',
                      [("Authorization", good)])
    if st != 201:
        fail("auth: the right token does not create: %d %r" % (st, resp[-200:]))
    return "%d refusals checked" % len(rows)


def main():
    global BASE_RSS, RSS_BOUND_KIB
    for ip in range(2, 20):  # the whole of 127/8 is local: attackers get their own addresses
        socket.socket().bind(("127.0.0.%d" % ip, 0))
    time.sleep(0.3)
    BASE_RSS = rss_kib()
    RSS_BOUND_KIB = 4 * PER_IP * (256 + BODY_MAX // 1024) + 32 * 1024
    print("eniflowd pid %d: VmRSS %d KiB, %d threads at start; RSS bound +%d KiB"
          % (PID, BASE_RSS, threads(), RSS_BOUND_KIB), flush=True)
    HEALTH.start()
    time.sleep(0.3)
    for name, fn in (("slowloris", slowloris), ("10,000 connections", flood),
                     ("oversize (declared)", oversize_declared), ("oversize (chunked)", oversize_chunked),
                     ("JSON 10,000 deep", deep_json), ("duplicate keys", dup_keys),
                     ("duplicate C-Length", dup_content_length), ("bad bytes in path", bad_paths),
                     ("segment traversal", traversal), ("Range past the end", ranges),
                     ("auth matrix", auth_matrix)):
        case(name, fn)
    HEALTH.stop = True
    HEALTH.join()
    end = rss_kib()
    print("VmRSS at end %d KiB (start %d), %d threads" % (end, BASE_RSS, threads()))
    if end > BASE_RSS + 16 * 1024:
        fail("RSS grew by %d KiB over the whole run" % (end - BASE_RSS))
    sys.exit(1 if FAILS else 0)


main()
