#!/usr/bin/env bash
# Proves IPv6 through eniflow-vswitch end to end: three namespace VMs with
# IPv6 addresses on net_tap ports, neighbour discovery by multicast NS
# flooded within the VPC (exempt from SG/ACL, as ARP), ping -6 and HTTP over
# IPv6 forwarded by SG rules 103/104 (IPv6 CIDR), TCP 22 rejected by the
# IPv6 ACL rule 20 and an unlisted port by the SG default; per-ENI counters
# from telemetry equal the kernel's tap counters exactly; the flow records
# eniflowd stores carry the VMs' IPv6 addresses and the deciding rules, and
# per ENI and direction hold exactly the packets and bytes the switch
# counted from its first packet on.
# Needs root and hugepages (eniflowd attaches to the switch's memory).
# usage: vswitch_ipv6.sh VSWITCH ENIFLOWD ENIFLOW
set -euo pipefail
VSW=$(readlink -f "${1:?eniflow-vswitch}")
EFD=$(readlink -f "${2:?eniflowd}")
ENIFLOW=$(readlink -f "${3:?eniflow CLI}")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/topology.sh"
source "$HERE/lib/efd.sh"
TEL="$HERE/lib/telemetry.py"
PY=$EFD_PY

TAG=v6$$
WORK=$(mktemp -d /tmp/eniflow-e2e-ipv6.XXXXXX)
EFD_PID=
cleanup() {
	topo_teardown
	if [ -n "$EFD_PID" ]; then kill "$EFD_PID" 2>/dev/null || true; wait "$EFD_PID" 2>/dev/null || true; fi
	rm -f /dev/hugepages/"${TAG}"map_*
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- switch log" >&2; cat "$WORK/switch.log" >&2 2>/dev/null || true
	echo "--- eniflowd log" >&2; tail -20 "$WORK/efd.log" >&2 2>/dev/null || true
	exit 1
}
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces, taps, hugepages)"
V6=("" "$(topo_ip6 1)" "$(topo_ip6 2)" "$(topo_ip6 3)")

# eniflowd first, with a VPC-wide flow log, then the switch with every ENI
# logged from its first packet (--enable-all; eniflowd's config, the same
# but for the interval, takes over when it attaches): the records must
# cover every frame the switch ever counted.
efd_start_logging "$EFD" "$WORK" "$TAG" vpc-e2e || fail "eniflowd"
BASE=$EFD_BASE
topo_init "$TAG" "$WORK" "$TOPO_ROOT/config/vswitch-topology-ipv6.json"
topo_start "$VSW" --enable-all --drain-wait-ms 5000 || fail "switch did not start"
efd_wait 20 efd_health_is "$BASE" up || fail "eniflowd did not attach"
# shellcheck disable=SC2034 # read by topo_attach
TOPO_IPV6=1
topo_attach

