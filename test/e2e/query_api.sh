#!/bin/bash
# Proves eniflowd's /v1/query and /v1/detections/{name} against the CLI:
# eniflowd (no switch) over a data dir seeded with `eniflow gen` segments in
# its layout answers every query, record listing and detection exactly as
# `eniflow query|detect --format json` does on the same files (same rows,
# same records, same scan statistics); bad parameters get 400 naming the
# parameter (and the filter's column), limits get 413/422/503 naming the
# limit, the server's own bounds apply when the request sets none, queries
# over query_concurrency get 503, an unknown detection gets 404, and server
# file paths cannot be set.
# usage: query_api.sh ENIFLOWD ENIFLOW
set -u
PY=$(command -v /usr/bin/python3 || command -v python3)
EFD=$(readlink -f "${1:?eniflowd}")
CLI=$(readlink -f "${2:?eniflow}")
TMP=$(mktemp -d /tmp/efd_qapi.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
die() { echo "FAIL: $*"; [ -f "$TMP/log" ] && { echo "--- eniflowd log"; cat "$TMP/log"; }; exit 1; }

# 200K records over 200 s of 2023-11-14, four segments, placed as eniflowd
# lays them out: DATA/YYYY/MM/DD/HH/<instance>-<10-digit seq>.fls
"$CLI" gen --records 200000 --out "$TMP/gen" --per-segment 50000 --start 1700000000 \
	--step-ns 1000000 --seed 7 >/dev/null || die "eniflow gen"
mkdir -p "$TMP/data/2023/11/14/22" "$TMP/data/2023/11/14/23"
i=1
for f in "$TMP"/gen/gen-*.fls; do
	hour=22; [ $i -gt 2 ] && hour=23
	mv "$f" "$TMP/data/2023/11/14/$hour/qa-$(printf %010d $i).fls"
	i=$((i + 1))
done
# eniflowd must not list a partial file, nor a misnamed one
cp "$TMP/data/2023/11/14/22/qa-0000000001.fls" "$TMP/data/2023/11/14/22/notes.txt"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "qapi-$$-0123456789abcdef" >"$TMP/token"
config() { # config EXTRA_JSON_MEMBERS
	cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "qa", "file_prefix": "efd_qapi_$$", "retain_age_s": 0,
 "query_max_list": 1000 $1}
EOF
}
start() {
	"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
	PID=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$PORT/v1/health" >/dev/null && return 0
		sleep 0.1
	done
	die "eniflowd did not come up"
}
stop() { kill "$PID"; wait "$PID"; PID=; }

config ""
start
"$PY" - "$PORT" "$CLI" "$TMP/data" <<'EOF' || die "REST and CLI disagree"
import json, subprocess, sys, urllib.parse, urllib.request, urllib.error
port, cli, data = sys.argv[1], sys.argv[2], sys.argv[3]
bad = []

