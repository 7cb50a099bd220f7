#!/bin/bash
# Proves eniflowd survives a primary that dies half-way through its init: a
# process that holds the DPDK runtime config lock without ever finishing
# (the secondary's rte_eal_init would wait forever). The API keeps
# answering, the EAL watchdog re-execs the daemon, SIGTERM ends it at once,
# and once the lock is gone the daemon waits quietly for a real switch.
# No DPDK program is started here but eniflowd, whose EAL args always carry
# --no-pci (efd_attach.c): the host NIC is never probed.
# usage: daemon_hang.sh ENIFLOWD   (root: /var/run/dpdk)
set -u
EFD=${1:?eniflowd}
PY=$(command -v /usr/bin/python3 || command -v python3)
TMP=$(mktemp -d /tmp/efd_hang.XXXXXX)
PREFIX=efd_hang_$$
EPID= FPID=
cleanup() {
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$TMP"
}
trap cleanup EXIT
die() { echo "FAIL: $*"; cat "$TMP/log"; exit 1; }
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "hangtest-$$-0123456789abcdef" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOT
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "hg", "file_prefix": "$PREFIX", "eal_lcore": 1, "eal_init_timeout_s": 2}
EOT
# the "primary": a locked, never-initialised runtime config
"$PY" - "/var/run/dpdk/$PREFIX" <<'PYEOF' &
import fcntl, os, sys, time
os.makedirs(sys.argv[1], exist_ok=True)
f = open(sys.argv[1] + "/config", "wb+")
f.write(b"\0" * (1 << 20)); f.flush()
fcntl.lockf(f, fcntl.LOCK_EX)
time.sleep(5)
PYEOF
FPID=$!
sleep 0.3
"$EFD" --config "$TMP/cfg.json" 2>"$TMP/log" &
EPID=$!
codes=""
for _ in 1 2 3 4; do
	sleep 1
	codes+="$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/health") "
done
[ "$codes" = "200 200 200 200 " ] || die "API not served while EAL init hangs: $codes"
grep -q event=eal_init_timeout "$TMP/log" || die "no EAL watchdog fired"
kill -0 "$EPID" || die "eniflowd died"
wait "$FPID"
FPID=
sleep 2.5
curl -s "http://127.0.0.1:$PORT/v1/health" | grep -q '"switch":"down"' || die "health after the hang"
kill "$EPID"
wait "$EPID"
rc=$?
EPID=
[ "$rc" = 0 ] || die "exit status $rc after SIGTERM"
echo "daemon_hang: all checks passed"
