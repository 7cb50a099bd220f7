#!/usr/bin/env bash
# Proves that eniflow-vswitch forwards real clients' traffic between three
# namespace "VMs" on net_tap ports (ping, HTTP, iperf3 pass; TCP 22 is
# rejected by ACL rule 10 and an unlisted port by the SG default, both at the
# destination's ingress), and that per-ENI counters from telemetry equal the
# kernel's own tap counters exactly. Needs root. Usage: SWITCH_BIN
set -euo pipefail
BIN=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/topology.sh"
TEL="$HERE/lib/telemetry.py"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, taps)"

TAG=vst$$
WORK=$(mktemp -d /tmp/eniflow-e2e-topo.XXXXXX)
cleanup() { topo_teardown; rm -rf "$WORK"; }
trap cleanup EXIT
topo_init "$TAG" "$WORK"
topo_start "$BIN" --enable-all --drain-wait-ms 0
topo_attach

# Warm ARP both ways, let the links settle, then take the baseline.
topo_exec 1 ping -c 1 -W 2 10.0.1.11 > /dev/null || fail "first ping vm1 -> vm2"
topo_exec 1 ping -c 1 -W 2 10.0.2.10 > /dev/null || fail "first ping vm1 -> vm3"
topo_exec 2 ping -c 1 -W 2 10.0.2.10 > /dev/null || fail "first ping vm2 -> vm3"

# Kernel and switch counters at one quiet instant: re-read until the kernel
# counters did not move while telemetry was read.
snapshot() { # OUT
	local k1 k2 s
	for _ in $(seq 20); do
		k1=$(topo_kernel_counters); sleep 0.3
		s=$("$TEL" "$TAG" /eniflow/stats /eniflow/rejects | paste -sd, -)
		k2=$(topo_kernel_counters)
		if [ "$k1" = "$k2" ]; then
			echo "{\"kernel\": $k1, \"switch\": [$s]}" > "$1"
			return 0
		fi
	done
	fail "kernel counters never stood still"
}
snapshot "$WORK/before.json"

# Traffic with real clients.
topo_exec 1 ping -c 5 -i 0.2 -W 1 10.0.1.11 > /dev/null || fail "ping vm1 -> vm2 (same subnet)"
topo_exec 3 ping -c 5 -i 0.2 -W 1 10.0.1.10 > /dev/null || fail "ping vm3 -> vm1 (other subnet)"
mkdir -p "$WORK/www" && echo "hello from vm3" > "$WORK/www/index.html"
topo_bg 3 python3 -m http.server 8080 --bind 10.0.2.10 --directory "$WORK/www"
for _ in $(seq 50); do topo_exec 3 bash -c 'exec 3<>/dev/tcp/10.0.2.10/8080' 2>/dev/null && break; sleep 0.1; done
body=$(topo_exec 1 curl -sf --max-time 5 http://10.0.2.10:8080/index.html) || fail "curl vm1 -> vm3:8080"
[ "$body" = "hello from vm3" ] || fail "curl got '$body'"
kill "${TOPO_PIDS[-1]}"; wait "${TOPO_PIDS[-1]}" 2>/dev/null || true
topo_bg 3 iperf3 -s -p 8080 -1 -B 10.0.2.10
sleep 0.5
topo_exec 2 iperf3 -c 10.0.2.10 -p 8080 -t 2 > "$WORK/iperf.txt" || { cat "$WORK/iperf.txt"; fail "iperf3 vm2 -> vm3:8080"; }
topo_bg 3 nc -l -s 10.0.2.10 -p 22
topo_bg 3 nc -l -s 10.0.2.10 -p 9999
sleep 0.3
if topo_exec 1 nc -z -w 1 10.0.2.10 22; then fail "nc -z to port 22 connected: the ACL should deny it"; fi
if topo_exec 1 nc -z -w 1 10.0.2.10 9999; then fail "nc -z to port 9999 connected: no SG rule allows it"; fi
sleep 1
snapshot "$WORK/after.json"

python3 "$HERE/lib/topo_counters.py" "$WORK/before.json" "$WORK/after.json" 10 \
	"iperf3: $(grep -o '[0-9.]* [MG]bits/sec' "$WORK/iperf.txt" | tail -1)" || fail "counters"
echo "vswitch_topology: ok"
topo_stop_switch || fail "switch exited with status $?"
grep -q "stopped, flows flushed" "$WORK/switch.log" || fail "no clean shutdown: $(cat "$WORK/switch.log")"
