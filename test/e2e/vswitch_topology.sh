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

python3 - "$WORK/before.json" "$WORK/after.json" "$(grep -o '[0-9.]* [MG]bits/sec' "$WORK/iperf.txt" | tail -1)" <<'PY'
import json, sys
b, a = (json.load(open(p)) for p in sys.argv[1:3])
bad = []
def d(side, key, i):
    return side["a"][key][i] - side["b"][key][i]
sw_b, rej_b = b["switch"]; sw_a, rej_a = a["switch"]
ids = sw_a["eni"]
for i in range(3):
    kb, ka = b["kernel"][str(i + 1)], a["kernel"][str(i + 1)]
    k = {x: ka[x] - kb[x] for x in ka}
    s = {x: sw_a[x][i] - sw_b[x][i] for x in sw_a if x != "eni"}
    # The VM's tap transmits what the switch receives, and receives what it sends.
    pairs = [("tx_packets", "rx_packets"), ("tx_bytes", "rx_bytes"),
             ("rx_packets", "tx_packets"), ("rx_bytes", "tx_bytes")]
    for kk, sk in pairs:
        if k[kk] != s[sk]:
            bad.append(f"{ids[i]}: kernel {kk} +{k[kk]} but switch {sk} +{s[sk]}")
    # Nothing was rejected on its way out of a VM: all it sent was forwarded.
    if s["forwarded_bytes"] != s["rx_bytes"] or s["forwarded_packets"] != s["rx_packets"]:
        bad.append(f"{ids[i]}: forwarded {s['forwarded_packets']}/{s['forwarded_bytes']}B != rx")
    if s["tx_packets"] == 0:
        bad.append(f"{ids[i]}: nothing forwarded to it")
    # Every packet crossing this ENI went to the plugin, and was accounted
    # (flow logs are enabled for all): egress = rx, ingress = tx + rejected at ingress.
    if s["accounted_packets"] != s["seen_packets"]:
        bad.append(f"{ids[i]}: accounted {s['accounted_packets']} != seen {s['seen_packets']}")
    print(f"{ids[i]}: kernel tx {k['tx_packets']}/{k['tx_bytes']}B rx {k['rx_packets']}/{k['rx_bytes']}B"
          f" = switch rx {s['rx_packets']}/{s['rx_bytes']}B tx {s['tx_packets']}/{s['tx_bytes']}B,"
          f" rejected {s['rejected_packets']}, accounted {s['accounted_packets']}")
def rejects(r):
    return {(r["eni_index"][j], r["direction"][j], r["layer"][j], r["rule"][j]): r["packets"][j]
            for j in range(len(r["rule"]))}
rb, ra = rejects(rej_b), rejects(rej_a)
delta = {k: v - rb.get(k, 0) for k, v in ra.items() if v != rb.get(k, 0)}
print("rejects (eni, dir 0=in, layer 1=SG 2=ACL, rule): packets:", delta)
# nc -z sends SYN + retransmits within 1 s: at least one each, at vm3's ingress.
acl22 = delta.pop((2, 0, 2, 10), 0)
sgdef = delta.pop((2, 0, 1, 0), 0)
if acl22 < 1:
    bad.append("no SYN to port 22 rejected by ACL rule 10 at eni-00000003 ingress")
if sgdef < 1:
    bad.append("no SYN to port 9999 rejected by the SG default at eni-00000003 ingress")
if delta:
    bad.append(f"unexpected rejects: {delta}")
# The rejected SYNs are the only rejects: the switch's rejected counter agrees.
rej3 = sw_a["rejected_packets"][2] - sw_b["rejected_packets"][2]
if rej3 != acl22 + sgdef:
    bad.append(f"eni-00000003 rejected {rej3} != ACL {acl22} + SG {sgdef}")
print("iperf3:", sys.argv[3])
if bad:
    print("\n".join("FAIL: " + x for x in bad), file=sys.stderr)
    sys.exit(1)
print("vswitch_topology: ok")
PY
topo_stop_switch || fail "switch exited with status $?"
grep -q "stopped, flows flushed" "$WORK/switch.log" || fail "no clean shutdown: $(cat "$WORK/switch.log")"
