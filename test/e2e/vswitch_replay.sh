#!/usr/bin/env bash
# Proves that every frame of the real DDoS captures replayed through net_pcap
# ports is received and handed to the flow-log plugin exactly once (one ENI
# crossing each, counted against capinfos' frame and byte counts), whether
# the security group accepts it (UDP) or rejects it (the rest), and that the
# switch survives it and exits 0. Needs root (hugepages not required).
# Usage: SWITCH_BIN [TESTDATA_DIR]
set -euo pipefail
BIN=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${2:-${ENIFLOW_TESTDATA:-$HERE/../../../shared/testdata}}
TEL="$HERE/lib/telemetry.py"
fail() { echo "FAIL: $*" >&2; exit 1; }

shopt -s nullglob
PCAPS=("$DATA"/pcaps/ddos/*.pcap*)
[ ${#PCAPS[@]} -gt 0 ] || fail "no captures in $DATA/pcaps/ddos"
TAG=vsr$$
WORK=$(mktemp -d /tmp/eniflow-e2e-replay.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
	rm -rf "$WORK" "/var/run/dpdk/$TAG"
}
trap cleanup EXIT

# One ENI per capture, each in its own VPC so nothing crosses between them.
python3 - "$WORK/replay.json" "${PCAPS[@]}" <<'PY'
import json, sys
out, pcaps = sys.argv[1], sys.argv[2:]
ports, names = [], []
for i, p in enumerate(pcaps):
    names.append(f"r{i}")
    ports.append({"name": f"r{i}", "devargs": f"net_pcap_r{i},rx_pcap={p}",
                  "eni": {"id": f"eni-replay{i}", "account": "1", "vpc": f"vpc-{i}",
                          "subnet": f"subnet-{i}", "mac": f"02:00:00:00:{i:02x}:01",
                          "security_groups": ["sg-udp"]}})
ports.append({"name": "up", "devargs": "net_null_up,no-rx=1", "uplink": True})
cfg = {"ports": ports,
       "security_groups": [{"id": "sg-udp", "egress": [
           {"id": 7, "proto": "udp", "cidr": "0.0.0.0/0"},
           {"id": 8, "proto": "udp", "cidr": "::/0"}]}],
       "lcores": [{"lcore": 1, "ports": names + ["up"]}]}
json.dump(cfg, open(out, "w"), indent=1)
PY

"$BIN" --no-pci --no-huge -m 512 --file-prefix "$TAG" --log-level='*:warning' \
	-- --config "$WORK/replay.json" --instance "$TAG" --enable-all --drain-wait-ms 0 \
	> "$WORK/switch.log" 2>&1 &
PID=$!

# Wait until every capture is consumed: the rx counters stop moving.
prev=
for _ in $(seq 200); do
	sleep 0.25
	kill -0 "$PID" 2>/dev/null || { cat "$WORK/switch.log"; fail "the switch died"; }
	[ -S "/var/run/dpdk/$TAG/dpdk_telemetry.v2" ] || continue
	cur=$("$TEL" "$TAG" /eniflow/stats) || continue
	[ "$cur" = "$prev" ] && break
	prev=$cur
done
"$TEL" "$TAG" /eniflow/stats /eniflow/rejects /eniflow/workers > "$WORK/stats.json"

for i in "${!PCAPS[@]}"; do
	echo "$i $(capinfos -c -d -M -T -r "${PCAPS[$i]}" | tail -1 | cut -f2-3) ${PCAPS[$i]}"
done > "$WORK/expected.txt"

python3 - "$WORK/stats.json" "$WORK/expected.txt" <<'PY'
import json, sys
stats, rejects, workers = (json.loads(l) for l in open(sys.argv[1]))
bad = []
for line in open(sys.argv[2]):
    i, frames, nbytes, path = line.split(maxsplit=3)
    i, frames, nbytes = int(i), int(frames), int(nbytes)
    got = {k: stats[k][i] for k in stats if k != "eni"}
    name = path.strip().rsplit("/", 1)[-1]
    print(f"{name}: capinfos {frames} frames {nbytes} B; switch rx {got['rx_packets']} "
          f"({got['rx_bytes']} B), seen {got['seen_packets']}, accounted "
          f"{got['accounted_packets']}, rejected {got['rejected_packets']}, tx {got['tx_packets']}")
    for k, want in (("rx_packets", frames), ("rx_bytes", nbytes), ("seen_packets", frames),
                    ("seen_bytes", nbytes), ("accounted_packets", frames),
                    ("accounted_bytes", nbytes), ("tx_packets", 0)):
        if got[k] != want:
            bad.append(f"{name}: {k} = {got[k]}, want {want}")
if sum(stats["rejected_packets"]) == 0 or sum(stats["rejected_packets"]) == sum(stats["rx_packets"]):
    bad.append("expected both accepted (UDP) and rejected (non-UDP) frames")
print("workers:", workers)
if bad:
    print("\n".join("FAIL: " + b for b in bad), file=sys.stderr)
    sys.exit(1)
print("vswitch_replay: ok")
PY
kill -INT "$PID"
rc=0; wait "$PID" || rc=$?
PID=
[ $rc = 0 ] || fail "switch exited with $rc: $(cat "$WORK/switch.log")"
