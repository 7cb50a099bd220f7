#!/bin/bash
# Proves eniflowd drains the real plugin's rings into valid segments without
# silent loss across a kill -9: a DPDK primary (efd_loadgen, real plugin,
# synthetic UDP on 3 ENIs) runs while eniflowd is killed and restarted; at
# the end, per ENI, packets and bytes accounted by the dataplane == those in
# FLOW records + those reported lost, every segment passes seg_verify, the
# REJECT-only ENI has only REJECT records (all with a rule id), the ENI
# without a flow log has none, the switch's exit is survived by a re-exec,
# segments download (whole and by Range) and delete through the API, and
# a restarted switch gets the flow logs again.
# Mode diskfull instead fills a small tmpfs data dir mid-run: the daemon
# must report it (health, metrics, log), keep the blocks written before the
# failure in a sealed segment (the open one is not dropped), account only
# what it could not keep as REC_END_LOSS_WRITER records, recover once space
# returns, and leave no corrupt file; the same conservation check then holds.
# Mode fsyncfail makes the first segment's fsync at seal fail (LD_PRELOAD
# fault shim, test/fault): nothing of that segment can be kept (the library
# moves it aside), so all of it must come back as REC_END_LOSS_WRITER
# records and conservation must still be exact.
# usage: daemon_drain.sh ENIFLOWD LOADGEN SEGSUM [kill|diskfull|fsyncfail FAULT_LIB]
set -u
EFD=${1:?eniflowd}
LOADGEN=${2:?efd_loadgen}
SEGSUM=${3:?efd_segsum}
MODE=${4:-kill}
FAULT_LIB=${5:-}
source "$(dirname "$0")/lib/efd.sh"
PY=$EFD_PY
efd_test_env efd_drain POLL LPID EPID
# diskfull's tmpfs: TMP cannot be removed while it is mounted
efd_test_cleanup() { if mountpoint -q "$TMP/data"; then umount "$TMP/data"; fi; }

# diskfull: keep one segment open so the full disk hits a segment with content
ROTATE=2
[ "$MODE" = diskfull ] && ROTATE=60
PORT=$(efd_free_port)
TOKEN=draintest-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "dr", "file_prefix": "$PREFIX", "eal_lcore": 1, "block_records": 512,
 "rotate_age_s": $ROTATE, "flush_ms": 100}
EOF
BASE=http://127.0.0.1:$PORT
start_efd() { # [ENV=VALUE...]
	env "$@" "$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
	EPID=$!
	efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
}

if [ "$MODE" = diskfull ]; then
	mkdir "$TMP/data"
	mount -t tmpfs -o size=4m tmpfs "$TMP/data" || die "cannot mount a tmpfs"
fi
# kill mode: the first eniflowd dies on its own right after its 15th block
# write, before finishing the dequeues (the worst moment for duplicates)
if [ "$MODE" = fsyncfail ]; then
	# the fault shim watches the hour directory the first segment goes to;
	# do not start in the last seconds of an hour
	while [ "$(date -u +%M%S)" -ge 5950 ]; do sleep 1; done
	HOURDIR="$TMP/data/$(date -u +%Y/%m/%d/%H)"
	mkdir -p "$HOURDIR"
fi
if [ "$MODE" = kill ]; then
	start_efd EFD_TEST_EXIT_AFTER_WRITE=15
elif [ "$MODE" = fsyncfail ]; then
	start_efd LD_PRELOAD="$FAULT_LIB" FAULT_DIR="$HOURDIR" FAULT_OP=fsync FAULT_AT=1 FAULT_ERR=EIO
else
	start_efd
fi
"$LOADGEN" dr "$PREFIX" 8 100000 >"$TMP/dp.json" 2>"$TMP/lg.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not attach"
for body in '{"resource":"eni-a","traffic_type":"ALL","aggregation_interval_s":1}' \
	'{"resource":"eni-b","traffic_type":"REJECT","aggregation_interval_s":1}'; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOKEN" \
		"$BASE/v1/flow-logs" -d "$body")
	[ "$code" = 201 ] || die "create flow log $body: $code"
done
[ "$MODE" = kill ] || sleep 2.5
if [ "$MODE" = kill ]; then
	efd_wait 10 eval '! kill -0 $EPID 2>/dev/null' || die "crash hook did not fire"
	wait "$EPID"
	rc=$?
	EPID=
	[ $rc = 9 ] || die "first eniflowd did not exit through the crash hook"
	start_efd
	sleep 1.5
	grep -q event=journal_block_already_written "$TMP/log" ||
		die "restart did not drop the block the crashed daemon had written"
	kill -9 "$EPID"
	wait "$EPID" 2>/dev/null
	EPID=
	sleep 1
	start_efd
	# live tail of the REJECT-only ENI: NDJSON lines of eni-b, REJECT only
	efd_wait 15 efd_health_is "$BASE" up || die "third eniflowd did not attach"
	curl -s -m 2.5 "$BASE/v1/flows/stream?eni=eni-b" >"$TMP/tail.ndjson"
	"$PY" - "$TMP/tail.ndjson" <<'PYEOF' || die "live tail: $(head -c 300 "$TMP/tail.ndjson")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = recs and all(r["interface-id"] == "eni-b" and r["action"] == "REJECT" for r in recs)
