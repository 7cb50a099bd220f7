#!/bin/bash
# Proves a flow log's live destinations get exactly what its segments hold,
# and that a destination never holds up the drain: a DPDK primary
# (efd_loadgen, real plugin, 3 ENIs) runs while eniflowd delivers
#  - eni-a to nfcapd (IPFIX/UDP, up throughout) and to JSON Lines: nfdump
#    reads back every FLOW record of eni-a in the segments (same addresses,
#    ports, packets, bytes; totals exact), and the sealed .jsonl files hold
#    one valid JSON line per record with the same packet/byte totals;
#  - eni-c to a second nfcapd that is killed and restarted mid-run, and to
#    ECS JSON Lines: the exporter counts its drops (/v1/stats, /metrics, its
#    close log line), the segments carry exactly those drops as
#    REC_END_LOSS_EXPORTER records, and delivery resumes after the restart;
# and, for every ENI, packets accounted by the dataplane == FLOW + segment
# loss records (exporter loss not counted: the flows are in the segment), so
# draining never stalled. Also: destinations are validated strictly
# (400 naming destinations[i].field) and can be added live with PATCH.
# usage: daemon_live_ipfix.sh ENIFLOWD LOADGEN SEGSUM
set -u
EFD=${1:?eniflowd}
LOADGEN=${2:?efd_loadgen}
SEGSUM=${3:?efd_segsum}
source "$(dirname "$0")/lib/efd.sh"
PY=$EFD_PY
efd_test_env efd_live LPID NFA NFC EPID
export TZ=UTC
for tool in nfcapd nfdump jq curl; do
	command -v $tool >/dev/null || die "$tool not installed (scripts/ installs it)"
done
start_nfcapd() { # start_nfcapd DIR PORT -> pid in NFPID
	mkdir -p "$1"
	nfcapd -w "$1" -p "$2" -b 127.0.0.1 -t 3600 -B 8000000 >"$1.log" 2>&1 &
	NFPID=$!
	efd_wait 5 grep -q 'Startup nfcapd' "$1.log" || die "nfcapd did not start: $(cat "$1.log")"
}
nf_json() { # nf_json DIR...: every flow nfcapd stored, one JSON array
	local f
	for f in $(find "$@" -name 'nfcapd.2*' | sort); do nfdump -r "$f" -o json; done | jq -s 'add // []'
}

PORT=$(efd_free_port)
PA=$(efd_free_port udp)
PC=$(efd_free_port udp)
TOKEN=livetest-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "lv", "file_prefix": "$PREFIX", "eal_lcore": 1, "block_records": 512,
 "rotate_age_s": 2, "flush_ms": 100}
EOF
BASE=http://127.0.0.1:$PORT
AUTH="Authorization: Bearer $TOKEN"
post() { curl -s -o "$TMP/resp" -w '%{http_code}' -XPOST -H "$AUTH" "$BASE/v1/flow-logs" -d "$1"; }

start_nfcapd "$TMP/nfA" "$PA"; NFA=$NFPID
start_nfcapd "$TMP/nfC1" "$PC"; NFC=$NFPID
"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
EPID=$!
efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
"$LOADGEN" lv "$PREFIX" 8 100000 >"$TMP/dp.json" 2>"$TMP/lg.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not attach"

# strict validation: the field at fault is named
check_400() { # check_400 FIELD BODY
	local code
	code=$(post "$2")
	[ "$code" = 400 ] && jq -e --arg f "$1" '.field == $f' "$TMP/resp" >/dev/null ||
		die "body $2: want 400 naming $1, got $code $(cat "$TMP/resp")"
}
D='"resource":"eni-a","traffic_type":"ALL"'
check_400 'destinations[1].port' "{$D,\"destinations\":[{\"type\":\"jsonl\"},{\"type\":\"ipfix\",\"host\":\"127.0.0.1\",\"port\":70000}]}"
check_400 'destinations[0].type' "{$D,\"destinations\":[{\"type\":\"kafka\"}]}"
check_400 'destinations[0].host' "{$D,\"destinations\":[{\"type\":\"ipfix\",\"host\":\"collector.example\"}]}"
check_400 'destinations[0].path' "{$D,\"destinations\":[{\"type\":\"jsonl\",\"path\":\"/etc/x\"}]}"
check_400 'destinations[0].transport' "{$D,\"destinations\":[{\"type\":\"ipfix\",\"host\":\"::1\",\"transport\":\"sctp\"}]}"
check_400 'destinations' "{$D,\"destinations\":{}}"
echo "validation: 6 bad destinations refused with the field named"

