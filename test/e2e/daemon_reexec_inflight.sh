#!/bin/bash
# Responses in flight when eniflowd re-execs are finished, not cut: a 12 MB
# segment download held open by a slow client (4 KiB receive buffer, about
# 400 KB/s: more than the 4 MB the kernel's send buffer can take stays with
# eniflowd) across the switch's exit, and a live tail open at the same time.
# Once eniflowd says it is waiting, plus a second, the client reads at full
# speed, so the test does not depend on the machine's speed.
# The download must arrive whole (Content-Length bytes, the file's sha256),
# the tail must end as a complete response (curl exit 0), the daemon must
# log that it waited for the download (so the case was really exercised),
# and the new image must answer afterwards. Before the fix,
# MHD_stop_daemon cut both (curl exit 18 or 56).
# usage: daemon_reexec_inflight.sh ENIFLOWD LOADGEN ENIFLOW
set -u
EFD=${1:?eniflowd}
LOADGEN=${2:?efd_loadgen}
CLI=${3:?eniflow}
source "$(dirname "$0")/lib/efd.sh"
PY=$EFD_PY
efd_test_env efd_inflight SLOW TAIL LPID EPID

PORT=$(efd_free_port)
echo "inflight-$$-0123456789abcdef" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "ri", "file_prefix": "$PREFIX", "eal_lcore": 1, "block_records": 512,
 "rotate_age_s": 2, "flush_ms": 100}
EOF
BASE=http://127.0.0.1:$PORT

# a big sealed segment, catalogued when eniflowd starts
HOURDIR="$TMP/data/$(date -u +%Y/%m/%d/%H)"
mkdir -p "$HOURDIR"
"$CLI" gen -n 400000 -o "$TMP/gen" -m 400000 --flows-only >/dev/null || die "eniflow gen failed"
SEG=big-0000000001.fls
mv "$TMP/gen/gen-000000.fls" "$HOURDIR/$SEG"
SIZE=$(stat -c %s "$HOURDIR/$SEG")
SHA=$(sha256sum "$HOURDIR/$SEG" | cut -d' ' -f1)

"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
EPID=$!
efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
"$LOADGEN" ri "$PREFIX" 60 20000 >"$TMP/dp.json" 2>"$TMP/lg.err" &
LPID=$!
efd_wait 15 efd_health_is "$BASE" up || die "eniflowd did not attach"

# the slow download: writes "started" once the first bytes are in
"$PY" - "$PORT" "$SEG" "$TMP/started" "$TMP/go" >"$TMP/slow.json" 2>"$TMP/slow.err" <<'PYEOF' &
import hashlib, json, os, socket, sys, time
port, name, started, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.sendall(("GET /v1/segments/%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % name).encode())
data, t0 = bytearray(), time.time()
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    if not data:
        open(started, "w").close()
    data += chunk
    if not os.path.exists(go):
        time.sleep(0.01)
head, _, body = bytes(data).partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
hdr = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
print(json.dumps({"status": lines[0], "content_length": int(hdr.get("content-length", -1)),
                  "body": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                  "secs": round(time.time() - t0, 2)}))
PYEOF
SLOW=$!
curl -s -N -o "$TMP/tail.out" "$BASE/v1/flows/stream" &
TAIL=$!
efd_wait 5 test -e "$TMP/started" || die "the download did not start: $(cat "$TMP/slow.err")"

# the switch exits: eniflowd drains, seals and re-execs with both in flight
kill -TERM "$LPID"
wait "$LPID" || die "loadgen failed: $(cat "$TMP/lg.err")"
LPID=
efd_wait 15 eval 'grep -q "event=reexec_draining" "$TMP/log"' ||
	die "eniflowd did not wait for the responses in flight"
sleep 1
touch "$TMP/go"
wait "$SLOW" || die "slow client: $(cat "$TMP/slow.err")"
SLOW=
wait "$TAIL"
TAIL_RC=$?
TAIL=
echo "download: $(cat "$TMP/slow.json"); live tail: curl exit $TAIL_RC, $(cat "$TMP/tail.out" 2>/dev/null | wc -l) lines"
efd_wait 15 eval 'grep -q "event=reexec " "$TMP/log"' || die "no re-exec logged"
grep 'event=reexec_wait' "$TMP/log" | head -1
"$PY" - "$TMP/slow.json" "$SIZE" "$SHA" <<'PYEOF' || die "the download was cut or changed"
import json, sys
r = json.load(open(sys.argv[1]))
size, sha = int(sys.argv[2]), sys.argv[3]
ok = r["status"].startswith("HTTP/1.1 200") and r["content_length"] == size and \
     r["body"] == size and r["sha256"] == sha
sys.exit(0 if ok else 1)
PYEOF
[ "$TAIL_RC" = 0 ] || die "the live tail did not end cleanly (curl exit $TAIL_RC)"
# the tail ends at once: a wait of a second or more is the download's
WAITED=$(sed -n 's/.*event=reexec_wait responses=[1-9][0-9]* unfinished=0 waited_ms=\([0-9]*\).*/\1/p' "$TMP/log" | head -1)
[ "${WAITED:-0}" -ge 1000 ] ||
	die "eniflowd did not wait for the download (not exercised, or it gave up): waited ${WAITED:-no} ms"
# the new image serves the same segment
efd_wait 15 curl -sf "$BASE/v1/health" -o /dev/null || die "no answer after the re-exec"
curl -sf "$BASE/v1/segments/$SEG" -o "$TMP/again.fls" || die "download after the re-exec"
[ "$(sha256sum <"$TMP/again.fls" | cut -d' ' -f1)" = "$SHA" ] || die "second download differs"
echo "PASS: a download and a live tail crossed eniflowd's re-exec whole"
