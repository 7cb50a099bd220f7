#!/usr/bin/env bash
# bench_vswitch.sh [BUILD_DIR] [SECONDS_PER_PHASE] - eniflow-vswitch Mpps and
# cycles/packet with flow logs off and on for every ENI, for captures of 10K
# and 1M flows (generated here, stdlib python). One JSON line per case.
# Needs root (hugepages). Never fails a build: it is a measurement.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE/../../build}
SECS=${2:-3}
WORK=$(mktemp -d /tmp/eniflow-bench-vs.XXXXXX)
trap 'rm -rf "$WORK" /var/run/dpdk/bench_vswitch' EXIT
for flows in 10000 1000000; do
	python3 "$HERE/gen_flows_pcap.py" "$WORK/f$flows.pcap" "$flows"
	"$BUILD/test/bench/bench_vswitch" "$WORK/f$flows.pcap" "$flows" "$SECS" 2>/dev/null ||
		echo "{\"bench\": \"vswitch\", \"flows\": $flows, \"error\": \"bench_vswitch failed\"}"
	rm -f "$WORK/f$flows.pcap"
done
