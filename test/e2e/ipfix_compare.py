#!/usr/bin/env python3
"""Compare what nfdump decoded from an IPFIX export with the segment itself.

usage: ipfix_compare.py REF.csv NFDUMP.json SUMMARY.json
REF.csv is `eniflow cat --format csv` of the exported segments (the
reference), NFDUMP.json is `nfdump -o json` of what nfcapd stored, SUMMARY.json
the exporter's summary line. Every flow record must come out of nfdump with
the same addresses, ports (ICMP type/code), protocol, TCP flags, packets,
bytes, start/end times (ms), direction and interfaces: compared as multisets,
so order does not matter but every duplicate does. Prints the first
differences and exits 1 on any.
"""
import csv
import json
import sys
from collections import Counter
from datetime import datetime, timezone

FLAGS = "CEUAPRSF"  # nfdump's flag string, most significant bit first


def flags_from_str(s):
    v = 0
    for i, ch in enumerate(s):
        if ch != ".":
            v |= 1 << (7 - i)
    return v


def ms_from_nfdump(s):
    dt = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1000 + dt.microsecond // 1000


def ref_key(r):
    ip = r["type"] in ("IPv4", "IPv6")
    proto = int(r["protocol"]) if ip else 0
    icmp = proto in (1, 58)
    eni_if = int(r["eni-index"]) + 1
    ingress = r["flow-direction"] == "ingress"
    return (
        r["srcaddr"] if ip else None,
        r["dstaddr"] if ip else None,
        0 if icmp or not ip else int(r["srcport"]),
        0 if icmp or not ip else int(r["dstport"]),
        int(r["icmp-type"]) if icmp else None,
        int(r["icmp-code"]) if icmp else None,
        proto,
        int(r["tcp-flags"]) if proto == 6 else 0,
        int(r["packets"]),
        int(r["bytes"]),
        int(r["start-ns"]) // 1000000,
        int(r["end-ns"]) // 1000000,
        0 if ingress else 1,
        0 if ingress else eni_if,
        eni_if if ingress else 0,
    )


def nf_key(r):
    src = r.get("src4_addr", r.get("src6_addr"))
    dst = r.get("dst4_addr", r.get("dst6_addr"))
    proto = r.get("proto", 0)
    icmp = proto in (1, 58)
    return (
        src,
        dst,
        r.get("src_port", 0),
        r.get("dst_port", 0),
        r.get("icmp_type") if icmp else None,
        r.get("icmp_code") if icmp else None,
        proto,
        flags_from_str(r.get("tcp_flags", "........")) if proto == 6 else 0,
        r["in_packets"],
        r["in_bytes"],
        ms_from_nfdump(r["first"]),
        ms_from_nfdump(r["last"]),
        r.get("direction", 0),
        r.get("input_snmp", 0),
        r.get("output_snmp", 0),
    )


def main():
    ref_rows = list(csv.DictReader(open(sys.argv[1])))
    nf = [r for r in json.load(open(sys.argv[2])) if r.get("type") == "FLOW"]
    summary = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
    flows = [r for r in ref_rows if r["log-status"] == "OK"]
    loss = sum(1 for r in ref_rows if r["log-status"] == "SKIPDATA")
    nodata = sum(1 for r in ref_rows if r["log-status"] == "NODATA")
    fails = []

    want = Counter(ref_key(r) for r in flows)
    got = Counter(nf_key(r) for r in nf)
    if want != got:
        missing = list((want - got).elements())[:5]
        extra = list((got - want).elements())[:5]
        fails.append(f"flow multisets differ: {sum((want - got).values())} missing, "
                     f"{sum((got - want).values())} unexpected\n  missing e.g. {missing}\n"
                     f"  unexpected e.g. {extra}")
    for what, a, b in (
        ("flows", len(flows), len(nf)),
        ("packets", sum(int(r["packets"]) for r in flows), sum(r["in_packets"] for r in nf)),
        ("bytes", sum(int(r["bytes"]) for r in flows), sum(r["in_bytes"] for r in nf)),
        ("exporter sent (flows + loss records)", len(flows) + loss, summary["sent"]),
        ("exporter nodata_skipped", nodata, summary["nodata_skipped"]),
        ("exporter dropped", 0, summary["dropped_queue"] + summary["dropped_send"]),
        ("exporter offered", len(ref_rows), summary["offered"]),
    ):
        if a != b:
            fails.append(f"{what}: segment {a}, export {b}")
        else:
            print(f"ok   {what}: {a}")
    kinds = Counter((r["type"] or "non-IP") for r in flows)
    print(f"     records by type: {dict(kinds)}, loss {loss}, nodata {nodata}")
    for f in fails:
        print("FAIL " + f, file=sys.stderr)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