code=$(post "{$D,\"aggregation_interval_s\":1,\"destinations\":[{\"type\":\"ipfix\",\"host\":\"127.0.0.1\",\"port\":$PA,\"transport\":\"udp\"},{\"type\":\"jsonl\",\"format\":\"json\",\"rotate_age_s\":1}]}")
[ "$code" = 201 ] || die "create eni-a: $code $(cat "$TMP/resp")"
FLA=$(jq -r .id "$TMP/resp")
jq -e '.destinations | length == 2 and .[0].port > 0 and .[1].format == "json"' "$TMP/resp" >/dev/null ||
	die "eni-a destinations not echoed: $(cat "$TMP/resp")"
code=$(post '{"resource":"eni-c","traffic_type":"ALL","aggregation_interval_s":1}')
[ "$code" = 201 ] || die "create eni-c: $code $(cat "$TMP/resp")"
FLC=$(jq -r .id "$TMP/resp")
# eni-c's destinations arrive live, by PATCH
code=$(curl -s -o "$TMP/resp" -w '%{http_code}' -XPATCH -H "$AUTH" "$BASE/v1/flow-logs/$FLC" \
	-d "{\"destinations\":[{\"type\":\"ipfix\",\"host\":\"127.0.0.1\",\"port\":$PC},{\"type\":\"jsonl\",\"format\":\"ecs\",\"rotate_age_s\":2}]}")
[ "$code" = 200 ] || die "patch eni-c: $code $(cat "$TMP/resp")"
jq -e '.flow_logs | map(select(.resource=="eni-c"))[0].destinations | length == 2' \
	"$TMP/data/flowlogs.json" >/dev/null || die "destinations not persisted: $(cat "$TMP/data/flowlogs.json")"

# eni-c's collector dies and comes back; eni-a's stays up
sleep 2
kill -TERM "$NFC"; wait "$NFC" 2>/dev/null; NFC= # TERM: it writes what it got
sleep 1.5
curl -s "$BASE/v1/stats" >"$TMP/stats.json"
jq -e --arg f "$FLC" '.destinations | map(select(.flow_log == $f and .type == "ipfix"))[0].dropped_records > 0' \
	"$TMP/stats.json" >/dev/null || die "stats: no drops while eni-c's collector is down: $(jq -c .destinations "$TMP/stats.json")"
jq -e '.dropped_by_eni["eni-c"].dropped_packets > 0 and (.dropped_by_eni["eni-a"] == null)' "$TMP/stats.json" >/dev/null ||
	die "stats: per-ENI drops wrong: $(jq -c .dropped_by_eni "$TMP/stats.json")"
curl -s "$BASE/metrics" | grep -q "^eniflowd_dest_dropped_records{flow_log=\"$FLC\",dest=\"0\",type=\"ipfix\"} [1-9]" ||
	die "metrics: no eniflowd_dest_dropped_records for eni-c's collector"
curl -s "$BASE/metrics" | grep -q '^eniflowd_eni_dest_dropped_packets{eni="eni-c"} [1-9]' ||
	die "metrics: no per-ENI destination drops"
start_nfcapd "$TMP/nfC2" "$PC"; NFC=$NFPID

wait "$LPID" || die "loadgen failed: $(cat "$TMP/lg.err")"
LPID=
# the switch is gone: eniflowd drains the rest, flushes its destinations,
# writes their loss, seals, closes them (JSON Lines sealed) and re-execs
efd_wait 15 grep -q event=reexec "$TMP/log" || die "eniflowd did not re-exec after the switch exit"
sleep 0.3
for p in $NFA $NFC; do kill -TERM "$p"; wait "$p" 2>/dev/null; done
NFA= NFC=
nf_json "$TMP/nfA" >"$TMP/nfA.json"
nf_json "$TMP/nfC1" "$TMP/nfC2" >"$TMP/nfC.json"
nf_json "$TMP/nfC2" >"$TMP/nfC2.json"
SEGS=$(find "$TMP/data" -name '*.fls' | sort)
[ -n "$SEGS" ] || die "no segments"
# shellcheck disable=SC2086
"$SEGSUM" $SEGS >"$TMP/seg.json" 2>"$TMP/segsum.err" || die "segsum: $(cat "$TMP/segsum.err")"
# shellcheck disable=SC2086
"$SEGSUM" --flows $SEGS >"$TMP/flows.txt" 2>>"$TMP/segsum.err" || die "segsum --flows"
[ -z "$(find "$TMP/data/jsonl" -name '*.open')" ] || die "JSON Lines files left unsealed"
for f in $(find "$TMP/data/jsonl" -name '*.jsonl'); do
	jq -c . "$f" >/dev/null 2>"$TMP/jq.err" || die "$f: not valid JSON Lines: $(cat "$TMP/jq.err")"
