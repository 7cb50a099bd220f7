#!/bin/bash
# Proves three of eniflowd's timing promises against a real DPDK primary
# (efd_loadgen, real plugin, 1300 flows on each of 3 ENIs, eni-d idle):
# 1. NODATA: the idle eni-d (interval 1 s) gets one REC_KIND_NODATA record
#    per window, N±1 for the N whole seconds it was enabled and attached,
#    windows of exactly the interval, back to back, starting when the flow
#    log was created; eni-a, eni-b and eni-c, with traffic in every window, get none.
# 2. Latency: every FLOW record of eni-a (interval 2 s) is in a sealed
#    segment listed by GET /v1/segments within interval + the dataplane's
#    aging sweep (1 s) + flush_ms + rotation (3 s) + 1 s (list polling
#    and scheduling) after its first packet.
# 3. Live tail: a client of /v1/flows/stream that stops reading is cut off
#    (its stream ends, tail_clients_cut is 1) while the writer keeps
#    writing and another tail client is served throughout (its stream is
#    still open when it hangs up).
# usage: daemon_windows.sh ENIFLOWD LOADGEN SEGSUM
set -u
EFD=${1:?eniflowd}
LOADGEN=${2:?efd_loadgen}
SEGSUM=${3:?efd_segsum}
source "$(dirname "$0")/lib/efd.sh"
PY=$EFD_PY
efd_test_env efd_windows SPID PPID_POLL LPID EPID
now_ns() { date +%s%N; }
metric() { curl -s "$BASE/metrics" | awk -v m="eniflowd_$1" '$1 == m {print $2}'; }

PORT=$(efd_free_port)
TOKEN=windowstest-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
# stream_buffer holds far more than one poll's records of eni-a (a fast
# client keeps up); a few seconds' stall of all ENIs' records (~1 MB/s) fill it and
# the kernel's socket buffers (up to tcp_wmem's max, 4 MB) behind it
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "dw", "file_prefix": "$PREFIX", "eal_lcore": 1, "block_records": 256,
 "rotate_age_s": 3, "flush_ms": 100, "stream_buffer": 262144}
EOF
BASE=http://127.0.0.1:$PORT

"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
EPID=$!
efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
"$LOADGEN" dw "$PREFIX" 12 60000 1300 >"$TMP/dp.json" 2>"$TMP/lg.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not attach"
post() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOKEN" \
		"$BASE/v1/flow-logs" -d "$1")
	[ "$code" = 201 ] || die "create flow log $1: $code"
}
post '{"resource":"eni-a","traffic_type":"ALL","aggregation_interval_s":2}'
post '{"resource":"eni-b","traffic_type":"ALL","aggregation_interval_s":1}'
post '{"resource":"eni-c","traffic_type":"ALL","aggregation_interval_s":1}'
T_EN0=$(now_ns)
post '{"resource":"eni-d","traffic_type":"ALL","aggregation_interval_s":1}'
T_EN1=$(now_ns)

# when each segment is first listed (the latency check's clock)
"$PY" - "$BASE" "$TMP/poll.stop" >"$TMP/appear.txt" <<'PYEOF' &
import json, os, sys, time, urllib.request
seen = set()
while not os.path.exists(sys.argv[2]):
    try:
        segs = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/segments", timeout=2))["segments"]
    except Exception:
        segs = []
    t = time.time_ns()
    for s in segs:
        if s["name"] not in seen:
            seen.add(s["name"])
            print(s["name"], t, flush=True)
    time.sleep(0.2)
PYEOF
PPID_POLL=$!

# a tail client that asks for the stream, then does not read until told
"$PY" - "$PORT" "$TMP/slow.go" >"$TMP/slow.txt" <<'PYEOF' &
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v1/flows/stream HTTP/1.1\r\nHost: x\r\n\r\n")
for _ in range(100):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
s.settimeout(5)
n, t0 = 0, time.time()
try:
    while True:
        b = s.recv(65536)
        if not b:
            print("eof", n, round(time.time() - t0, 2))
            break
        n += len(b)
except socket.timeout:
    print("open", n)
PYEOF
SPID=$!
sleep 1
W0=$(metric records_written)
curl -s -m 3 "$BASE/v1/flows/stream?eni=eni-a" >"$TMP/fast.ndjson"
FAST_RC=$?
# still inside the stall, the switch still running: cut then, not by its exit
efd_wait 5 eval '[ "$(metric tail_clients_cut)" = 1 ]'
W1=$(metric records_written)
CUT=$(metric tail_clients_cut)
efd_health_is "$BASE" up || die "the switch stopped before the stall ended"
touch "$TMP/slow.go"
wait "$SPID"
SPID=
echo "slow client: $(cat "$TMP/slow.txt"); tail_clients_cut=$CUT;" \
	"records written during its stall: $W0 -> $W1; other client got" \
	"$(wc -l <"$TMP/fast.ndjson") lines"
