#!/bin/bash
# Proves eniflowd survives hostile HTTP clients (issue 8, "HTTP abuse"):
# slowloris, 10,000 connections, oversize bodies, JSON nested 10,000 deep,
# duplicate keys, duplicate Content-Length, invalid UTF-8 and NUL in the path,
# path traversal in the segment name, a Range past the end, the auth matrix.
# Each case ends in a 4xx or a connection the daemon closed, /v1/health keeps
# answering another client during every case, and VmRSS stays bounded
# (http_abuse.py does the cases; this script gives it a daemon and a segment).
# usage: http_abuse.sh ENIFLOWD ENIFLOW
set -u
PY=$(command -v /usr/bin/python3 || command -v python3)
EFD=$(readlink -f "${1:?eniflowd}")
ENIFLOW=$(readlink -f "${2:?eniflow CLI}")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/efd.sh"
TMP=$(mktemp -d /tmp/efd_abuse.XXXXXX)
EPID=
cleanup() {
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap "exit 1" INT TERM
die() { echo "FAIL: $*"; echo "--- eniflowd log"; tail -50 "$TMP/log"; exit 1; }

# 10,000 client sockets plus the daemon's own: both inherit this limit
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10100 ] || die "ulimit -n $(ulimit -n) is too low for 10,000 connections"
PER_IP=8 TMO=2 BODY_MAX=65536
PORT=$(efd_free_port)
TOKEN=abuse-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
cat >"$TMP/cfg.json" <<JSON
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "abuse", "file_prefix": "efd_abuse_$$", "max_connections": 128,
 "max_per_ip": $PER_IP, "conn_timeout_s": $TMO, "body_max": $BODY_MAX, "no_fsync": true}
JSON
# one sealed segment in the store for the download cases
"$ENIFLOW" gen --records 5000 --out "$TMP/gen" >/dev/null || die "eniflow gen"
SEGDIR=$TMP/data/$(date -u +%Y/%m/%d/%H)
mkdir -p "$SEGDIR"
SEG=abuse-0000000001.fls
mv "$(ls "$TMP"/gen/*.fls | head -1)" "$SEGDIR/$SEG"
SIZE=$(stat -c %s "$SEGDIR/$SEG")
BASE=http://127.0.0.1:$PORT
"$EFD" --config "$TMP/cfg.json" 2>"$TMP/log" &
EPID=$!
efd_wait 5 curl -sf "$BASE/v1/health" -o /dev/null || die "eniflowd did not come up"
curl -sf "$BASE/v1/segments" | grep -q "$SEG" || die "the generated segment is not in the catalog"
"$PY" "$HERE/http_abuse.py" "$PORT" "$TOKEN" "$EPID" "$SEG" "$SIZE" "$PER_IP" "$TMO" "$BODY_MAX" ||
	die "http_abuse.py"
kill -0 "$EPID" || die "eniflowd died"
echo "http_abuse: all checks passed"
