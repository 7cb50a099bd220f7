#!/usr/bin/env bash
# Proves `eniflow cat --format ecs` writes what Elastic ingests with no
# pipeline: every line is one valid JSON object (jq), IPs are strings that
# parse as addresses, ports and counters are numbers, times are ISO 8601 UTC,
# network.iana_number is a string, and the lines match the segment's records
# one for one (count, packet and byte totals against `cat --format csv`).
# usage: format_ecs.sh PATH/TO/eniflow
set -euo pipefail

ENIFLOW=${1:?usage: format_ecs.sh PATH/TO/eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/common.sh"
e2e_init ecs
e2e_need jq python3

"$ENIFLOW" gen --records 5000 --per-segment 5000 --enis 4 --flows 600 --seed 3 \
	--v6-percent 40 --start 1700000000 --out "$T/segs" >/dev/null
"$ENIFLOW" cat --format ecs "$T"/segs/*.fls >"$T/ecs.jsonl"
"$ENIFLOW" cat --format csv "$T"/segs/*.fls >"$T/ref.csv"

# jq parses line by line; a bad line fails the whole run with its line number.
if ! jq -c . "$T/ecs.jsonl" >/dev/null 2>"$T/jq.err"; then
	echo "FAIL: not valid JSON Lines: $(cat "$T/jq.err")" >&2; fails=$((fails + 1))
else echo "ok   every line parses with jq"; fi
# Type checks in jq: report the first offending line of each kind.
bad=$(jq -c 'select(
	(.source.ip != null and (.source.ip | type) != "string") or
	(.destination.ip != null and (.destination.ip | type) != "string") or
	(.source.port != null and (.source.port | type) != "number") or
	(.destination.port != null and (.destination.port | type) != "number") or
	(.network.iana_number != null and (.network.iana_number | type) != "string") or
	((.network.packets // 0) | type) != "number" or
	([."@timestamp", .event.start, .event.end][] | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}Z$") | not) or
	(.event.outcome | IN("success", "failure", "unknown") | not)
	)' "$T/ecs.jsonl" | head -3)
if [ -z "$bad" ]; then echo "ok   ECS types: IPs strings, ports numbers, ISO 8601 times, outcome allowed"
else echo "FAIL: ECS types wrong in: $bad" >&2; fails=$((fails + 1)); fi
python3 - "$T/ecs.jsonl" "$T/ref.csv" <<'PY' || fails=$((fails + 1))
import csv, ipaddress, json, sys
from datetime import datetime
ecs = [json.loads(l) for l in open(sys.argv[1])]
ref = list(csv.DictReader(open(sys.argv[2])))
errs = []
if len(ecs) != len(ref):
    errs.append(f"{len(ecs)} ECS lines for {len(ref)} records")
for i, (e, r) in enumerate(zip(ecs, ref)):
    if r["log-status"] == "OK":
        if e["network"]["packets"] != int(r["packets"]) or e["network"]["bytes"] != int(r["bytes"]):
            errs.append(f"line {i + 1}: counters {e['network']} vs {r['packets']}/{r['bytes']}")
        if r["type"]:
            for side, col in (("source", "srcaddr"), ("destination", "dstaddr")):
                if ipaddress.ip_address(e[side]["ip"]) != ipaddress.ip_address(r[col]):
                    errs.append(f"line {i + 1}: {side}.ip {e[side]['ip']} vs {r[col]}")
    start = datetime.fromisoformat(e["event"]["start"][:26] + "+00:00").timestamp()
    if int(start) != int(r["start"]):
        errs.append(f"line {i + 1}: event.start {e['event']['start']} vs start {r['start']}")
    if errs and len(errs) > 5:
        break
for x in errs[:5]:
    print("FAIL " + x, file=sys.stderr)
if not errs:
    print(f"ok   {len(ecs)} ECS lines match the records (addresses, counters, start times)")
sys.exit(1 if errs else 0)
PY
e2e_finish format_ecs
