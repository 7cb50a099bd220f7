#!/usr/bin/env bash
# Proves eniflow-vswitch exits 0 on SIGINT, with its flows flushed, even when
# a DPDK secondary was killed with -9 while holding the shared memory lock
# (what an eniflowd killed inside rte_eal_init leaves; rte_eal_cleanup would
# wait on it for ever): the exit is bounded and says why.
# Usage: SWITCH_BIN LOCK_HOLDER_BIN   (root, hugepages)
set -euo pipefail
BIN=$(readlink -f "$1")
HOLDER=$(readlink -f "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
TEL="$HERE/lib/telemetry.py"
fail() { echo "FAIL: $*" >&2; [ -f "$WORK/switch.log" ] && cat "$WORK/switch.log" >&2; exit 1; }

TAG=vsx$$
WORK=$(mktemp -d /tmp/eniflow-e2e-exitlock.XXXXXX)
PID= HPID=
cleanup() {
	[ -n "$HPID" ] && kill -KILL "$HPID" 2>/dev/null || true
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null || true
	rm -rf "$WORK" "/var/run/dpdk/$TAG"
}
trap cleanup EXIT

cat > "$WORK/vs.json" <<JSON
{"ports": [
  {"name": "a", "devargs": "net_null_a${TAG}", "eni": {"id": "eni-exit1", "account": "1",
   "vpc": "vpc-1", "subnet": "subnet-1", "mac": "02:00:00:00:00:01", "security_groups": ["sg-all"]}},
  {"name": "up", "devargs": "net_null_up${TAG},no-rx=1", "uplink": true}],
 "security_groups": [{"id": "sg-all", "egress": [{"id": 1, "proto": "all", "cidr": "0.0.0.0/0"}]}],
 "lcores": [{"lcore": 1, "ports": ["a", "up"]}]}
JSON
"$BIN" --no-pci -m 256 --file-prefix "$TAG" --log-level='*:warning' \
	-- --config "$WORK/vs.json" --instance "$TAG" --enable-all --drain-wait-ms 0 \
	> "$WORK/switch.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	grep -q "running" "$WORK/switch.log" && break
	kill -0 "$PID" 2>/dev/null || fail "the switch died at start"
	sleep 0.1
done
grep -q "running" "$WORK/switch.log" || fail "the switch did not start"
# net_null rx produces packets: the plugin has flows to flush at exit.
sleep 0.5

"$HOLDER" "$TAG" > "$WORK/holder.log" 2>&1 &
HPID=$!
for _ in $(seq 100); do
	grep -q locked "$WORK/holder.log" && break
	kill -0 "$HPID" 2>/dev/null || { cat "$WORK/holder.log" >&2; fail "the lock holder died"; }
	sleep 0.1
done
grep -q locked "$WORK/holder.log" || fail "the lock holder never took the lock"
kill -KILL "$HPID"
wait "$HPID" 2>/dev/null || true
HPID=

t0=$(date +%s.%N)
kill -INT "$PID"
rc=0
for _ in $(seq 150); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$PID" 2>/dev/null && fail "the switch still runs 15 s after SIGINT"
wait "$PID" || rc=$?
PID=
t1=$(date +%s.%N)
[ "$rc" = 0 ] || fail "the switch exited $rc, want 0"
grep -q "stopped, flows flushed" "$WORK/switch.log" || fail "no 'flows flushed' line"
grep -q "EAL cleanup did not finish" "$WORK/switch.log" ||
	fail "the cleanup finished although the lock was held: the test did not hold it"
printf 'ok: the switch exited 0 in %.1f s with a dead secondary holding the memory lock\n' \
	"$(awk -v a="$t0" -v b="$t1" "BEGIN{print b-a}")"
