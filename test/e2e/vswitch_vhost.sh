#!/usr/bin/env bash
# Proves eniflow-vswitch forwards over both vhost-user port types: vm1 is a
# dpdk-testpmd with a net_vhost device (the vhost-user server) that the
# switch's virtio_user port connects to; vm2 is a dpdk-testpmd with a
# virtio_user device on the switch's net_vhost socket. The two send known
# bursts of UDP to each other through the switch (SG rule 301 allows them
# at the receiver's ingress). Per ENI, the switch's rx equals what the
# sender's testpmd reports sent and its tx what the receiver's reports
# received, packets and bytes, exactly; the flow records eniflowd stores
# carry each flow at both ENIs with those counts. vm2 then quits: the 64
# frames vm1 sends it meanwhile are the workers' tx_dropped and the switch
# goes on; a new testpmd on vm2's socket gets the next burst (net_vhost takes
# a reconnecting peer). The switch still stops cleanly (exit 0, flows
# flushed) after all its vhost-user peers are gone.
# Needs root and hugepages. vhost-user maps the virtio side's memory by fd:
# the virtio_user testpmd runs with --in-memory --single-file-segments
# (memfd hugepages), the switch (a virtio_user port, and eniflowd must
# attach) with --single-file-segments.
# usage: vswitch_vhost.sh VSWITCH ENIFLOWD ENIFLOW [TESTPMD]
set -euo pipefail
VSW=$(readlink -f "${1:?eniflow-vswitch}")
EFD=$(readlink -f "${2:?eniflowd}")
ENIFLOW=$(readlink -f "${3:?eniflow CLI}")
TESTPMD=${4:-$(command -v dpdk-testpmd || echo /usr/bin/dpdk-testpmd)}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/lib/efd.sh"
TEL="$HERE/lib/telemetry.py"
PY=$EFD_PY