def rest(path, params):
    q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    url = "http://127.0.0.1:%s%s%s" % (port, path, "?" + q if q else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

OPT = {"since": "--since", "until": "--until", "filter": "--filter", "group_by": "--group-by",
       "agg": "--agg", "order": "--order", "top": "--top", "bucket": "--bucket",
       "limit": "--limit", "set": "--set", "asc": "--asc"}
def cli_run(verb, params):
    args = [cli] + verb + ["--format", "json", "--stats"]
    for k, v in params:
        args += [OPT[k]] if k == "asc" else [OPT[k], v]
    p = subprocess.run(args + [data], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("CLI %s failed: %s" % (args, p.stderr))
    # "eniflow query: files 4 (skipped 0), blocks read 52 of 52, records scanned N, matched M, ..."
    st = p.stderr.strip().split("\n")[-1]
    nums = [int(w.strip(",()")) for w in st.split() if w.strip(",()").isdigit()]
    return p.stdout, nums

def check_stats(name, got, nums):
    # The daemon's catalog already leaves out segments outside the time
    # range, so files opened may be fewer; blocks and records read are equal.
    files, skipped, bread, btotal, scanned, matched = nums[:6]
    mine = (got["blocks_read"], got["records_scanned"], got["records_matched"])
    if mine != (bread, scanned, matched) or got["files"] > files:
        bad.append("%s: stats %s, CLI %s" % (name, got, nums[:6]))

T0 = 1700000000 * 10**9
tables = [
    [("group_by", "src"), ("agg", "flows,packets,bytes"), ("order", "bytes"), ("top", "10")],
    [("group_by", "eni,proto,action"), ("agg", "flows,bytes,distinct(dst),rejected,first,last")],
    [("filter", "src in 10.0.0.0/8 and dport in {22, 80, 443}"), ("group_by", "dst,dport"),
     ("agg", "flows,bps,pps"), ("order", "flows"), ("top", "5")],
    [("filter", "tcpflags has syn+ack and not action = reject"), ("group_by", "vpc")],
    [("since", "@%d" % (T0 + 50 * 10**9)), ("until", "2023-11-14T22:15:00Z"),
     ("group_by", "eni"), ("agg", "flows,peak_pps"), ("bucket", "30s")],
    [("filter", "addr in 2600::/16 or proto = icmp"), ("group_by", "peer,ipver"), ("asc", ""),
     ("order", "packets"), ("agg", "packets"), ("top", "7")],
    [("since", "1h"), ("group_by", "src")],  # relative: nothing this recent
    [("filter", "eni = eni-nosuch"), ("group_by", "src")],  # every file skipped
]
for i, params in enumerate(tables):
    code, got = rest("/v1/query", params)
    out, nums = cli_run(["query"], params)
    want = json.loads(out)
    st = got.pop("stats", None) if code == 200 else None
    if code != 200 or got != want:
        bad.append("query %d %s: REST %d %s != CLI %s" % (i, params, code, str(got)[:300], out[:300]))
        continue
    check_stats("query %d" % i, st, nums)
    print("query %d: %d rows equal, %d records scanned" % (i, len(want["rows"]), st["records_scanned"]))
    if i == 0 and len(want["rows"]) != 10:
        bad.append("query 0: %d rows, want 10" % len(want["rows"]))

# record listings: the CLI's JSON Lines are the REST "records" array
for i, params in enumerate([[("filter", "dport = 443 and bytes > 10k"), ("limit", "200")],
                            [("since", "@%d" % (T0 + 10**11)), ("limit", "50")],
                            [("filter", "kind = loss or kind = nodata")]]):
    code, got = rest("/v1/query", params)
    out, nums = cli_run(["query"], params)
    want = [json.loads(l) for l in out.splitlines()]
    if code != 200 or got["records"] != want:
        bad.append("list %d %s: REST %d %d records != CLI %d" % (i, params, code,
                   len(got.get("records", [])), len(want)))
        continue
    lim = dict(params).get("limit")
    if got["truncated"] != (lim is not None and int(lim) == len(want)):
        bad.append("list %d: truncated %s with %d records" % (i, got["truncated"], len(want)))
    print("list %d: %d records equal, truncated %s" % (i, len(want), got["truncated"]))

dets = [("scanners", [("set", "min_dsts=300"), ("set", "window=30s")]),
        ("hogs", [("set", "by=eni,peer"), ("set", "top=5")]),
        ("drops", [("filter", "proto = tcp"), ("set", "top=20")]),
        ("flood", [("set", "min_flows=10")]),
        ("storm", [])]
for name, params in dets:
    code, got = rest("/v1/detections/" + name, params)
    out, nums = cli_run(["detect", name], params)
    want = json.loads(out)
    st = got.pop("stats", None) if code == 200 else None
    if code != 200 or got != want:
        bad.append("detect %s: REST %d %s != CLI %s" % (name, code, str(got)[:300], out[:300]))
        continue
    check_stats("detect " + name, st, nums)
    print("detect %s: %d rows equal" % (name, len(want["rows"])))
if not rest("/v1/detections/scanners", dets[0][1])[1]["rows"]:
    bad.append("scanners found nothing: the comparison proves little")

code, got = rest("/v1/detections", [])
if code != 200 or "flood" not in [d["name"] for d in got["detections"]]:
    bad.append("GET /v1/detections: %d %s" % (code, got))

# errors: (path, params, status, field[, column])
errs = [
    ("/v1/query", [("filter", "src in 10.0.0.0/8 and dport in {22, 8o}")], 400, "filter", 37),
    ("/v1/query", [("filter", "colour = red")], 400, "filter", 1),
    ("/v1/query", [("since", "yesterday")], 400, "since"),
    ("/v1/query", [("since", "@2000"), ("until", "@1000")], 400, "until"),
    ("/v1/query", [("group_by", "src,colour")], 400, "group_by"),
    ("/v1/query", [("group_by", "src"), ("order", "bytes"), ("agg", "flows")], 400, "order"),
    ("/v1/query", [("top", "0")], 400, "top"),
    ("/v1/query", [("format", "csv")], 400, "format"),
    ("/v1/query", [("limit", "5000")], 400, "limit"),
    ("/v1/query", [("colour", "red")], 400, "colour"),
    ("/v1/query", [("set", "min_dsts=3")], 400, "set"),
    ("/v1/query", [("group_by", "src"), ("max_records", "1000")], 413, "max_records"),
    ("/v1/query", [("group_by", "src,dst,sport"), ("max_groups", "100")], 422, "max_groups"),
    ("/v1/query", [("group_by", "src"), ("timeout", "1ns")], 503, "timeout"),
    ("/v1/detections/scanners", [("max_records", "60000")], 413, "max_records"),
    ("/v1/detections/nosuch", [], 404, "name"),
    ("/v1/detections/scanners", [("set", "min_dsts=many")], 400, "set"),
    ("/v1/detections/scanners", [("set", "colour=1")], 400, "set"),
    ("/v1/detections/threats", [("set", "lists=/etc/passwd")], 400, "set"),
    ("/v1/detections/geo", [("set", "mmdb=/etc/passwd")], 400, "set"),
]
for e in errs:
    code, got = rest(e[0], e[1])
    if code != e[2] or got.get("field") != e[3] or not got.get("error") or \
       (len(e) > 4 and got.get("column") != e[4]):
        bad.append("%s %s: %d %s, want %d field %s%s" % (e[0], e[1], code, got, e[2], e[3],
                   " column %d" % e[4] if len(e) > 4 else ""))
print("errors: %d cases" % len(errs))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF

# a POST (with the token) is refused
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $(cat "$TMP/token")" \
	"http://127.0.0.1:$PORT/v1/query")
[ "$code" = 405 ] || die "POST /v1/query: $code, want 405"

# the server's own bounds apply when the request gives none, and cannot be raised
stop
config ', "query_max_records": 100000, "query_max_groups": 50'
start
B=http://127.0.0.1:$PORT
check() { # check DESC WANT_STATUS WANT_FIELD URL
	code=$(curl -s -o "$TMP/resp" -w '%{http_code}' "$4")
	field=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("field") or "")' "$TMP/resp")
	[ "$code/$field" = "$2/$3" ] || die "$1: $code field '$field', want $2 '$3': $(cat "$TMP/resp")"
}
check "server max_records" 413 max_records "$B/v1/query?group_by=eni"
check "raised max_records" 413 max_records "$B/v1/query?group_by=eni&max_records=1000000"
check "server max_groups" 422 max_groups "$B/v1/query?group_by=src&since=@1700000000000000000&until=@1700000001000000000"
check "within bounds" 200 "" "$B/v1/query?group_by=eni&since=@1700000000000000000&until=@1700000010000000000"

# one query at a time: of 8 sent at once (each scans 200K records, ~0.1 s or
# more), the first runs and at least one other is turned away with 503
stop
config ', "query_concurrency": 1'
start
CURLS=()
for i in $(seq 8); do
	curl -s -o "$TMP/conc$i" -w '%{http_code}\n' "$B/v1/detections/scanners?set=window=1s" >"$TMP/code$i" &
	CURLS+=($!)
done
wait "${CURLS[@]}"
codes=$(cat "$TMP"/code* | sort | uniq -c | tr -s ' ' | tr '\n' ';')
n200=$(cat "$TMP"/code* | grep -c '^200$')
n503=$(cat "$TMP"/code* | grep -c '^503$')
[ "$n200" -ge 1 ] && [ "$n503" -ge 1 ] && [ $((n200 + n503)) = 8 ] ||
	die "8 concurrent queries with query_concurrency 1: status counts $codes"
grep -l '"too many queries running' "$TMP"/conc* >/dev/null || die "503 without its message"
echo "concurrency: $codes"
echo "query_api: all checks passed"