done
cat $(find "$TMP/data/jsonl/$FLA" -name '*.jsonl' | sort) >"$TMP/a.jsonl"
cat $(find "$TMP/data/jsonl/$FLC" -name '*.jsonl' | sort) >"$TMP/c.jsonl"
NFILES_A=$(find "$TMP/data/jsonl/$FLA" -name '*.jsonl' | wc -l)
grep "event=dest_closed" "$TMP/log" >"$TMP/closed.txt"

"$PY" - "$TMP" "$FLA" "$FLC" "$NFILES_A" <<'EOF' || die "destinations do not match the segments"
import collections, json, re, sys
T, fla, flc, nfiles = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dp = json.load(open(T + "/dp.json"))
sg = json.load(open(T + "/seg.json"))
bad = []
def check(what, got, want):
    print("%-58s %s" % (what, got))
    if got != want:
        bad.append("%s: got %s, want %s" % (what, got, want))
# conservation per ENI: the dataplane's count == FLOW + segment loss; exporter loss apart
for d in dp["enis"]:
    s = sg["enis"][d["eni"]]
    pk = s["accept_packets"] + s["reject_packets"]
    lost = s["loss_ring_packets"] + s["loss_writer_packets"] + s["loss_recovery_packets"] + s["loss_other_packets"]
    check("eni %d accounted == flows + segment loss (packets)" % d["eni"], pk + lost, d["packets_accounted"])
if sg["bad_files"]:
    bad.append("%d segments fail verify" % sg["bad_files"])
# segment flows per ENI, as multisets of (src, dst, sport, dport, packets, bytes)
seg = collections.defaultdict(collections.Counter)
for l in open(T + "/flows.txt"):
    f = l.split()
    seg[int(f[0])][(f[4], f[5], int(f[6]), int(f[7]), int(f[8]), int(f[9]))] += 1
def nf(path):
    return collections.Counter((r["src4_addr"], r["dst4_addr"], r["src_port"], r["dst_port"],
                                r["in_packets"], r["in_bytes"]) for r in json.load(open(path)))
def tot(c):
    return (sum(c.values()), sum(k[4] * n for k, n in c.items()), sum(k[5] * n for k, n in c.items()))
a, c = sg["enis"][0], sg["enis"][2]
check("eni-a: IPFIX records == segment flows (multiset)", nf(T + "/nfA.json") == seg[0], True)
check("eni-a: IPFIX records/packets/bytes", tot(nf(T + "/nfA.json")), tot(seg[0]))
check("eni-a: exporter loss records in segments", a["loss_exporter_records"], 0)
ja = [json.loads(l) for l in open(T + "/a.jsonl")]
check("eni-a: jsonl lines/packets/bytes", (len(ja), sum(r["packets"] for r in ja), sum(r["bytes"] for r in ja)), tot(seg[0]))
check("eni-a: jsonl lines all of eni-a", all(r["interface-id"] == "eni-a" for r in ja), True)
if nfiles < 3:
    bad.append("eni-a: %d jsonl files, want >= 3 (rotation by age 1 s over 8 s)" % nfiles)
jc = [json.loads(l) for l in open(T + "/c.jsonl")]
check("eni-c: ECS jsonl lines/packets/bytes",
      (len(jc), sum(r["network"]["packets"] for r in jc), sum(r["network"]["bytes"] for r in jc)), tot(seg[2]))
check("eni-c: ECS types (ip string, port number)",
      all(isinstance(r["source"]["ip"], str) and isinstance(r["destination"]["port"], int) for r in jc), True)
closed = {}
for l in open(T + "/closed.txt"):
    kv = dict(re.findall(r"(\w+)=(\S+)", l))
    closed[(kv["flow_log"], kv["dest"])] = kv
ipc = closed[(flc, "0")]
drop = (int(ipc["dropped_records"]), int(ipc["dropped_packets"]), int(ipc["dropped_bytes"]))
print("eni-c collector drops (exporter's count):", drop)
check("eni-c: LOSS_EXPORTER records in segments == exporter's drops",
      (c["loss_exporter_records"], c["loss_exporter_packets"], c["loss_exporter_bytes"]), drop)
if drop[0] == 0:
    bad.append("eni-c: no drops counted while its collector was down")
check("eni-a: collector never down, no drops", closed[(fla, "0")]["dropped_records"], "0")
got = tot(nf(T + "/nfC.json"))
want = tot(seg[2])
# UDP: the datagram that meets the dead port is gone before ICMP tells us,
# so the collector may miss up to a message more than the count; never more
print("eni-c: collector got %s + dropped %s vs segments %s" % (got, drop, want))
if any(g + d > w for g, d, w in zip(got, drop, want)) or got[0] + drop[0] < want[0] - 64:
    bad.append("eni-c: delivered + dropped does not add up to the segments")
if len(json.load(open(T + "/nfC2.json"))) == 0:
    bad.append("eni-c: nothing delivered after the collector restarted")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
echo "daemon_live_ipfix: all passed"