TAG=vh$$
WORK=$(mktemp -d /tmp/eniflow-e2e-vhost.XXXXXX)
SW_PID=
EFD_PID=
VM_PID=("" "" "" "")
MAC=("" 02:00:0a:09:00:01 02:00:0a:09:00:02)
IP=("" 10.9.0.1 10.9.0.2)
cleanup() {
	local p
	exec 7>&- 8>&- 9>&- 2>/dev/null || true
	for p in "${VM_PID[@]}" "$SW_PID" "$EFD_PID"; do
		if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
	done
	for p in "${VM_PID[@]}" "$SW_PID" "$EFD_PID"; do
		if [ -n "$p" ]; then wait "$p" 2>/dev/null || true; fi
	done
	rm -rf "/var/run/dpdk/$TAG" "/var/run/dpdk/${TAG}vm1" "/var/run/dpdk/${TAG}vm2" "$WORK"
	rm -f /dev/hugepages/"${TAG}"map_*
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in switch.log vm1.log vm2.log efd.log; do
		echo "--- $f" >&2; tail -25 "$WORK/$f" >&2 2>/dev/null || true
	done
	exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (hugepages)"
[ -x "$TESTPMD" ] || fail "dpdk-testpmd not found (Debian package dpdk-dev; scripts/test installs it)"

# VM I: testpmd in interactive mode, commands through a FIFO on fd 6+I.
# txonly's template: UDP IP[I]:4000+I-1 -> the peer's IP and 5000+I-1,
# 100-byte frames to the peer's MAC.
vm_start() { # I PEER VDEV
	local i=$1 j=$2
	mkfifo "$WORK/vm$i.in"
	# stdbuf: testpmd prints with stdio; line-buffer it so that the log shows each step.
	stdbuf -oL "$TESTPMD" --no-pci -l 0,1 -m 128 --in-memory --single-file-segments \
		--file-prefix "${TAG}vm$i" --log-level='*:warning' --vdev "$3" \
		-- -i --no-mlockall --eth-peer="0,${MAC[$j]}" --tx-ip="${IP[$i]},${IP[$j]}" \
		--tx-udp="$((4000 + i - 1)),$((5000 + i - 1))" --txpkts=100 \
		< "$WORK/vm$i.in" > "$WORK/vm$i.log" 2>&1 &
	VM_PID[i]=$!
	eval "exec $((6 + i))> \"$WORK/vm$i.in\""
}
vm_cmd() { echo "$2" >&$((6 + $1)); }

efd_start_logging "$EFD" "$WORK" "$TAG" vpc-vhost || fail "eniflowd"
# vm1's vhost-user server socket must be there before the switch's virtio_user port.
vm_start 1 2 "net_vhost_${TAG}vm1,iface=$WORK/vm1.sock,queues=1"
efd_wait 20 test -S "$WORK/vm1.sock" || fail "testpmd vm1 made no vhost-user socket"
sed "s|TAG|$TAG|g; s|SOCKDIR|$WORK|g" "$ROOT/config/vswitch-vhost.json" > "$WORK/vhost.json"
"$VSW" --no-pci -m 256 --single-file-segments --file-prefix "$TAG" --log-level='*:warning' \
	-- --config "$WORK/vhost.json" --instance "$TAG" --enable-all --drain-wait-ms 5000 \
	> "$WORK/switch.log" 2>&1 &
SW_PID=$!
efd_wait 20 grep -q running "$WORK/switch.log" || fail "switch did not start"
[ -S "$WORK/vm2.sock" ] || fail "the switch made no vhost-user socket $WORK/vm2.sock"
efd_wait 20 efd_health_is "$EFD_BASE" up || fail "eniflowd did not attach"
vm_start 2 1 "virtio_user_${TAG}vm2,path=$WORK/vm2.sock,queues=1,mac=${MAC[2]}"
for i in 1 2; do
	vm_cmd $i "set fwd rxonly"
	vm_cmd $i "start"
	efd_wait 20 grep -q "rxonly packet forwarding packets/burst" "$WORK/vm$i.log" ||
		fail "testpmd vm$i did not start forwarding"
done

# switch rx of ENI E, as "packets bytes"
sw_rx() { "$TEL" "$TAG" /eniflow/stats | "$PY" -c "import json,sys; s=json.load(sys.stdin); print(s['rx_packets'][$1], s['rx_bytes'][$1])"; }
settle() { # ENI: wait until its rx stands still and is not 0
	local a b
	for _ in $(seq 50); do
		a=$(sw_rx "$1"); sleep 0.2; b=$(sw_rx "$1")
		[ "$a" = "$b" ] && [ "${a%% *}" != 0 ] && return 0
	done
	fail "ENI $1: rx never settled ($a, $b)"
}
tx_dropped() { "$TEL" "$TAG" /eniflow/workers | "$PY" -c "import json,sys; print(sum(json.load(sys.stdin)['tx_dropped']))"; }
vm_quit() { # I: print the port's final counters, quit, wait for a clean exit
	vm_cmd "$1" "stop"
	vm_cmd "$1" "show port stats all"
	vm_cmd "$1" "quit"
	eval "exec $((6 + $1))>&-"
	wait "${VM_PID[$1]}" || fail "testpmd vm$1 exited with status $?"
	VM_PID[$1]=
}
# Phase 1: vm1 sends 4 bursts of 32, then vm2 sends 3 bursts back
# (tx_first: the txonly engine's bursts, then forwarding goes on in rxonly).
vm_cmd 1 "stop"
vm_cmd 1 "start tx_first 4"
settle 0
vm_cmd 2 "stop"
vm_cmd 2 "start tx_first 3"
settle 1
sleep 0.3
vm_quit 2
# Phase 2: vm2 is gone. What vm1 sends it now (2 bursts) is accepted at
# vm2's ENI but the port cannot take it: the workers' tx_dropped, and the
# switch goes on.
vm_cmd 1 "stop"
vm_cmd 1 "start tx_first 2"
efd_wait 10 test "$(tx_dropped)" = 64 || fail "tx_dropped $(tx_dropped) after 64 frames to a gone peer"
kill -0 "$SW_PID" || fail "the switch died when its net_vhost peer quit"
# Phase 3: a new VM (testpmd "vm3", vm2's MAC) on the same socket gets the
# next burst: the net_vhost port takes a reconnecting peer.
MAC[3]=${MAC[2]} IP[3]=${IP[2]}
vm_start 3 1 "virtio_user_${TAG}vm3,path=$WORK/vm2.sock,queues=1,mac=${MAC[2]}"
vm_cmd 3 "set fwd rxonly"
vm_cmd 3 "start"
efd_wait 20 grep -q "rxonly packet forwarding packets/burst" "$WORK/vm3.log" ||
	fail "testpmd vm3 did not start forwarding"
sleep 0.5
vm_cmd 1 "stop"
vm_cmd 1 "start tx_first 1"
sleep 1
vm_quit 1
vm_quit 3
"$TEL" "$TAG" /eniflow/stats /eniflow/workers | paste -sd, - | sed 's/^/[/; s/$/]/' > "$WORK/switch.json"
# All peers are gone: stopping the virtio_user port writes to a closed
# socket (it once killed the switch with SIGPIPE, losing the last flows).
kill -INT "$SW_PID"
wait "$SW_PID" || fail "switch exited with status $? after its vhost-user peers quit"
SW_PID=
grep -q "stopped, flows flushed" "$WORK/switch.log" || fail "no clean shutdown"
efd_wait 15 efd_health_is "$EFD_BASE" down || fail "eniflowd did not see the switch stop"
efd_wait 10 efd_download "$EFD_BASE" "$WORK/list.json" "$WORK/dl" || fail "download the segments"
"$ENIFLOW" verify "$WORK"/dl/*.fls > "$WORK/verify.txt" 2>&1 || fail "eniflow verify: $(cat "$WORK/verify.txt")"
"$ENIFLOW" cat --format json "$WORK"/dl/*.fls > "$WORK/cat.jsonl" || fail "eniflow cat"

"$PY" - "$WORK" <<'PY' || fail "counts"
import json, re, sys
w = sys.argv[1]
IP = ["10.9.0.1", "10.9.0.2"]
bad = []
def port_stats(i):
    t = open(f"{w}/vm{i + 1}.log").read()
    # the last NIC statistics block: show port stats all, after stop
    blk = t[t.rindex("NIC statistics for port 0"):]
    g = lambda k: int(re.search(k + r":\s+(\d+)", blk).group(1))
    return {"rx": (g("RX-packets"), g("RX-bytes")), "tx": (g("TX-packets"), g("TX-bytes")),
            "rx_missed": g("RX-missed"), "tx_errors": g("TX-errors")}
vm = [port_stats(0), port_stats(1), port_stats(2)]  # vm1, vm2, vm3 (vm2's successor)
print("testpmd:", vm)
sw, workers = json.load(open(f"{w}/switch.json"))
# what each ENI's VM sent and received, per testpmd
sent = [vm[0]["tx"], vm[1]["tx"]]
got = [vm[0]["rx"], tuple(a + b for a, b in zip(vm[1]["rx"], vm[2]["rx"]))]
for i in range(2):
    rx = (sw["rx_packets"][i], sw["rx_bytes"][i])
    tx = (sw["tx_packets"][i], sw["tx_bytes"][i])
    print(f"ENI {i}: its VMs sent {sent[i][0]}/{sent[i][1]}B received {got[i][0]}/{got[i][1]}B;"
          f" switch rx {rx[0]}/{rx[1]}B tx {tx[0]}/{tx[1]}B, forwarded {sw['forwarded_packets'][i]},"
          f" rejected {sw['rejected_packets'][i]}")
    if sent[i] != rx:
        bad.append(f"ENI {i}: its VM sent {sent[i]} but the switch received {rx}")
    if got[i] != tx:
        bad.append(f"ENI {i}: its VMs received {got[i]} but the switch sent {tx}")
    if (sw["forwarded_packets"][i], sw["forwarded_bytes"][i]) != rx or sw["rejected_packets"][i]:
        bad.append(f"ENI {i}: not everything it sent was forwarded")
# 4 + 2 + 1 bursts from vm1 (2 while vm2 was gone), 3 from vm2; vm2 got the
# first 4, vm3 the last one; each burst 32 frames of 100 bytes.
want = {"vm1 tx": (vm[0]["tx"], (224, 22400)), "vm2 tx": (vm[1]["tx"], (96, 9600)),
        "vm2 rx": (vm[1]["rx"], (128, 12800)), "vm3 rx": (vm[2]["rx"], (32, 3200)),
        "vm1 rx": (vm[0]["rx"], (96, 9600)),
        "tx_dropped": (sum(workers["tx_dropped"]), 64), "no_route": (sum(workers["no_route"]), 0)}
for k, (g, e) in want.items():
    if g != e:
        bad.append(f"{k}: {g}, want {e}")
# Flow records: each flow at both ENIs, with the testpmd counts.
recs = [json.loads(l) for l in open(f"{w}/cat.jsonl") if l.strip()]
flows = [r for r in recs if r["packets"] is not None]
others = [r for r in recs if r["packets"] is None and r["log-status"] != "NODATA"]
if others:
    bad.append(f"records that are neither flows nor NODATA: {others[:2]}")
for s in range(2):
    d = 1 - s
    key = (IP[s], IP[d], 17, 4000 + s, 5000 + s)
    for eni, direction, rule in ((s, "egress", 401), (d, "ingress", 301)):
        rs = [r for r in flows if (r["srcaddr"], r["dstaddr"], r["protocol"], r["srcport"],
              r["dstport"]) == key and r["eni-index"] == eni and r["flow-direction"] == direction]
        n = (sum(r["packets"] for r in rs), sum(r["bytes"] for r in rs))
        if n != sent[s] or any(r["action"] != "ACCEPT" or r["rule-id"] != rule for r in rs):
            bad.append(f"flow {key} at ENI {eni} {direction}: records {n} {[(r['action'], r['rule-id']) for r in rs]},"
                       f" testpmd sent {sent[s]} (want ACCEPT by rule {rule})")
        else:
            print(f"records: {key} at ENI {eni} {direction}: {n[0]}/{n[1]}B ACCEPT rule {rule}")
# Nothing else crossed the switch (a flow may span several 1 s windows).
keys = {(r["srcaddr"], r["dstaddr"], r["protocol"], r["srcport"], r["dstport"], r["eni-index"],
         r["flow-direction"]) for r in flows}
if len(keys) != 4:
    bad.append(f"{len(keys)} distinct flows in the records, want 4: {sorted(keys)}")
if bad:
    print("\n".join("FAIL: " + x for x in bad), file=sys.stderr)
    sys.exit(1)
PY
echo "vswitch_vhost: all checks passed"