# Neighbour discovery: the first ping of each pair needs a multicast NS
# (solicited-node address) flooded to the other ENIs and a unicast NA back.
for pair in 1:2 1:3 2:3; do
	a=${pair%:*} b=${pair#*:}
	topo_exec "$a" ping -6 -c 1 -W 2 "${V6[$b]}" > /dev/null || fail "first ping -6 vm$a -> vm$b (ND)"
	topo_exec "$a" ip -6 neigh show "${V6[$b]}" | grep -q "${TOPO_MACS[$((b - 1))]}" ||
		fail "vm$a has no neighbour entry for vm$b: $(topo_exec "$a" ip -6 neigh)"
done
sleep 0.5

# Kernel and switch counters at one quiet instant (as vswitch_topology.sh).
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

topo_exec 1 ping -6 -c 5 -i 0.2 -W 1 "${V6[2]}" > /dev/null || fail "ping -6 vm1 -> vm2 (same subnet)"
topo_exec 3 ping -6 -c 5 -i 0.2 -W 1 "${V6[1]}" > /dev/null || fail "ping -6 vm3 -> vm1 (other subnet)"
mkdir -p "$WORK/www" && echo "hello over IPv6" > "$WORK/www/index.html"
topo_bg 3 "$PY" -m http.server 8080 --bind "${V6[3]}" --directory "$WORK/www"
efd_wait 5 topo_exec 3 nc -6 -z "${V6[3]}" 8080 || fail "http.server on vm3 did not listen"
body=$(topo_exec 1 curl -6 -sf --max-time 5 "http://[${V6[3]}]:8080/index.html") || fail "curl -6 vm1 -> vm3:8080"
[ "$body" = "hello over IPv6" ] || fail "curl -6 got '$body'"
topo_bg 3 nc -6 -l -s "${V6[3]}" -p 22
topo_bg 3 nc -6 -l -s "${V6[3]}" -p 9999
sleep 0.3
if topo_exec 1 nc -6 -z -w 1 "${V6[3]}" 22; then fail "nc -6 to port 22 connected: ACL rule 20 should deny it"; fi
if topo_exec 1 nc -6 -z -w 1 "${V6[3]}" 9999; then fail "nc -6 to port 9999 connected: no SG rule allows it"; fi
sleep 1
snapshot "$WORK/after.json"
# Silence the VMs (a down link sends nothing more, not even a neighbour
# probe), then the switch's counters are final: what the records must hold.
for i in 1 2 3; do ip -n "$(topo_ns $i)" link set dev "$(topo_tap $i)" down; done
sleep 0.5
topo_kernel_counters > "$WORK/kernel_total.json"
"$TEL" "$TAG" /eniflow/stats /eniflow/workers | paste -sd, - | sed 's/^/[/; s/$/]/' > "$WORK/switch_total.json"

"$PY" "$HERE/lib/topo_counters.py" "$WORK/before.json" "$WORK/after.json" 20 || fail "counters"

# Stop the switch: it flushes every flow, eniflowd drains and seals.
topo_stop_switch || fail "switch exited with status $?"
efd_wait 15 efd_health_is "$BASE" down || fail "eniflowd did not see the switch stop"
# eniflowd re-execs itself after the switch is gone: retry while it comes back.
efd_wait 10 efd_download "$BASE" "$WORK/list.json" "$WORK/dl" || fail "download the segments"
ls "$WORK"/dl/*.fls > /dev/null 2>&1 || fail "no segments"
"$ENIFLOW" verify "$WORK"/dl/*.fls > "$WORK/verify.txt" 2>&1 || fail "eniflow verify: $(cat "$WORK/verify.txt")"
"$ENIFLOW" cat --format json "$WORK"/dl/*.fls > "$WORK/cat.jsonl" || fail "eniflow cat"
"$PY" - "$WORK/cat.jsonl" "$WORK/switch_total.json" "$WORK/before.json" "$WORK/after.json" \
	"${V6[@]:1}" <<'PY' || fail "flow records"
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sw, workers = json.load(open(sys.argv[2]))
tx_dropped = sum(workers["tx_dropped"])
(_, rej_b), (_, rej_a) = (json.load(open(p))["switch"] for p in sys.argv[3:5])
v6 = sys.argv[5:8]
bad = []
flows = [r for r in recs if r.get("packets") is not None]
# The rest must be NODATA windows: a loss report means records went missing.
other = [r for r in recs if r.get("packets") is None and r.get("log-status") != "NODATA"]
if other:
    bad.append(f"records that are neither flows nor NODATA: {other[:3]}")
# Per ENI, every frame each way: egress records = all the switch received
# from the VM,
# ingress ACCEPT = all it sent to it (in the window above, both equal the
# kernel's tap counters).
tot = collections.defaultdict(lambda: [0, 0])
for r in flows:
    key = (r["eni-index"], r["flow-direction"], r["action"])
    tot[key][0] += r["packets"]
    tot[key][1] += r["bytes"]
unsent = 0
for i in range(3):
    rx = [sw["rx_packets"][i], sw["rx_bytes"][i]]
    tx = [sw["tx_packets"][i], sw["tx_bytes"][i]]
    rj = [sw["rejected_packets"][i], sw["rejected_bytes"][i]]
    eg = [sum(tot[(i, "egress", a)][j] for a in ("ACCEPT", "REJECT")) for j in (0, 1)]
    ing = tot[(i, "ingress", "ACCEPT")]
    irj = tot[(i, "ingress", "REJECT")]
    print(f"eni {i}: records egress {eg[0]}/{eg[1]}B, ingress accepted {ing[0]}/{ing[1]}B,"
          f" rejected {irj[0]}/{irj[1]}B; switch rx {rx[0]}/{rx[1]}B tx {tx[0]}/{tx[1]}B"
          f" rejected {rj[0]}/{rj[1]}B")
    if eg != rx:
        bad.append(f"eni {i}: egress records {eg} != switch rx {rx}")
    # An accepted frame the tap refused (its link going down) is in the
    # records and in the workers' tx_dropped, not in the ENI's tx.
    if ing[0] < tx[0] or ing[1] < tx[1]:
        bad.append(f"eni {i}: ingress ACCEPT records {ing} < switch tx {tx}")
    unsent += ing[0] - tx[0]
    if irj != rj:
        bad.append(f"eni {i}: ingress REJECT records {irj} != switch rejected {rj}")
print(f"accepted at ingress but not sent: {unsent}; workers' tx_dropped: {tx_dropped}")
if unsent != tx_dropped:
    bad.append(f"ingress ACCEPT records - switch tx = {unsent} != tx_dropped {tx_dropped}")
def find(**want):
    return [r for r in flows if all(r.get(f.replace("_", "-")) == v for f, v in want.items())]
def pk(rs):
    return sum(r["packets"] for r in rs)
def rej_delta(key):
    def m(r):
        return {(r["eni_index"][j], r["direction"][j], r["layer"][j], r["rule"][j]): r["packets"][j]
                for j in range(len(r["rule"]))}
    return m(rej_a).get(key, 0) - m(rej_b).get(key, 0)
# ping -6: 1 + 5 echo requests vm1 -> vm2, allowed by the IPv6 SG rule 103.
echo = find(eni_index=1, flow_direction="ingress", action="ACCEPT", protocol=58, srcaddr=v6[0],
            dstaddr=v6[1], icmp_type=128, type="IPv6")
if pk(echo) != 6 or any(r["rule-id"] != 103 or r["layer"] != "sg" for r in echo):
    bad.append(f"echo requests vm1 -> vm2 at eni 1 ingress: {echo}")
# HTTP over IPv6: accepted at vm3's ingress by SG rule 104.
http = find(eni_index=2, flow_direction="ingress", action="ACCEPT", protocol=6, srcaddr=v6[0],
            dstaddr=v6[2], dstport=8080)
if not http or any(r["rule-id"] != 104 or r["layer"] != "sg" for r in http):
    bad.append(f"HTTP vm1 -> vm3:8080 at eni 2 ingress: {http}")
# The rejects carry the deciding rule, with exactly the packets telemetry counted.
for port, layer, rule in ((22, "acl", 20), (9999, "sg", 0)):
    rs = find(eni_index=2, flow_direction="ingress", action="REJECT", protocol=6,
              srcaddr=v6[0], dstaddr=v6[2], dstport=port)
    want = rej_delta((2, 0, 2 if layer == "acl" else 1, rule))
    if pk(rs) != want or any(r["layer"] != layer or r["rule-id"] != rule for r in rs):
        bad.append(f"REJECT to port {port}: records {rs}, telemetry {want} by {layer} rule {rule}")
# Neighbour discovery: vm1's NS for vm2 went to vm2's solicited-node group,
# flooded to both other ENIs; not policed (layer none), like ARP.
for e in (1, 2):
    ns = find(eni_index=e, flow_direction="ingress", action="ACCEPT", protocol=58, srcaddr=v6[0],
              dstaddr="ff02::1:ff00:11", icmp_type=135, layer="none")
    if not ns:
        bad.append(f"no multicast NS vm1 -> ff02::1:ff00:11 at eni {e} ingress")
print(f"records: {len(flows)} flows, {sum(1 for r in flows if r['type'] == 'IPv6')} IPv6")
if bad:
    print("\n".join("FAIL: " + x for x in bad), file=sys.stderr)
    sys.exit(1)
PY
echo "vswitch_ipv6: all checks passed"