grep -q '^eof' "$TMP/slow.txt" || die "the stalled tail client was not cut off: $(cat "$TMP/slow.txt")"
[ "${CUT:-0}" = 1 ] || die "tail_clients_cut is ${CUT:-unset}, not 1"
[ "$FAST_RC" = 28 ] || die "the reading tail client's stream ended early (curl exit $FAST_RC)"
[ "${W1:-0}" -gt "${W0:-0}" ] || die "the writer stalled with the slow client: $W0 -> $W1"
"$PY" - "$TMP/fast.ndjson" <<'PYEOF' || die "the other tail client was not served"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if recs and all(r["interface-id"] == "eni-a" for r in recs) else 1)
PYEOF

wait "$LPID" || die "loadgen failed: $(cat "$TMP/lg.err")"
LPID=
T_END=$(now_ns)
efd_wait 15 efd_health_is "$BASE" down || die "eniflowd did not notice the switch exit"
T_DOWN=$(now_ns)
sleep 0.6
touch "$TMP/poll.stop"
wait "$PPID_POLL"
PPID_POLL=
curl -sf "$BASE/v1/segments" -o "$TMP/list.json" || die "list segments"
FILES=$(find "$TMP/data" -name '*.fls')
[ -n "$FILES" ] || die "no segments"
for f in $FILES; do
	"$SEGSUM" --times "$f" 2>"$TMP/segsum.err" | sed "s|^|$(basename "$f") |" >>"$TMP/times.txt"
	[ "${PIPESTATUS[0]}" = 0 ] || die "segsum $f: $(cat "$TMP/segsum.err")"
done

"$PY" - "$TMP/times.txt" "$TMP/appear.txt" "$T_EN0" "$T_EN1" "$T_END" "$T_DOWN" \
	<<'PYEOF' || die "window or latency checks"
import collections, sys
S = 1000000000
t_en0, t_en1, t_end, t_down = (int(x) for x in sys.argv[3:7])
recs = collections.defaultdict(list)  # (kind, eni) -> [(first, last)]
seg_of = []                          # (segment, first) of eni-a's FLOW records
for line in open(sys.argv[1]):
    name, k, e, f, l = line.split()
    recs[(k, int(e))].append((int(f), int(l)))
    if k == "flow" and e == "0":
        seg_of.append((name, int(f)))
bad = []
# 1. NODATA for the idle eni-d: contiguous 1 s windows from enabling on
nd = sorted(recs[("nodata", 3)])
n_exp = (t_down - t_en0) / S
print("eni-d: %d NODATA records, %.1f s enabled while attached" % (len(nd), n_exp))
if abs(len(nd) - n_exp) > 1.0 + 0.5:
    bad.append("eni-d: %d NODATA records for %.1f s" % (len(nd), n_exp))
if nd and not t_en0 - S // 10 <= nd[0][0] <= t_en1 + S // 2:
    bad.append("eni-d: first window starts at %d, flow log created in [%d, %d]" % (nd[0][0], t_en0, t_en1))
for i, (f, l) in enumerate(nd):
    if l - f != S:
        bad.append("eni-d: window %d is %d ns long" % (i, l - f))
    if i and f != nd[i - 1][1]:
        bad.append("eni-d: window %d starts at %d, previous ended at %d" % (i, f, nd[i - 1][1]))
if recs[("flow", 3)]:
    bad.append("eni-d: %d FLOW records without traffic" % len(recs[("flow", 3)]))
# eni-a had traffic in every window until the switch stopped
for e in (0, 1, 2):
    busy = [w for w in recs[("nodata", e)] if w[0] < t_end - 2 * S]
    if busy:
        bad.append("eni %d: %d NODATA records for windows with traffic: %s" % (e, len(busy), busy[:3]))
# 2. latency: first listed time of each segment vs its eni-a records
appear = {}
for line in open(sys.argv[2]):
    name, t = line.split()
    appear[name] = int(t)
bound = (2 + 1 + 0.1 + 3 + 1.0) * S
worst, late, unseen = 0, 0, set()
for name, f in seg_of:
    if name not in appear:
        unseen.add(name)
        continue
    worst = max(worst, appear[name] - f)
    late += appear[name] - f > bound
print("eni-a: %d FLOW records in %d segments; worst first packet -> listed sealed: %.2f s"
      " (bound %.1f s)" % (len(seg_of), len(set(n for n, _ in seg_of)), worst / S, bound / S))
if not seg_of:
    bad.append("eni-a: no FLOW records")
if unseen:
    bad.append("segments never seen by the poller: %s" % sorted(unseen))
if late:
    bad.append("eni-a: %d records reached a sealed segment later than %.1f s" % (late, bound / S))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PYEOF
echo "daemon_windows: all checks passed"
