#!/bin/bash
# Proves a torn tail of the segment eniflowd left open is reported as loss,
# exactly: eniflowd drains the real plugin (efd_loadgen, VPC-wide ALL flow
# log, 64-record blocks) and is killed with -9, leaving .NAME.partial; its
# tail is cut off between the two runs (at 55 % of its size, inside some
# block), the way a crash of the machine or a bad disk tears it. The next
# eniflowd recovers it at start: the records in the blocks recovery did not
# keep (counted independently: `eniflow recover` + `eniflow cat` on a copy
# taken before the cut, minus `eniflow cat` of what the daemon kept) must
# equal /v1/stats' records_lost_recovery, the recovery_loss log line, and
# the lost_records of the REC_END_LOSS_RECOVERY records it wrote; per ENI
# their packets and bytes must equal what was cut (efd_segsum), and at the
# end, per ENI, the dataplane's accounted == recorded + reported lost. A
# third start reports nothing again.
# usage: daemon_torntail.sh ENIFLOWD LOADGEN SEGSUM ENIFLOW   (root: hugepages)
set -u
EFD=${1:?eniflowd}
LOADGEN=${2:?efd_loadgen}
SEGSUM=${3:?efd_segsum}
ENIFLOW=${4:?eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/efd.sh"
PY=$EFD_PY
efd_test_env efd_torn LPID EPID

PORT=$(efd_free_port)
TOKEN=torntest-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "tt", "file_prefix": "$PREFIX", "eal_lcore": 1, "block_records": 64,
 "rotate_age_s": 60, "flush_ms": 100}
EOF
BASE=http://127.0.0.1:$PORT
start_efd() {
	"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
	EPID=$!
	efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
}
flows() { "$ENIFLOW" cat "$@" | grep -c '"log-status":"OK"'; }
stat_of() { curl -sf "$BASE/v1/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['writer']['$1'])"; }

start_efd
"$LOADGEN" tt "$PREFIX" 9 20000 >"$TMP/dp.json" 2>"$TMP/lg.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not attach"
code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST -H "Authorization: Bearer $TOKEN" \
	"$BASE/v1/flow-logs" -d '{"resource":"vpc-x","traffic_type":"ALL","aggregation_interval_s":1}')
[ "$code" = 201 ] || die "create flow log: $code"
sleep 3.5
kill -9 "$EPID"
wait "$EPID" 2>/dev/null
EPID=

