#!/bin/bash
# Proves config churn is safe: eniflow-vswitch with three namespace VMs and
# eniflowd, traffic (iperf3 vm3 -> vm1:8080, and one-packet UDP flows
# vm1 <-> vm2 that the destination's SG rejects), first 5 s without churn,
# then 5 s of PATCHes from 8 keep-alive connections (>= 1,000 answered per
# second, each answered only once flowlogs.json holds it). Checks:
# - rate: PATCHes answered 200 per second >= 1,000 (printed), each one a
#   change made durable (/v1/stats flowlog_saves), configs reached the lcore;
# - stalls (telemetry /eniflow/stalls: log2 histograms of loop iterations
#   and fl_dp_poll, diffed per window; each window's "stall" is its longest
#   iteration once each preemption of the lcore thread has explained one,
#   see config_churn.py stall): (A) polls that applied a new config are no
#   longer than the loop stall of the same window, i.e. applying a config
#   never stalls the lcore longer than one ordinary iteration; (B) the loop
#   stall under churn is no longer than the longest iteration without churn
#   (the machine's noise floor, same switch and traffic); (C) the lcore
#   thread never blocks (voluntary switches within 2x + 10 of the baseline);
# - torn configs: vm1's and vm2's flow logs cycle through configs whose
#   sample_1_in_n is tied to the traffic type (1: ALL, 2: ACCEPT, 3: REJECT),
#   so a record REJECT/2 or ACCEPT/3 can only come from a torn config; every
#   record of those ENIs must be one of ACCEPT/1 REJECT/1 ACCEPT/2 REJECT/3,
#   and all three configs must show up in records (they were applied);
# - conservation per ENI: accounted == recorded + reported lost
#   (lib/conservation.py); vm3's flow log keeps logging everything (only its
#   interval churns), so there every packet the switch saw is accounted;
#   summed over lcores, seen == accounted + filtered.
# usage: config_churn.sh ENIFLOWD VSWITCH SEGSUM ENIFLOW
set -u
EFD=$(readlink -f "${1:?eniflowd}")
VSW=$(readlink -f "${2:?eniflow-vswitch}")
SEGSUM=$(readlink -f "${3:?efd_segsum}")
ENIFLOW=$(readlink -f "${4:?eniflow CLI}")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v /usr/bin/python3 || command -v python3)
CC="$PY $HERE/config_churn.py"
source "$HERE/lib/topology.sh"
source "$HERE/lib/efd.sh"
TAG=ecc$$
WORK=$(mktemp -d /tmp/config_churn.XXXXXX)
EPID=
BG=()
cleanup() {
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	topo_teardown
	if [ -n "$EPID" ] && kill "$EPID" 2>/dev/null; then
		for _ in $(seq 50); do kill -0 "$EPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$EPID" 2>/dev/null
		wait "$EPID" 2>/dev/null
	fi
	rm -f /dev/hugepages/"${TAG}"map_*
	rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM
fails=0
die() {
	echo "FAIL: $*"
	echo "--- eniflowd log (tail)"; tail -20 "$WORK/efd.log"
	exit 1
}
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
[ "$(id -u)" = 0 ] || die "needs root (namespaces, taps, hugepages)"
for tool in iperf3 taskset curl; do command -v $tool >/dev/null || die "$tool is needed"; done

PORT=$(efd_free_port)
TOKEN=churn-$$-0123456789abcdef
echo "$TOKEN" >"$WORK/token"
cat >"$WORK/efd.json" <<EOF
{"data_dir": "$WORK/data", "listen": "127.0.0.1:$PORT", "token_file": "$WORK/token",
 "instance": "$TAG", "file_prefix": "$TAG", "eal_lcore": 0, "max_connections": 64, "max_per_ip": 32}
EOF
BASE=http://127.0.0.1:$PORT
AUTH="Authorization: Bearer $TOKEN"

# The worker lcore (1 in config/vswitch-topology.json) gets a CPU of its own,
# as in production: eniflowd, the API client and the traffic run on the
# others. Else they would preempt the lcore right when they publish, and
# every config would seem to arrive with a stall.
LCORE_CPU=1
OTHER=$("$PY" -c 'import os,sys; print(",".join(str(c) for c in sorted(os.sched_getaffinity(0)) if c != int(sys.argv[1])))' $LCORE_CPU)
[ -n "$OTHER" ] || die "needs a CPU besides the lcore's ($LCORE_CPU)"
PIN="taskset -c $OTHER"
$PIN "$EFD" --config "$WORK/efd.json" 2>"$WORK/efd.log" &
EPID=$!
topo_init "$TAG" "$WORK/topo"
topo_start "$VSW" || die "switch did not start"
topo_attach
efd_wait 20 efd_health_is "$BASE" up || die "eniflowd did not attach"

IDS=()
for body in '{"resource":"eni-00000001","traffic_type":"ALL","sample_1_in_n":1,"aggregation_interval_s":2}' \
	'{"resource":"eni-00000002","traffic_type":"ALL","sample_1_in_n":1,"aggregation_interval_s":2}' \
	'{"resource":"eni-00000003","traffic_type":"ALL","aggregation_interval_s":2}'; do
	code=$(curl -s -o "$WORK/resp" -w '%{http_code}' -XPOST -H "$AUTH" "$BASE/v1/flow-logs" -d "$body")
	[ "$code" = 201 ] || die "create $body: $code $(cat "$WORK/resp")"
	IDS+=("$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/resp")")
done
sleep 0.2 # published within ~1 ms; counters from here on are all under flow logs
curl -sf "$BASE/v1/stats" -o "$WORK/stats_start.json" || die "stats"
"$PY" "$HERE/lib/telemetry.py" "$TAG" /eniflow/stats >"$WORK/tel_start.json" || die "telemetry"

# PATCHes per second asked of the client: the API sustains several times
# more (CHURN_RATE=0: unpaced), but the CPU it takes from eniflowd's main
# loop (which publishes to the dataplane) would then thin out the configs
# that reach the switch.
CHURN_RATE=${CHURN_RATE:-2000}
# traffic for the whole run: baseline 5 s + churn 5 s + margins
TRAFFIC_S=14
$PIN ip netns exec "$(topo_ns 1)" iperf3 -s -1 -B 10.0.1.10 -p 8080 >"$WORK/iperf_s.txt" 2>&1 &
BG+=($!)
sleep 0.5
$PIN ip netns exec "$(topo_ns 3)" iperf3 -c 10.0.1.10 -p 8080 -b 20M -t "$TRAFFIC_S" >"$WORK/iperf.txt" 2>&1 &
IPERF=$!
BG+=("$IPERF")
$PIN ip netns exec "$(topo_ns 1)" $CC udp 10.0.1.11 1500 "$TRAFFIC_S" >"$WORK/udp1.txt" 2>&1 &
BG+=($!)
$PIN ip netns exec "$(topo_ns 2)" $CC udp 10.0.1.10 1500 "$TRAFFIC_S" >"$WORK/udp2.txt" 2>&1 &
BG+=($!)
sleep 1.5 # warm-up: flows created, ARP done

$CC snap "$TAG" "$TOPO_SWITCH_PID" >"$WORK/s0.json" || die "stall snapshot"
sleep 5
$CC snap "$TAG" "$TOPO_SWITCH_PID" >"$WORK/s1.json" || die "stall snapshot"
curl -sf "$BASE/v1/stats" -o "$WORK/stats_c0.json" || die "stats"
$PIN $CC churn "$BASE" "$TOKEN" 5 8 "$CHURN_RATE" "${IDS[0]}" "${IDS[1]}" -- "${IDS[2]}" >"$WORK/churn.json" ||
	die "churn client failed"
$CC snap "$TAG" "$TOPO_SWITCH_PID" >"$WORK/s2.json" || die "stall snapshot"
curl -sf "$BASE/v1/stats" -o "$WORK/stats_c1.json" || die "stats"
wait "$IPERF" || { cat "$WORK/iperf.txt"; die "iperf3 failed"; }
for p in "${BG[@]}"; do wait "$p" 2>/dev/null; done
BG=()
sleep 0.5

echo "churn client: $(cat "$WORK/churn.json")"
"$PY" - "$WORK" <<'EOF' || bad "PATCH rate or answers"
import json, sys
w = sys.argv[1]
c = json.load(open(w + "/churn.json"))
a, b = json.load(open(w + "/stats_c0.json")), json.load(open(w + "/stats_c1.json"))
ref = sum(l["cfg_refreshes"] for l in b["lcores"]) - sum(l["cfg_refreshes"] for l in a["lcores"])
print("PATCH answered 200: %d in %.2f s = %.0f/s; dataplane config refreshes in the window: %d (%.0f/s)"
      % (c["ok"], c["seconds"], c["rate"], ref, ref / c["seconds"]))
sa, sb = a["flowlog_saves"], b["flowlog_saves"]
writes = sb["writes"] - sa["writes"]
durable = sb["changes_durable"] - sa["changes_durable"]
print("flowlogs.json: %d changes made durable in %d writes (%.1f per write+fsync), %d failed"
      % (durable, writes, durable / max(writes, 1), sb["changes_failed"] - sa["changes_failed"]))
ok = True
if durable != c["ok"]:
    print("FAIL: %d PATCHes answered 200 but %d changes made durable" % (c["ok"], durable)); ok = False
if c["reconnects"]:
    print("note: %d PATCHes sent again on a new connection (the server closed a kept-alive one)"
          % c["reconnects"])
if c["other"]:
    print("FAIL: answers other than 200: %s" % c["other"]); ok = False
if c["rate"] < 1000:
    print("FAIL: %.0f changes/s < 1000" % c["rate"]); ok = False
# evidence that configs reached the lcore, not a performance figure: on a
# quiet machine it applies ~900/s, under load average 9 as few as 8/s
if ref < 20:
    print("FAIL: the dataplane re-read its config only %d times" % ref); ok = False
sys.exit(0 if ok else 1)
EOF

base=$($CC stall "$WORK/s0.json" "$WORK/s1.json") || die "stall window"
churn=$($CC stall "$WORK/s1.json" "$WORK/s2.json") || die "stall window"
echo "stalls without churn: $base"
echo "stalls with churn:    $churn"
"$PY" - "$base" "$churn" <<'EOF' || bad "lcore stalls grew under churn"
import json, sys
b, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ok = True
print("lcore thread: preempted %d / %d times, blocked %d / %d times, %d / %d interrupts on its "
      "CPU (without / with churn)" % (b["preempted"], c["preempted"], b["blocked"], c["blocked"],
                                      b["irqs"], c["irqs"]))
# B: the loop under churn, net of preemption, against the longest iteration
# of the window without churn (any cause: the machine's noise floor, same
# switch, same traffic). Longer would be a stall the churn caused.
lim_b = b["iter"]["max_bucket"]
# A: a poll that applied a new config against the loop of the same window
# (same interference), net of preemption: applying a config must not stall
# the lcore longer than one ordinary iteration.
lim_a = c["iter"]["stall_bucket"]
for part, lim, what, against in (
        ("iter", lim_b, "loop iterations under churn", "the longest iteration without churn"),
        ("cfg_poll", lim_a, "fl_dp_poll calls that applied a new config",
         "the loop stall of the churn window")):
    print("%s: %d, stall bucket %d (< %.1f us; raw max bucket %d, %d set aside); "
          "bound: bucket <= %d (< %.1f us), %s"
          % (what, c[part]["count"], c[part]["stall_bucket"], c[part]["stall_us_below"],
             c[part]["max_bucket"], c[part]["set_aside"], lim,
             c[part]["stall_us_below"] * 2 ** (lim - c[part]["stall_bucket"]), against))
    if c[part]["stall_bucket"] > lim:
        print("FAIL: %s stalled longer than the bound" % what)
        ok = False
# the lcore must never block (a lock shared with the API, say): at most a
# handful more voluntary switches than without churn
if c["blocked"] > 2 * b["blocked"] + 10:
    print("FAIL: the lcore thread blocked %d times under churn, %d without" % (c["blocked"], b["blocked"]))
    ok = False
if c["cfg_poll"]["count"] < 20:
    print("FAIL: only %d polls applied a config" % c["cfg_poll"]["count"])
    ok = False
sys.exit(0 if ok else 1)
EOF

curl -sf "$BASE/v1/stats" -o "$WORK/stats.json" || die "stats"
"$PY" "$HERE/lib/telemetry.py" "$TAG" /eniflow/stats >"$WORK/tel.json" || die "telemetry"
topo_stop_switch || die "switch exit status"
efd_wait 15 efd_health_is "$BASE" down || die "eniflowd did not see the switch stop"
efd_download "$BASE" "$WORK/list.json" "$WORK/dl" || die "download segments"
ls "$WORK"/dl/*.fls >/dev/null 2>&1 || die "no segments"
"$SEGSUM" "$WORK"/dl/*.fls >"$WORK/sum.json" || die "segments fail verify"
"$ENIFLOW" verify "$WORK"/dl/*.fls >"$WORK/verify.txt" 2>&1 || die "eniflow verify: $(cat "$WORK/verify.txt")"
"$ENIFLOW" cat --format json "$WORK"/dl/*.fls >"$WORK/cat.jsonl" || die "eniflow cat"

$CC torn "$WORK/cat.jsonl" 0 1 >"$WORK/torn.txt" || bad "torn config applied: $(cat "$WORK/torn.txt")"
echo "records of vm1/vm2 by verdict/sample_1_in_n: $(tail -1 "$WORK/torn.txt")"
"$PY" - "$WORK/torn.txt" <<'EOF' || bad "not every tied config reached the records"
import json, sys
p = json.loads(open(sys.argv[1]).read().splitlines()[-1])["pairs"]
need = ["ACCEPT/1", "REJECT/1", "ACCEPT/2", "REJECT/3"]
miss = [k for k in need if p.get(k, 0) < 10]
if miss:
    print("FAIL: fewer than 10 records of %s: the churn did not reach new flows" % miss)
sys.exit(1 if miss else 0)
EOF
efd_conservation "$WORK/stats.json" "$WORK/sum.json" 10000 || bad "accounted != recorded + lost"
"$PY" - "$WORK" <<'EOF' || bad "packets seen but not accounted"
import json, sys
w = sys.argv[1]
j = lambda n: json.load(open(w + "/" + n))
st0, st, tel0, tel = j("stats_start.json"), j("stats.json"), j("tel_start.json"), j("tel.json")
ok = True
e3 = tel["eni"].index("eni-00000003")
seen = tel["seen_packets"][e3] - tel0["seen_packets"][e3]
acc = tel["accounted_packets"][e3] - tel0["accounted_packets"][e3]
print("vm3 (logs everything) since the flow logs were created: seen %d, accounted %d" % (seen, acc))
if seen != acc or seen == 0:
    print("FAIL: vm3's ENI saw %d packets, accounted %d" % (seen, acc)); ok = False
for l0, l in zip(st0["lcores"], st["lcores"]):
    d = {k: l[k] - l0[k] for k in ("packets_seen", "packets_accounted", "packets_filtered")}
    print("lcore %d since then: seen %d = accounted %d + filtered %d" % (
        l["worker"], d["packets_seen"], d["packets_accounted"], d["packets_filtered"]))
    if d["packets_seen"] != d["packets_accounted"] + d["packets_filtered"]:
        print("FAIL: lcore %d: packets neither accounted nor filtered" % l["worker"]); ok = False
sys.exit(0 if ok else 1)
EOF
[ "$fails" = 0 ] || { echo "config_churn: $fails failures"; exit 1; }
echo "config_churn: all checks passed"
