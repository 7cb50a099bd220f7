#!/usr/bin/env bash
# bench_vswitch.sh [BUILD_DIR] [SECONDS_PER_PHASE] [ROUNDS] - eniflow-vswitch
# Mpps and cycles/packet with flow logs off and on for every ENI, interleaved
# ROUNDS times in one run (medians), for captures of 10K and 1M flows
# (generated here with stdlib python), then the OVS-DPDK IPFIX peer
# (bench_ovs_ipfix.sh) on the same 10K capture. One JSON line per case.
# Installs what it needs (build packages, python3, openvswitch-switch-dpdk),
# reserves hugepages, builds BUILD_DIR if needed. Needs root.
# BENCH_FLOWS="10000 1000000" picks the cases; BENCH_OVS=0 skips OVS.
# Never fails a build: it is a measurement.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../../scripts/lib/setup.sh"
need_root
# BUILD_DIR: a path, or a directory name under the source root (default build).
BUILD=${1:-build}
[[ $BUILD = /* ]] || [ -d "$BUILD" ] || BUILD=$ENIFLOW_ROOT/$BUILD
BUILD=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)
SECS=${2:-2}
ROUNDS=${3:-5}
FLOWS=${BENCH_FLOWS:-10000 1000000}
OVS=${BENCH_OVS:-1}
pkgs="$ENIFLOW_BUILD_PKGS python3"
[ "$OVS" = 1 ] && pkgs="$pkgs openvswitch-switch-dpdk"
# shellcheck disable=SC2086
ensure_packages $pkgs
# bench_vswitch takes 2 GiB (1M mbufs, 4M-entry flow cache and conn table),
# OVS 1 GiB; they run one after the other.
ensure_hugepages 1536
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ENIFLOW_ROOT" >/dev/null || die "meson setup $BUILD failed"
fi
ninja -C "$BUILD" test/bench/bench_vswitch >/dev/null || die "build of bench_vswitch failed"
WORK=$(mktemp -d /tmp/eniflow-bench-vs.XXXXXX)
trap 'rm -rf "$WORK" /var/run/dpdk/bench_vswitch' EXIT
for flows in $FLOWS; do
	pcap=$WORK/f$flows.pcap
	python3 "$HERE/gen_flows_pcap.py" "$pcap" "$flows"
	log "bench_vswitch: $flows flows, $ROUNDS rounds of off/on, ${SECS}s each"
	"$BUILD/test/bench/bench_vswitch" "$pcap" "$flows" "$SECS" "$ROUNDS" 2>/dev/null ||
		echo "{\"bench\": \"vswitch\", \"flows\": $flows, \"error\": \"bench_vswitch failed\"}"
	# OVS gives net_pcap a mempool of its own sizing (tens of thousands of
	# mbufs) and infinite_rx needs one per packet of the capture: OVS refuses
	# the 1M-packet capture ("Not enough mbufs"), so the peer runs up to 64K.
	if [ "$OVS" = 1 ] && [ "$flows" -le 65536 ]; then
		log "bench_ovs_ipfix: $flows flows"
		"$HERE/bench_ovs_ipfix.sh" "$pcap" "$SECS" 2>/dev/null ||
			echo "{\"bench\": \"ovs_dpdk_ipfix\", \"flows\": $flows, \"error\": \"bench_ovs_ipfix failed\"}"
	fi
	rm -f "$pcap"
done
