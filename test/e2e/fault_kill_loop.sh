#!/bin/bash
# Proves eniflowd's crashes cost the fast path nothing and lose nothing in
# silence (issue 8, "Process faults"): eniflow-vswitch forwards iperf3 vm2 ->
# vm3 between namespaces while eniflowd is killed with -9 every 0.5-1 s and
# restarted at once. iperf3's throughput in that run is compared with runs
# without kills in the same test (before and after), and per ENI the packets
# and bytes the dataplane accounted == those in FLOW records + those in loss
# records, exactly; every segment verifies with two readers.
# Then the switch is restarted under the running eniflowd (mode restart):
# the daemon reports it gone within 1 s of its exit ("draining", then
# "down" once what the switch flushed is sealed), answers the API all
# along, re-attaches to the new switch and re-applies the flow log, and every
# segment it had written before is still listed with the same bytes.
# usage: fault_kill_loop.sh ENIFLOWD VSWITCH SEGSUM ENIFLOW
set -u
EFD=$(readlink -f "${1:?eniflowd}")
VSW=$(readlink -f "${2:?eniflow-vswitch}")
SEGSUM=$(readlink -f "${3:?efd_segsum}")
ENIFLOW=$(readlink -f "${4:?eniflow CLI}")
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v /usr/bin/python3 || command -v python3)
source "$HERE/lib/topology.sh"
source "$HERE/lib/efd.sh"
TAG=efk$$
WORK=$(mktemp -d /tmp/efd_killloop.XXXXXX)
EPID=
cleanup() {
	rm -f "$WORK/kill.go"
	touch "$WORK/poll.stop"
	[ -n "${KILLER:-}" ] && kill "$KILLER" 2>/dev/null && wait "$KILLER" 2>/dev/null
	[ -n "${POLL:-}" ] && kill "$POLL" 2>/dev/null && wait "$POLL" 2>/dev/null
	# the killer loop's last eniflowd is not our child
	[ -s "$WORK/efd.pid" ] && kill "$(cat "$WORK/efd.pid")" 2>/dev/null
	topo_teardown
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	rm -f /dev/hugepages/"${TAG}"map_*
	rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM
die() {
	echo "FAIL: $*"
	echo "--- eniflowd log (tail)"; tail -40 "$WORK/efd.log"
	echo "--- switch log (tail)"; tail -20 "$WORK/topo/switch.log"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (namespaces, taps, hugepages)"

PORT=$(efd_free_port)
TOKEN=killloop-$$-0123456789abcdef
echo "$TOKEN" >"$WORK/token"
cat >"$WORK/efd.json" <<JSON
{"data_dir": "$WORK/data", "listen": "127.0.0.1:$PORT", "token_file": "$WORK/token",
 "instance": "$TAG", "file_prefix": "$TAG", "eal_lcore": 0, "rotate_age_s": 2}
JSON
BASE=http://127.0.0.1:$PORT
# On this 2-core machine the switch's worker busy-polls core 1 and iperf3's
# two ends and the kernel's tap work share core 0 with eniflowd, whose every
# restart is a CPU-heavy EAL init; in production the daemon has a core of
# its own. It runs niced in every phase, so the comparison is of the fast
# path under kills, not of a CPU fight on core 0.
EFD_RUN=(nice -n 10 "$EFD" --config "$WORK/efd.json")
start_efd() { "${EFD_RUN[@]}" 2>>"$WORK/efd.log" & EPID=$!; }

start_efd
topo_init "$TAG" "$WORK/topo"
topo_start "$VSW" || die "switch did not start"
topo_attach
efd_wait 20 efd_health_is "$BASE" up || die "eniflowd did not attach"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOKEN" \
	"$BASE/v1/flow-logs" -d '{"resource":"vpc-e2e","traffic_type":"ALL","aggregation_interval_s":1}')
[ "$code" = 201 ] || die "create VPC flow log: $code"
sleep 1.2

# iperf3 vm2 -> vm3 for SECS seconds; prints bits per second received
SECS=5
iperf() {
	local out=$WORK/iperf.$1.json
	ip netns exec "$(topo_ns 3)" iperf3 -s -1 -B 10.0.2.10 -p 8080 >/dev/null 2>&1 &
	local srv=$!
	sleep 0.5 # -s -1 serves one connection: no probe, a pause
	ip netns exec "$(topo_ns 2)" iperf3 -J -c 10.0.2.10 -p 8080 -t "$SECS" >"$out" 2>&1
	local rc=$?
	wait "$srv"
	[ $rc = 0 ] || return 1
	"$PY" -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out"
}

# one iperf3 run while eniflowd is killed with -9 every 0.5-1 s and
# restarted at once; adds to $WORK/kills; bits per second in $WORK/bps.NAME
kill_run() {
	touch "$WORK/kill.go"
	echo "$EPID" >"$WORK/efd.pid"
	(
		n=$(cat "$WORK/kills" 2>/dev/null || echo 0)
		while [ -e "$WORK/kill.go" ]; do
			sleep "0.$((5 + RANDOM % 5))"
			[ -e "$WORK/kill.go" ] || break
			pid=$(cat "$WORK/efd.pid")
			kill -9 "$pid" 2>/dev/null && n=$((n + 1))
			while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
			"${EFD_RUN[@]}" >/dev/null 2>>"$WORK/efd.log" &
			echo $! >"$WORK/efd.pid"
			echo "$n" >"$WORK/kills"
		done
	) >/dev/null &
	KILLER=$!
	local rc=0
	iperf "$1" >"$WORK/bps.$1" || rc=1
	rm -f "$WORK/kill.go"
	wait "$KILLER"
	KILLER=
	EPID=$(cat "$WORK/efd.pid")
	return $rc
}
# interleaved, so that the load other work puts on the machine hits both kinds
SECS=3
BASES=() KILLRUNS=()
for r in 1 2; do
	BASES+=("$(iperf base$r)") || die "iperf3 without kills failed"
	kill_run kill$r || die "iperf3 failed while eniflowd was being killed"
	KILLRUNS+=("$(cat "$WORK/bps.kill$r")")
done
BASES+=("$(iperf base3)") || die "iperf3 without kills failed"
KILLS=$(cat "$WORK/kills" 2>/dev/null || echo 0)
"$PY" - "$KILLS" "${BASES[*]}" "${KILLRUNS[*]}" <<'PYEOF' || die "throughput under kills"
import sys
kills = int(sys.argv[1])
base = [int(x) for x in sys.argv[2].split()]
kill = [int(x) for x in sys.argv[3].split()]
mb, mk = sum(base) / len(base), sum(kill) / len(kill)
print("iperf3 Gbit/s: no kills %s (mean %.3f); with kills %s (mean %.3f); %d kills of eniflowd; ratio %.3f"
      % (" ".join("%.3f" % (b / 1e9) for b in base), mb / 1e9,
         " ".join("%.3f" % (k / 1e9) for k in kill), mk / 1e9, kills, mk / mb))
# the floor is loose: with other work loading this 2-core machine, runs of
# iperf3 alone differ by 2x; the figures are what matters (docs/reliability.md)
sys.exit(0 if kills >= 4 and mk / mb >= 0.5 else 1)
PYEOF
grep -c 'event=attached' "$WORK/efd.log" | sed 's/^/eniflowd attaches: /'

efd_wait 20 efd_health_is "$BASE" up || die "the last eniflowd did not attach"
sleep 0.5
curl -sf "$BASE/v1/stats" -o "$WORK/stats1.json" || die "stats"

# --- the switch restarts under the running eniflowd ------------------------
# a poller records every health answer with its time, through it all
( while [ ! -e "$WORK/poll.stop" ]; do
	printf '%s %s\n' "$(date +%s.%N)" "$(curl -s -m 2 "$BASE/v1/health" |
		sed -n 's/.*"switch":"\([a-z]*\)".*/\1/p')"
	sleep 0.05
done >"$WORK/poll.txt" ) &
POLL=$!
# noticed_within T0: seconds from T0 to the first "down" the poller saw
noticed_within() {
	"$PY" -c '
import sys
t0 = float(sys.argv[2])
rows = [l.split() for l in open(sys.argv[1])]
d = [float(r[0]) for r in rows if len(r) == 2 and r[1] in ("draining", "down") and float(r[0]) >= t0]
print("%.2f" % (d[0] - t0 if d else 99))' "$WORK/poll.txt" "$1"
}
topo_stop_switch || die "switch exit status"
T_EXIT=$(date +%s.%N)
efd_wait 5 efd_health_is "$BASE" down || die "eniflowd did not report the switch down"
sleep 0.2
NOTICE1=$(noticed_within "$T_EXIT")

# everything the first switch forwarded is in segments now (it flushed at exit)
efd_download "$BASE" "$WORK/list1.json" "$WORK/before" || die "download segments"
"$SEGSUM" "$WORK"/before/*.fls >"$WORK/sum.json" || die "segments fail verify (efd_segsum)"
"$ENIFLOW" verify "$WORK"/before/*.fls >"$WORK/verify.txt" 2>&1 ||
	die "eniflow verify: $(tail -5 "$WORK/verify.txt")"
efd_conservation "$WORK/stats1.json" "$WORK/sum.json" 10000 || die "accounted != recorded + reported lost"

# a new switch with the same ENIs (fresh taps, left in the root namespace)
for i in 1 2 3; do ip netns del "$(topo_ns $i)"; done
topo_start "$VSW" || die "switch did not restart"
T_START=$(date +%s.%N)
efd_wait 20 efd_health_is "$BASE" up || die "eniflowd did not re-attach to the new switch"
T_UP=$(date +%s.%N)
curl -sf "$BASE/v1/flow-logs" | grep -q vpc-e2e || die "flow log lost across the restart"
curl -sf "$BASE/v1/enis" | grep -q '"switch_up":true' || die "enis: switch not up after the re-attach"
sleep 1
# this one crashes: kill -9, no flush
kill -9 "$TOPO_SWITCH_PID"
T_KILL=$(date +%s.%N)
wait "$TOPO_SWITCH_PID" 2>/dev/null
TOPO_SWITCH_PID=
efd_wait 5 efd_health_is "$BASE" down || die "eniflowd did not see the switch killed"
sleep 0.2
NOTICE2=$(noticed_within "$T_KILL")
touch "$WORK/poll.stop"
wait "$POLL"
UNANSWERED=$(awk 'NF < 2' "$WORK/poll.txt" | wc -l)
echo "switch restart: gone reported ${NOTICE1} s after a clean exit, ${NOTICE2} s after a kill -9;" \
	"re-attached $(echo "$T_UP - $T_START" | bc) s after the new switch started;" \
	"$(wc -l <"$WORK/poll.txt") health polls, $UNANSWERED unanswered"
[ "$UNANSWERED" = 0 ] || die "health went unanswered during the switch restart"
awk -v a="$NOTICE1" -v b="$NOTICE2" 'BEGIN { exit !(a <= 1.0 && b <= 1.0) }' ||
	die "eniflowd took more than 1 s to report the switch down"

efd_download "$BASE" "$WORK/list2.json" "$WORK/after" || die "download segments after the restart"
for f in "$WORK"/before/*.fls; do
	cmp -s "$f" "$WORK/after/$(basename "$f")" ||
		die "segment $(basename "$f") drained before the restart is gone or changed"
done
"$SEGSUM" "$WORK"/after/*.fls >/dev/null || die "segments after the restart fail verify"
echo "segments: $(ls "$WORK/before" | wc -l) before the switch restart, all kept byte for byte;" \
	"$(ls "$WORK/after" | wc -l) after"
echo "fault_kill_loop: all checks passed"