print("live tail: %d records" % len(recs))
sys.exit(0 if ok else 1)
PYEOF
elif [ "$MODE" = diskfull ]; then
	# records in whole blocks before the disk fills: they must survive
	W0=$(curl -s "$BASE/metrics" | awk '$1 == "eniflowd_records_written" {print $2}')
	[ "${W0:-0}" -gt 0 ] || die "nothing written before the disk filled"
	dd if=/dev/zero of="$TMP/data/filler" bs=64k 2>/dev/null
	efd_wait 5 eval 'curl -s "$BASE/v1/health" | grep -q "\"writer\":\"error\""' ||
		die "health does not report the full disk"
	curl -s "$BASE/metrics" | grep -q '^eniflowd_writer_error 1$' || die "metrics: no writer_error 1"
	curl -s "$BASE/metrics" | grep -q '^eniflowd_write_errors [1-9]' || die "metrics: no write_errors"
	grep -q 'event=segment_write_failed\|event=segment_create_failed' "$TMP/log" || die "no log line"
	FAILED=$(sed -n 's/.*event=segment_write_failed segment=\([^ ]*\).*/\1/p' "$TMP/log" | head -1)
	[ -n "$FAILED" ] || die "the open segment did not fail: $(grep event=segment "$TMP/log")"
	sleep 1
	rm "$TMP/data/filler"
	efd_wait 5 eval 'curl -s "$BASE/v1/health" | grep -q "\"writer\":\"ok\""' ||
		die "writer did not recover after space returned"
fi
# a client polling through the switch's exit and the daemon's re-exec never
# finds the port closed (curl exit 7): the listening socket crosses the exec
( while [ ! -e "$TMP/poll.stop" ]; do
	curl -s -o /dev/null -m 2 "$BASE/v1/health"
	echo $?
	sleep 0.02
done >"$TMP/poll.codes" ) &
POLL=$!
wait "$LPID" || die "loadgen failed: $(cat "$TMP/lg.err")"
LPID=
# the switch is gone: eniflowd drains what is left, seals, re-execs
efd_wait 15 efd_health_is "$BASE" down || die "eniflowd did not notice the switch exit"
sleep 0.5
touch "$TMP/poll.stop"
wait "$POLL"
POLL=
grep -q 'event=reexec' "$TMP/log" || die "no re-exec logged"
[ "$(grep -c '^7$' "$TMP/poll.codes")" = 0 ] ||
	die "API port closed during the re-exec: $(sort "$TMP/poll.codes" | uniq -c | tr '\n' ' ')"
echo "health polls across the re-exec: $(sort "$TMP/poll.codes" | uniq -c | tr '\n' ' ')"

curl -sf "$BASE/v1/segments" -o "$TMP/list.json" || die "list segments"
mkdir "$TMP/dl"
for name in $("$PY" -c 'import json,sys; [print(s["name"]) for s in json.load(open(sys.argv[1]))["segments"]]' "$TMP/list.json"); do
	curl -sf "$BASE/v1/segments/$name" -o "$TMP/dl/$name" || die "download $name"
