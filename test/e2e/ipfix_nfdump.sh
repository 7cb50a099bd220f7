#!/usr/bin/env bash
# Proves `eniflow export ipfix` interoperates with nfdump's nfcapd over UDP:
# every flow record of a generated segment comes back from `nfdump -o json`
# with the same addresses, ports, protocol, flags, packets, bytes, times,
# direction and interfaces, totals exact (ipfix_compare.py vs `eniflow cat
# --format csv`); and that a collector that is down, or killed and restarted
# mid-run, never hangs the exporter: loss is counted, export recovers.
# (nfcapd 1.7 has no TCP listener; TCP is covered by ipfix_tshark.sh.)
# usage: ipfix_nfdump.sh PATH/TO/eniflow
set -euo pipefail

ENIFLOW=${1:?usage: ipfix_nfdump.sh PATH/TO/eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/common.sh"
e2e_init nfdump
export TZ=UTC # nfdump prints local time; the comparison reads UTC
e2e_need nfcapd nfdump python3 jq

free_udp_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nfcapd DIR PORT: run nfcapd in the background until it listens.
start_nfcapd() {
	mkdir -p "$1"
	nfcapd -w "$1" -p "$2" -b 127.0.0.1 -t 3600 -B 8000000 >"$1.log" 2>&1 &
	NFCAPD=$!
	PIDS+=("$NFCAPD")
	for _ in $(seq 50); do
		grep -q 'Startup nfcapd' "$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	bad "nfcapd did not start: $(cat "$1.log")"
	return 1
}
# stop_nfcapd: SIGTERM makes nfcapd write and close its file.
stop_nfcapd() {
	kill -TERM "$NFCAPD"
	wait "$NFCAPD" 2>/dev/null || true
}
# nf_json DIR: every flow nfcapd stored in DIR, as one JSON array.
nf_json() {
	local files=("$1"/nfcapd.2*)
	[ -e "${files[0]}" ] || { echo '[]'; return; }
	for f in "${files[@]}"; do nfdump -r "$f" -o json; done | jq -s 'add // []'
}

# --- a segment with IPv4, IPv6, ICMP, ARP, loss and no-data records
"$ENIFLOW" gen --records 20000 --per-segment 12000 --enis 6 --flows 3000 --seed 11 \
	--v6-percent 30 --start 1700000000 --out "$T/segs" >/dev/null
SEGS=("$T"/segs/*.fls)
"$ENIFLOW" cat --format csv "${SEGS[@]}" >"$T/ref.csv"

# --- 1. UDP export to nfcapd: every record decoded, totals exact
PORT=$(free_udp_port)
start_nfcapd "$T/nf1" "$PORT"
if "$ENIFLOW" export ipfix "${SEGS[@]}" --to "127.0.0.1:$PORT" --rate 4000 --domain 3 \
	>"$T/sum1.json" 2>"$T/err1"; then ok "export to nfcapd exits 0"; else
	bad "export to nfcapd failed: $(cat "$T/err1")"
fi
sleep 0.3
stop_nfcapd
grep -E 'Flows:' "$T/nf1.log" | sed 's/^/     nfcapd: /' || true
nf_json "$T/nf1" >"$T/nf1.json"
if python3 "$HERE/ipfix_compare.py" "$T/ref.csv" "$T/nf1.json" "$T/sum1.json"; then
	ok "nfdump decodes every record as in the segment"
else
	bad "nfdump output differs from the segment"
fi

# --- 2. no collector (UDP): refused messages counted, no hang, exit 1
PORT=$(free_udp_port)
rc=0
timeout 30 "$ENIFLOW" export ipfix "${SEGS[@]}" --to "127.0.0.1:$PORT" >"$T/sum2.json" 2>"$T/err2" || rc=$?
dropped=$(jq '.dropped_send' "$T/sum2.json" 2>/dev/null || echo -1)
acct=$(jq '.offered == .sent + .nodata_skipped + .dropped_queue + .dropped_send + .unsent' "$T/sum2.json" 2>/dev/null || echo false)
if [ "$rc" = 1 ] && [ "$dropped" -gt 0 ] && [ "$acct" = true ]; then
	ok "no collector: exit 1, $dropped records counted as lost, every record accounted"
else
	bad "no collector: exit $rc, dropped_send $dropped, accounted $acct: $(cat "$T/sum2.json" "$T/err2")"
fi

# --- 3. nfcapd killed mid-run and restarted: exporter goes on, counts, recovers
PORT=$(free_udp_port)
start_nfcapd "$T/nf3a" "$PORT"
"$ENIFLOW" export ipfix "${SEGS[@]}" --to "127.0.0.1:$PORT" --rate 1000 >"$T/sum3.json" 2>"$T/err3" &
EXP=$!
PIDS+=("$EXP")
sleep 0.4
kill -KILL "$NFCAPD"; wait "$NFCAPD" 2>/dev/null || true
sleep 0.4
start_nfcapd "$T/nf3b" "$PORT"
rc=0
wait "$EXP" || rc=$?
sleep 0.3
stop_nfcapd
nf_json "$T/nf3b" >"$T/nf3b.json"
after=$(jq 'length' "$T/nf3b.json")
read -r sent dropped acct < <(jq -r '"\(.sent) \(.dropped_send) \(.offered == .sent + .nodata_skipped + .dropped_queue + .dropped_send + .unsent)"' "$T/sum3.json")
flows=$(grep -c ',OK,' "$T/ref.csv" || true)
if [ "$rc" = 1 ] && [ "$dropped" -gt 0 ] && [ "$acct" = true ] && [ "$after" -gt 0 ] && [ "$after" -le "$flows" ]; then
	ok "collector restarted: $dropped records counted lost while down, $after flows decoded after the restart"
else
	bad "collector restart: exit $rc sent $sent dropped $dropped accounted $acct flows after restart $after: $(cat "$T/err3")"
fi

e2e_finish ipfix_nfdump
