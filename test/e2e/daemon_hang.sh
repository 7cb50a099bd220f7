#!/bin/bash
# Proves eniflowd survives a primary that dies half-way through its init: a
# process that holds the DPDK runtime config lock without ever finishing
# (the secondary's rte_eal_init would wait forever). The API keeps
# answering, the EAL watchdog re-execs the daemon, and it does so again when
# the re-executed daemon hangs too (the first re-exec runs inside the SIGALRM
# handler, and signal masks survive execve: SIGALRM must not stay blocked in
# the new image, else the second hang is never cut), SIGTERM ends it at
# once, and once the lock is gone the daemon waits quietly for a real switch.
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
time.sleep(8)
PYEOF
FPID=$!
sleep 0.3
"$EFD" --config "$TMP/cfg.json" 2>"$TMP/log" &
EPID=$!
# SIGALRM blocked in the main thread (SigBlk bit 14), twice 50 ms apart: the
# watchdog's handler blocks it for the few ms until its execve is done.
alrm_blocked() {
	local m
	for _ in 1 2; do
		m=$(awk '/^SigBlk:/ {print $2}' "/proc/$EPID/status" 2>/dev/null) || return 1
		[ -n "$m" ] && (( (16#$m >> 13) & 1 )) || return 1
		sleep 0.05
	done
	return 0
}
codes="" want=""
for _ in 1 2 3 4 5 6 7; do
	sleep 1
	codes+="$(curl -s -m 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v1/health") "
	want+="200 "
	if grep -q event=eal_init_timeout "$TMP/log" && alrm_blocked; then
		die "SIGALRM blocked in eniflowd after the watchdog's re-exec"
	fi
done
[ "$codes" = "$want" ] || die "API not served while EAL init hangs: $codes"
fired=$(grep -c event=eal_init_timeout "$TMP/log")
# 7 s of a hang with a 2 s watchdog: at least two re-execs, the second from
# the image the first one started
[ "$fired" -ge 2 ] || die "EAL watchdog fired $fired time(s) in 7 s, want >= 2"
echo "watchdog re-execs during the hang: $fired"
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
