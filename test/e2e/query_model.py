#!/usr/bin/env python3
"""Independent model of eniflow query/top/detect for the e2e test.

Decodes the raw 96-byte records (`eniflow cat --format raw`) with struct,
computes the expected answers in plain Python, runs the real CLI and
compares. Prints one ok/FAIL line per check; exits 1 if any failed.
usage: query_model.py ENIFLOW SEGDIR
"""
import ipaddress
import json
import struct
import subprocess
import sys
from collections import defaultdict

REC = struct.Struct("<10BHHHIIII16s16sQQQQ")
assert REC.size == 96

eniflow, segdir = sys.argv[1], sys.argv[2]
fails = 0


def check(cond, what, detail=""):
    global fails
    if cond:
        print(f"ok   {what}")
    else:
        fails += 1
        print(f"FAIL {what}: {detail}", file=sys.stderr)


def run(*args):
    p = subprocess.run([eniflow, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"FAIL {' '.join(args)}: exit {p.returncode}: {p.stderr}")
    return p.stdout


def records():
    raw = subprocess.run([eniflow, "cat", "--format", "raw", segdir], capture_output=True).stdout
    if not raw:  # cat may want files, not a directory
        import glob
        files = sorted(glob.glob(f"{segdir}/**/*.fls", recursive=True))
        raw = subprocess.run([eniflow, "cat", "--format", "raw", *files], capture_output=True).stdout
    out = []
    for off in range(0, len(raw), 96):
        f = REC.unpack_from(raw, off)
        (ver, kind, direction, verdict, ipver, proto, flags, layer, end, l2, ethertype, sport,
         dport, eni, rule, sample, frags, src, dst, packets, nbytes, first, last) = f
        def addr(b):
            if ipver == 4:
                return str(ipaddress.IPv4Address(b[:4]))
            if ipver == 6:
                return str(ipaddress.IPv6Address(b))
            return "-"
        out.append(dict(kind=kind, verdict=verdict, ipver=ipver, proto=proto, sport=sport,
                        dport=dport, eni=eni, src=addr(src), dst=addr(dst), srcb=(ipver, src),
                        packets=packets, bytes=nbytes, first=first, last=last))
    return out


recs = records()
check(len(recs) > 1000, f"model decoded {len(recs)} records")
t0 = min(r["first"] for r in recs)
t1 = max(r["last"] for r in recs)
since = t0 + (t1 - t0) // 4
until = t0 + 3 * (t1 - t0) // 4
rng = ["--since", f"@{since}", "--until", f"@{until}"]


def in_range(r):
    return r["last"] >= since and r["first"] < until


web = [r for r in recs if in_range(r) and r["proto"] == 6 and r["dport"] in (80, 443)]

# 1. record listing: count of matching records
out = run("query", *rng, "-f", "proto = tcp and dport in {80, 443}", "-F", "csv", segdir)
n = len(out.splitlines()) - 1
check(n == len(web), "query lists the filtered records", f"cli {n}, model {len(web)}")

# 2. top 5 sources by bytes
groups = defaultdict(lambda: [0, 0, None])
for r in web:
    g = groups[r["src"]]
    g[0] += 1
    g[1] += r["bytes"]
    g[2] = r["srcb"]
want = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[1][2]))[:5]
got = json.loads(run("top", *rng, "-f", "proto = tcp and dport in {80, 443}", "-t", "5",
                     "-F", "json", segdir))["rows"]
check([(w[0], w[1][0], w[1][1]) for w in want] == [(g["src"], g["flows"], g["bytes"]) for g in got],
      "top 5 sources by bytes", f"cli {got} model {want}")

# 3. per ENI index: flows, packets, distinct destinations (all kinds, whole data)
per = defaultdict(lambda: [0, 0, set()])
for r in recs:
    p = per[r["eni"]]
    p[0] += 1
    p[1] += r["packets"]
    p[2].add((r["ipver"], r["dst"]))
got = json.loads(run("query", "-g", "eni_index", "-a", "flows,packets,distinct(dst)", "-F", "json",
                     segdir))["rows"]
want = [{"eni_index": k, "flows": v[0], "packets": v[1], "distinct(dst)": len(v[2])}
        for k, v in sorted(per.items())]
check(got == want, "group by eni_index with distinct(dst)", f"cli {got[:2]} model {want[:2]}")

# 4. drops: every REJECT flow record is in the drops detection
rej = [r for r in recs if r["kind"] == 0 and r["verdict"] == 1]
got = json.loads(run("detect", "drops", "-F", "json", segdir))["rows"]
check(sum(g["flows"] for g in got) == len(rej) and len(rej) > 0, "detect drops counts every REJECT",
      f"cli {sum(g['flows'] for g in got)} model {len(rej)}")

# 5. time series: flows per 60 s bucket of first_ns, UDP only
B = 60 * 10**9
series = defaultdict(int)
for r in recs:
    if in_range(r) and r["proto"] == 17:
        series[r["first"] // B * B] += 1
got = json.loads(run("query", *rng, "-f", "proto = udp", "-b", "60s", "-a", "flows", "-F", "json",
                     segdir))["rows"]
check(len(got) == len(series) and [g["flows"] for g in got] == [series[k] for k in sorted(series)],
      "60 s time series of UDP flows", f"cli {len(got)} buckets, model {len(series)}")

# 6. v6 only, by destination port: CSV sums equal the model
v6 = defaultdict(int)
for r in recs:
    if r["ipver"] == 6 and r["kind"] == 0:
        v6[r["dport"]] += r["bytes"]
out = run("query", "-f", "ipver = 6 and kind = flow", "-g", "dport", "-a", "bytes", "-F", "csv", segdir)
got = {int(l.split(",")[0]): int(l.split(",")[1]) for l in out.splitlines()[1:]}
check(got == dict(v6) and len(v6) > 0, "IPv6 bytes by dport (CSV)", f"cli {len(got)} model {len(v6)}")

sys.exit(1 if fails else 0)
