#!/usr/bin/env bash
# bench_ovs_ipfix.sh CAPTURE [SECONDS] - the peer comparison for bench_vswitch:
# OVS-DPDK (Debian's openvswitch-switch-dpdk) forwarding the same net_pcap
# (infinite_rx) capture into net_null on one PMD core (core 1), first plain,
# then with per-bridge IPFIX sampling=1, in one run. Prints one JSON line.
# Runs its own ovsdb-server and ovs-vswitchd in a temporary directory and
# stops both (by pid) on exit; nothing system-wide is configured.
set -euo pipefail
PCAP=$(readlink -f "$1")
SECS=${2:-3}
D=$(mktemp -d /tmp/eniflow-ovs.XXXXXX)
export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D OVS_SYSCONFDIR=$D
DB=unix:$D/db.sock
VS() { ovs-vsctl --db="$DB" --timeout=30 "$@"; }
SINK=
cleanup() {
	[ -n "$SINK" ] && kill "$SINK" 2>/dev/null || true
	[ -f "$D/vswitchd.pid" ] && kill "$(cat "$D/vswitchd.pid")" 2>/dev/null || true
	sleep 1
	[ -f "$D/ovsdb.pid" ] && kill "$(cat "$D/ovsdb.pid")" 2>/dev/null || true
	cp "$D/vswitchd.log" /tmp/vs/ovs-last.log 2>/dev/null || true
	rm -rf "$D" "/var/run/dpdk/ovsb$$"
}
trap cleanup EXIT
ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server --remote="punix:$D/db.sock" --pidfile="$D/ovsdb.pid" --detach \
	--log-file="$D/ovsdb.log" "$D/conf.db"
VS --no-wait init
VS --no-wait set Open_vSwitch . other_config:dpdk-init=true \
	other_config:dpdk-extra="--no-pci --file-prefix=ovsb$$ --vdev=net_pcap_o0,rx_pcap=$PCAP,infinite_rx=1 --vdev=net_null_o1,no-rx=1" \
	other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 other_config:dpdk-socket-mem=1024
/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk "$DB" --pidfile="$D/vswitchd.pid" --detach \
	--log-file="$D/vswitchd.log"
VS add-br br0 -- set bridge br0 datapath_type=netdev
VS add-port br0 p0 -- set Interface p0 type=dpdk options:dpdk-devargs=net_pcap_o0
VS add-port br0 p1 -- set Interface p1 type=dpdk options:dpdk-devargs=net_null_o1
ovs-ofctl del-flows br0
ovs-ofctl add-flow br0 "in_port=p0,actions=output:p1"

rx_p0() { ovs-ofctl dump-ports br0 p0 | grep -o 'rx pkts=[0-9]*' | cut -d= -f2; }
rate() { # Mpps received on p0 over SECS, after 1 s of warm-up (live netdev counters)
	sleep 1
	local a b
	a=$(rx_p0)
	sleep "$SECS"
	b=$(rx_p0)
	python3 -c "print(round(($b - $a) / $SECS / 1e6, 3))"
}
# An IPFIX collector that reads and drops, so export is not refused by ICMP.
python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 4739))
while True: s.recv(65536)' &
SINK=$!
off=$(rate)
VS -- set Bridge br0 ipfix=@i -- --id=@i create IPFIX targets=\"127.0.0.1:4739\" sampling=1 \
	cache_active_timeout=60 > /dev/null
on=$(rate)
echo "{\"bench\": \"ovs_dpdk_ipfix\", \"pcap\": \"$(basename "$PCAP")\", \"off_mpps\": $off, \"ipfix_mpps\": $on, \"ratio_on_off\": $(python3 -c "print(round($on / $off, 3) if $off else 0)")}"