done
ls "$TMP"/dl/*.fls >/dev/null 2>&1 || die "no segments listed: $(cat "$TMP/list.json")"
if [ "$MODE" = diskfull ]; then
	# the segment open when the disk filled is sealed with what it held
	KEPT=$("$PY" -c 'import json,sys; print(sum(s["records"] for s in json.load(open(sys.argv[1]))["segments"] if s["name"] == sys.argv[2]))' "$TMP/list.json" "$FAILED")
	echo "failed segment $FAILED: $KEPT records kept, $W0 written before the disk filled"
	[ "$KEPT" -ge "$W0" ] || die "failed segment $FAILED kept $KEPT records < $W0 written before"
fi
ONDISK=$(find "$TMP/data" -name '*.fls' | wc -l)
[ "$(ls "$TMP"/dl | wc -l)" = "$ONDISK" ] || die "listed $(ls "$TMP"/dl | wc -l) segments, $ONDISK on disk"
"$SEGSUM" "$TMP"/dl/*.fls >"$TMP/seg.json" 2>"$TMP/segsum.err" || die "segsum: $(cat "$TMP/segsum.err")"

"$PY" - "$TMP/dp.json" "$TMP/seg.json" "$MODE" <<'EOF' || die "records do not match the dataplane's counters"
import json, sys
dp = json.load(open(sys.argv[1]))
sg = json.load(open(sys.argv[2]))
bad = []
if dp["ring_full_records"] or dp["unflushed"]:
    print("note: ring overflow", dp["ring_full_records"], "unflushed", dp["unflushed"])
for d in dp["enis"]:
    s = sg["enis"][d["eni"]]
    pk = s["accept_packets"] + s["reject_packets"]
    by = s["accept_bytes"] + s["reject_bytes"]
    lost_pk = s["loss_ring_packets"] + s["loss_writer_packets"] + s["loss_recovery_packets"] + s["loss_other_packets"]
    lost_by = s["loss_ring_bytes"] + s["loss_writer_bytes"] + s["loss_recovery_bytes"]
    print("eni %d: accounted %d pk %d B; recorded %d pk %d B; reported lost %d pk %d B; nodata %d"
          % (d["eni"], d["packets_accounted"], d["bytes_accounted"], pk, by, lost_pk, lost_by, s["nodata"]))
    if d["packets_accounted"] != pk + lost_pk or d["bytes_accounted"] != by + lost_by:
        bad.append("eni %d: accounted != recorded + lost" % d["eni"])
    if s["reject_without_rule"]:
        bad.append("eni %d: %d REJECT records without a rule id" % (d["eni"], s["reject_without_rule"]))
if sg["enis"][0]["accept_packets"] == 0 or sg["enis"][0]["reject_packets"] == 0:
    bad.append("eni-a (ALL) lacks ACCEPT or REJECT records")
if sg["enis"][1]["accept_records"] or not sg["enis"][1]["reject_records"]:
    bad.append("eni-b (REJECT only): %d ACCEPT records, %d REJECT" % (sg["enis"][1]["accept_records"], sg["enis"][1]["reject_records"]))
c = sg["enis"][2]
if c["accept_records"] or c["reject_records"] or c["nodata"] or dp["enis"][2]["packets_accounted"]:
    bad.append("eni-c (no flow log) has records or accounted packets")
if sg["enis"][0]["nodata"] or sg["enis"][1]["nodata"]:
    bad.append("NODATA records for ENIs that had traffic in every window")
if sys.argv[3] == "fsyncfail":
    lw = sum(s["loss_writer_packets"] for s in sg["enis"])
    print("writer loss packets after the failed fsync:", lw)
    if lw == 0:
        bad.append("fsync failed at seal: no REC_END_LOSS_WRITER packets reported")
if sys.argv[3] == "diskfull":
    lw = sum(s["loss_writer_packets"] for s in sg["enis"])
    print("writer loss packets:", lw, "(only what the failed segment could not keep)")
if sg["bad_files"]:
    bad.append("%d segments fail verify" % sg["bad_files"])
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF

if [ "$MODE" = fsyncfail ]; then
	ls "$HOURDIR"/.*.failed >/dev/null 2>&1 || die "no segment moved aside as .failed"
	grep -q 'event=writer_loss records=[1-9]' "$TMP/log" || die "no writer_loss logged"
	# the re-executed image carries the shim too: the rest is other modes' job
	echo "daemon_drain fsyncfail: all checks passed"
	exit 0
fi
# Range download and delete (the storage job's acknowledgement)
FIRST=$(ls "$TMP/dl" | head -1)
code=$(curl -s -o "$TMP/part" -w '%{http_code}' -H 'Range: bytes=10-109' "$BASE/v1/segments/$FIRST")
[ "$code" = 206 ] || die "range: status $code"
cmp -s "$TMP/part" <(tail -c +11 "$TMP/dl/$FIRST" | head -c 100) || die "range: wrong bytes"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=999999999-' "$BASE/v1/segments/$FIRST")
[ "$code" = 416 ] || die "unsatisfiable range: status $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -XDELETE -H "Authorization: Bearer $TOKEN" "$BASE/v1/segments/$FIRST")
[ "$code" = 200 ] || die "delete: status $code"
[ -z "$(find "$TMP/data" -name "$FIRST")" ] || die "deleted segment still on disk"
code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/segments/$FIRST")
[ "$code" = 404 ] || die "deleted segment still served: $code"
# the switch comes back: eniflowd re-attaches and re-applies the flow logs
BEFORE=$(curl -s "$BASE/v1/segments" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["segments"]))')
"$LOADGEN" dr "$PREFIX" 3 50000 >"$TMP/dp2.json" 2>"$TMP/lg2.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not re-attach to the restarted switch"
wait "$LPID" || die "second loadgen failed: $(cat "$TMP/lg2.err")"
LPID=
efd_wait 15 efd_health_is "$BASE" down || die "eniflowd did not notice the second switch exit"
curl -s "$BASE/v1/segments" -o "$TMP/list2.json"
"$PY" - "$TMP/list2.json" "$BEFORE" "$TMP/dp2.json" <<'PYEOF' || die "no records after the switch restart"
import json, sys
segs = json.load(open(sys.argv[1]))["segments"]
dp = json.load(open(sys.argv[3]))
new = len(segs) - int(sys.argv[2])
acc = dp["enis"][0]["packets_accounted"]
print("after the switch restart: %d new segments, eni-a accounted %d packets" % (new, acc))
sys.exit(0 if new > 0 and acc > 0 and any("eni-a" in s["enis"] for s in segs[-new:]) else 1)
PYEOF
echo "daemon_drain: all checks passed"
