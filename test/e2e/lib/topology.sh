# test/e2e/lib/topology.sh - three network namespaces as "VMs" on net_tap
# ports of eniflow-vswitch, in two subnets of one VPC (config template:
# config/vswitch-topology.json). Sourced by e2e tests and scripts/demo.
#
#   topo_init TAG WORKDIR [TEMPLATE]  names: namespaces TAG-vm1..3, taps TAG1..3,
#                                 EAL file prefix TAG, instance TAG (<= 12 chars);
#                                 TEMPLATE: another config (TAG replaced likewise)
#   topo_start SWITCH_BIN [switch options...]   start the switch, wait for taps
#   topo_attach                   move taps into namespaces, set MAC/IP, up
#   topo_exec I CMD...            run CMD in VM I (1..3)
#   topo_bg I CMD...              same, in the background (killed by topo_teardown)
#   topo_kernel_counters          JSON: per VM, the tap's kernel rx/tx packets/bytes
#   topo_teardown                 stop everything, remove namespaces (idempotent;
#                                 callers set: trap topo_teardown EXIT)
# The VMs' IPv6 is disabled so that the kernel sends nothing on its own but
# ARP; the addresses share one /16 so VMs of both subnets ARP each other (the
# switch is an L2 switch).
# TOPO_IPV6=1 (set before topo_attach) keeps IPv6 on and adds TOPO_IP6S, one
# /48 for all three VMs (neighbour discovery across both subnets, as ARP),
# without DAD or router solicitations, and with the MLD reports sped up, so
# the only unsolicited IPv6 frames are a few MLD reports right after link up.
TOPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
TOPO_IPS=(10.0.1.10 10.0.1.11 10.0.2.10)
TOPO_MACS=(02:00:0a:00:01:0a 02:00:0a:00:01:0b 02:00:0a:00:02:0a)
TOPO_IP6S=(fd00:e2e:0:1::10 fd00:e2e:0:1::11 fd00:e2e:0:2::10)
TOPO_IPV6=${TOPO_IPV6:-0}
TOPO_EAL_MEM=${TOPO_EAL_MEM:--m 512}
TOPO_PIDS=()
TOPO_SWITCH_PID=

topo_init() {
	TOPO_TAG=$1
	TOPO_DIR=$2
	mkdir -p "$TOPO_DIR"
	TOPO_CONFIG=$TOPO_DIR/topology.json
	sed "s/TAG/$TOPO_TAG/g" "${3:-$TOPO_ROOT/config/vswitch-topology.json}" > "$TOPO_CONFIG"
}

topo_ns() { echo "$TOPO_TAG-vm$1"; }
topo_tap() { echo "$TOPO_TAG$1"; }
topo_ip() { echo "${TOPO_IPS[$(($1 - 1))]}"; }
topo_ip6() { echo "${TOPO_IP6S[$(($1 - 1))]}"; }

topo_start() {
	local bin=$1; shift
	# shellcheck disable=SC2086
	"$bin" --no-pci $TOPO_EAL_MEM --file-prefix "$TOPO_TAG" --log-level='*:warning' \
		-- --config "$TOPO_CONFIG" --instance "$TOPO_TAG" "$@" \
		> "$TOPO_DIR/switch.log" 2>&1 &
	TOPO_SWITCH_PID=$!
	local i
	for i in $(seq 100); do
		if grep -q "running" "$TOPO_DIR/switch.log" 2>/dev/null; then
			for t in 1 2 3; do ip link show dev "$(topo_tap $t)" > /dev/null 2>&1 || continue 2; done
			return 0
		fi
		kill -0 "$TOPO_SWITCH_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "topology: the switch did not come up:" >&2
	cat "$TOPO_DIR/switch.log" >&2
	return 1
}

topo_attach() {
	local i ns tap
	for i in 1 2 3; do
		ns=$(topo_ns $i); tap=$(topo_tap $i)
		ip netns add "$ns"
		ip link set dev "$tap" netns "$ns"
		ip -n "$ns" link set dev "$tap" down
		if [ "$TOPO_IPV6" = 1 ]; then
			topo_ipv6_sysctls "$ns" "$tap"
		else
			ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
				net.ipv6.conf.default.disable_ipv6=1 "net.ipv6.conf.$tap.disable_ipv6=1"
		fi
		ip -n "$ns" link set dev "$tap" address "${TOPO_MACS[$((i - 1))]}"
		ip -n "$ns" addr add "$(topo_ip $i)/16" dev "$tap"
		if [ "$TOPO_IPV6" = 1 ]; then
			ip -n "$ns" addr add "$(topo_ip6 $i)/48" dev "$tap" nodad
		fi
		ip -n "$ns" link set dev lo up
		ip -n "$ns" link set dev "$tap" up
	done
}

topo_ipv6_sysctls() { # NS TAP
	local k c
	for c in all default "$2"; do
		for k in disable_ipv6=0 accept_dad=0 router_solicitations=0 accept_ra=0 \
			mldv2_unsolicited_report_interval=10 mldv1_unsolicited_report_interval=10; do
			ip netns exec "$1" sysctl -qw "net.ipv6.conf.$c.$k"
		done
	done
}

topo_exec() { local i=$1; shift; ip netns exec "$(topo_ns "$i")" "$@"; }

topo_bg() {
	local i=$1; shift
	ip netns exec "$(topo_ns "$i")" "$@" > "$TOPO_DIR/bg.$i.$#.log" 2>&1 &
	TOPO_PIDS+=($!)
}

# {"1": {"rx_packets":..,"rx_bytes":..,"tx_packets":..,"tx_bytes":..}, ...}
topo_kernel_counters() {
	local i sep="" out="{"
	for i in 1 2 3; do
		out+="$sep\"$i\": $(ip -n "$(topo_ns $i)" -s -j link show dev "$(topo_tap $i)" |
			python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(json.dumps({"rx_packets": s["rx"]["packets"], "rx_bytes": s["rx"]["bytes"], "tx_packets": s["tx"]["packets"], "tx_bytes": s["tx"]["bytes"]}))')"
		sep=", "
	done
	echo "$out}"
}

topo_stop_switch() {
	[ -n "$TOPO_SWITCH_PID" ] || return 0
	local rc=0 i
	kill -INT "$TOPO_SWITCH_PID" 2>/dev/null || true
	for i in $(seq 100); do
		kill -0 "$TOPO_SWITCH_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$TOPO_SWITCH_PID" 2>/dev/null; then
		echo "topology: switch $TOPO_SWITCH_PID ignored SIGINT for 10 s, killing it" >&2
		kill -KILL "$TOPO_SWITCH_PID" 2>/dev/null || true
	fi
	wait "$TOPO_SWITCH_PID" || rc=$?
	TOPO_SWITCH_PID=
	return $rc
}

topo_teardown() {
	local p i
	for p in "${TOPO_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${TOPO_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	TOPO_PIDS=()
	topo_stop_switch || true
	for i in 1 2 3; do
		ip netns del "$(topo_ns $i)" 2>/dev/null || true
	done
	rm -rf "/var/run/dpdk/$TOPO_TAG"
}