# the segment the killed daemon had open, as it wrote it
PARTIAL=$(find "$TMP/data" -name '.*.partial')
[ "$(echo "$PARTIAL" | wc -w)" = 1 ] || die "want one partial segment, found: $PARTIAL"
NAME=$(basename "$PARTIAL" .partial)
NAME=${NAME#.}
SEALED=$(dirname "$PARTIAL")/$NAME
[ -e "$(dirname "$PARTIAL")/.$NAME.ledger" ] || die "no ledger next to $PARTIAL"
mkdir "$TMP/copy"
cp "$PARTIAL" "$TMP/copy/"
"$ENIFLOW" recover "$TMP/copy" >/dev/null || die "eniflow recover of the copy"
"$ENIFLOW" verify "$TMP/copy/$NAME" >/dev/null || die "verify the copy"
ALL=$(flows "$TMP/copy/$NAME")
SIZE=$(stat -c %s "$PARTIAL")
truncate -s $((SIZE * 55 / 100)) "$PARTIAL"

start_efd
[ -e "$SEALED" ] || die "$NAME was not recovered"
"$ENIFLOW" verify "$SEALED" >/dev/null || die "verify the recovered $NAME"
KEPT=$(flows "$SEALED")
DROPPED=$((ALL - KEPT))
echo "$NAME: $ALL flow records written, $KEPT kept after the cut at $((SIZE * 55 / 100)) of $SIZE bytes, $DROPPED dropped"
[ "$KEPT" -gt 0 ] && [ "$DROPPED" -gt 0 ] || die "the cut must keep some blocks and drop some"
line=$(grep "event=recovery_loss " "$TMP/log") || die "no recovery_loss log line"
echo "$line"
echo "$line" | grep -q " records=$DROPPED " || die "log: want records=$DROPPED"
got=$(stat_of records_lost_recovery)
[ "$got" = "$DROPPED" ] || die "/v1/stats records_lost_recovery $got, want $DROPPED"
[ -e "$(dirname "$PARTIAL")/.$NAME.ledger" ] && die "ledger of $NAME not removed"
# the loss records, read back from the files
LOSSREC=$(find "$TMP/data" -name '*.fls' ! -name "$NAME" -exec "$ENIFLOW" cat {} + |
	"$PY" -c 'import json,sys; print(sum(r["lost-records"] for r in map(json.loads, sys.stdin) if r["end-reason"] == "recovery"))')
[ "$LOSSREC" = "$DROPPED" ] || die "REC_END_LOSS_RECOVERY lost_records $LOSSREC, want $DROPPED"

# the rest of the run: the daemon drains what is left, the switch exits
wait "$LPID" || die "loadgen failed: $(cat "$TMP/lg.err")"
LPID=
efd_wait 15 efd_health_is "$BASE" down || die "eniflowd did not notice the loadgen exit"
"$SEGSUM" "$TMP/copy/$NAME" >"$TMP/copy.json" || die "segsum copy"
"$SEGSUM" "$SEALED" >"$TMP/kept.json" || die "segsum kept"
"$SEGSUM" $(find "$TMP/data" -name '*.fls') >"$TMP/all.json" || die "segsum: a file fails verify"
"$PY" - "$TMP/copy.json" "$TMP/kept.json" "$TMP/all.json" "$TMP/dp.json" <<'EOF' ||
import json, sys
cp, kp, al = (json.load(open(f))["enis"] for f in sys.argv[1:4])
dp = json.load(open(sys.argv[4]))
bad = []
for i in range(len(cp)):
    cut_p = cp[i]["accept_packets"] + cp[i]["reject_packets"] - kp[i]["accept_packets"] - kp[i]["reject_packets"]
    cut_b = cp[i]["accept_bytes"] + cp[i]["reject_bytes"] - kp[i]["accept_bytes"] - kp[i]["reject_bytes"]
    rep = (al[i]["loss_recovery_packets"], al[i]["loss_recovery_bytes"])
    if cut_p or rep[0]:
        print("eni %d: cut %d pk %d B, reported as recovery loss %d pk %d B" % (i, cut_p, cut_b, *rep))
    if (cut_p, cut_b) != rep:
        bad.append("eni %d: recovery loss != what the cut removed" % i)
for d in dp["enis"]:
    s = al[d["eni"]]
    rec = (s["accept_packets"] + s["reject_packets"], s["accept_bytes"] + s["reject_bytes"])
    lost = (s["loss_ring_packets"] + s["loss_writer_packets"] + s["loss_recovery_packets"],
            s["loss_ring_bytes"] + s["loss_writer_bytes"] + s["loss_recovery_bytes"])
    print("eni %d: accounted %d pk %d B, recorded %d pk %d B, reported lost %d pk %d B"
          % (d["eni"], d["packets_accounted"], d["bytes_accounted"], *rec, *lost))
    if (d["packets_accounted"], d["bytes_accounted"]) != (rec[0] + lost[0], rec[1] + lost[1]):
        bad.append("eni %d: accounted != recorded + reported lost" % d["eni"])
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
	die "per-ENI loss or conservation"

# a third start finds nothing more to report
kill "$EPID"
wait "$EPID"
EPID=
: >"$TMP/log"
start_efd
grep -q "event=recovery_loss" "$TMP/log" && die "the loss was reported again"
[ "$(stat_of records_lost_recovery)" = 0 ] || die "records_lost_recovery after a clean restart"
echo "daemon_torntail: all checks passed"
