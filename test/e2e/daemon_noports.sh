#!/bin/bash
# Proves eniflowd attaches to a switch with net_tap ports without touching
# them: a DPDK secondary probes every vdev of its primary at rte_eal_init,
# and net_tap's probe asks the primary for its queue fds over the mp channel
# (which times out under load). eniflowd must see the primary's vdev list
# (one message per port of the switch's config), add none of it to its vdev
# bus, probe nothing, and hold no /dev/net/tun descriptor, while the switch
# holds them; on every attach of a kill -9 / restart loop, and it must still
# drain: a ping through the switch ends up in a segment. A SIGTERM that lands
# while the daemon re-execs after the switch's exit must still stop it.
# usage: daemon_noports.sh ENIFLOWD VSWITCH ENIFLOW   (root: taps, hugepages)
# Both DPDK programs run with --no-pci: topo_start passes it to the switch,
# and eniflowd's EAL arguments always include it (efd_attach.c).
set -u
EFD=$(readlink -f "${1:?eniflowd}")
VSW=$(readlink -f "${2:?eniflow-vswitch}")
ENIFLOW=$(readlink -f "${3:?eniflow CLI}")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/topology.sh"
source "$HERE/lib/efd.sh"
TAG=enp$$
WORK=$(mktemp -d /tmp/efd_noports.XXXXXX)
EPID=
cleanup() {
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	topo_teardown
	rm -f /dev/hugepages/"${TAG}"map_*
	rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM
die() {
	echo "FAIL: $*"
	echo "--- eniflowd log"; cat "$WORK/efd.log"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (taps, hugepages)"

PORT=$(efd_free_port)
TOKEN=noports-$$-0123456789abcdef
echo "$TOKEN" >"$WORK/token"
cat >"$WORK/efd.json" <<EOF
{"data_dir": "$WORK/data", "listen": "127.0.0.1:$PORT", "token_file": "$WORK/token",
 "instance": "$TAG", "file_prefix": "$TAG", "eal_lcore": 0, "rotate_age_s": 1}
EOF
BASE=http://127.0.0.1:$PORT

tun_fds() { # tun_fds PID: descriptors open on /dev/net/tun (net_tap's queues)
	local n=0 f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f" 2>/dev/null)" = /dev/net/tun ] && n=$((n + 1))
	done
	echo "$n"
}

topo_init "$TAG" "$WORK/topo"
NPORTS=$("$EFD_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["ports"]))' \
	"$TOPO_CONFIG")
topo_start "$VSW" || die "switch did not start"
topo_attach
sw_tun=$(tun_fds "$TOPO_SWITCH_PID")
[ "$sw_tun" -ge "$NPORTS" ] || die "the switch holds $sw_tun tun fds, want >= $NPORTS (check broken?)"

for run in 1 2 3; do
	: >"$WORK/efd.log"
	# the last one takes 1.5 s over its re-exec, for the SIGTERM below
	delay=; [ "$run" = 3 ] && delay=1500
	EFD_TEST_REEXEC_DELAY_MS=$delay "$EFD" --config "$WORK/efd.json" 2>"$WORK/efd.log" &
	EPID=$!
	efd_wait 30 grep -q "event=attached" "$WORK/efd.log" || die "run $run: no attach"
	n=$(tun_fds "$EPID")
	[ "$n" = 0 ] || die "run $run: eniflowd holds $n /dev/net/tun fds (the switch's tap queues)"
	line=$(grep "event=eal_ready" "$WORK/efd.log") || die "run $run: no eal_ready line"
	echo "run $run: $line"
	echo "$line" | grep -q " primary_vdevs_ignored=$NPORTS vdevs=0 vdevs_probed=0" ||
		die "run $run: want the switch's $NPORTS vdevs seen and ignored, none on the bus"
	grep -qi "tap\|request queues" "$WORK/efd.log" && die "run $run: net_tap ran in eniflowd"
	if [ "$run" -lt 3 ]; then
		kill -9 "$EPID"
		wait "$EPID" 2>/dev/null
		EPID=
	fi
done

# still a working drain: a flow log, a ping, a segment holding its records
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOKEN" \
	"$BASE/v1/flow-logs" -d '{"resource":"vpc-e2e","traffic_type":"ALL","aggregation_interval_s":1}')
[ "$code" = 201 ] || die "POST /v1/flow-logs: $code"
sleep 0.5
topo_exec 1 ping -c 3 -i 0.2 -W 1 "$(topo_ip 2)" >/dev/null || die "ping vm1 -> vm2"
kill -0 "$TOPO_SWITCH_PID" || die "the switch died"
topo_stop_switch || die "switch exit status"
# SIGTERM while the daemon re-execs: its main thread blocks it, so another
# thread (EAL's) takes it; the daemon must still stop, with status 0
efd_wait 10 grep -q "event=reexec" "$WORK/efd.log" || die "no re-exec after the switch exit"
kill -TERM "$EPID"
efd_wait 10 eval '! kill -0 $EPID 2>/dev/null' || die "SIGTERM during the re-exec was lost"
wait "$EPID"
rc=$?
EPID=
[ "$rc" = 0 ] || die "exit status $rc after a SIGTERM during the re-exec"
flows=0
while IFS= read -r f; do
	"$ENIFLOW" verify "$f" >/dev/null || die "verify $f"
	flows=$((flows + $("$ENIFLOW" cat "$f" | grep -c '"log-status":"OK"')))
done < <(find "$WORK/data" -name '*.fls')
[ "$flows" -gt 0 ] || die "no flow record drained"
echo "flow records drained: $flows"
echo "daemon_noports: all checks passed"
