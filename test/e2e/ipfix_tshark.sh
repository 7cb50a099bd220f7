#!/usr/bin/env bash
# Proves the IPFIX export is well-formed to an independent decoder: the
# export to a collector on loopback is captured and decoded by tshark's
# cflow dissector, over UDP and over TCP: no malformed packet and no expert
# info, all five templates, every flow record decoded (count and packet/byte
# totals equal the segment's), the enterprise elements present with the
# segment's ENI ids. Over TCP also: a collector that is not there at first is
# reached after back-off with nothing lost, and a collector killed mid-run and
# restarted gets templates (and the loss report) first on the new connection.
# usage: ipfix_tshark.sh PATH/TO/eniflow
set -euo pipefail

ENIFLOW=${1:?usage: ipfix_tshark.sh PATH/TO/eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/common.sh"
e2e_init tshark
e2e_need tshark python3 jq

free_port() { # udp|tcp
	python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1]=='tcp' else socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" "$1"
}
# collector MODE PORT LOG [DELAY_MS]: start the reference collector, wait until it listens.
collector() {
	python3 "$HERE/ipfix_collector.py" "$@" &
	COLL=$!
	PIDS+=("$COLL")
	for _ in $(seq 50); do
		if [ "$1" = tcp ]; then ss -ltn "sport = :$2" | grep -q LISTEN && return 0
		else ss -lun "sport = :$2" | grep -q UNCONN && return 0; fi
		sleep 0.1
	done
	bad "collector on $1 port $2 did not start"
}
# capture MODE PORT FILE: tshark on loopback until stop_capture.
capture() {
	tshark -i lo -B 64 -f "$1 port $2" -w "$3" -q 2>"$3.err" &
	CAP=$!
	PIDS+=("$CAP")
	for _ in $(seq 100); do
		# the filter attaches a moment after the banner: a late start would cut
		# the TCP stream mid-message and nothing after it could be decoded
		grep -q "Capturing on" "$3.err" 2>/dev/null && { sleep 1; return 0; }
		sleep 0.1
	done
	bad "tshark did not start: $(cat "$3.err")"
}
stop_capture() { sleep 0.3; kill -INT "$CAP"; wait "$CAP" 2>/dev/null || true; }

# check_capture MODE PORT FILE: decode and compare with the reference CSV.
check_capture() {
	local mode=$1 port=$2 cap=$3 dec=(-r "$3" -d "$1.port==$2,cflow")
	local malformed expert
	# TCP's own chats/notes (SYN, FIN) are fine; anything from the IPFIX
	# dissector, and any warning or error, is not.
	malformed=$(tshark "${dec[@]}" -Y '_ws.malformed || (cflow && _ws.expert.severity >= 0x600000 && !tcp.analysis)' 2>/dev/null | wc -l)
	expert=$(tshark "${dec[@]}" -q -z expert 2>/dev/null | grep -E '^ +[0-9]+ ' | grep -vcE ' TCP  ' || true)
	if [ "$malformed" = 0 ] && [ "$expert" = 0 ]; then ok "$mode: tshark: no malformed packet, no IPFIX expert info, no warning"
	else bad "$mode: tshark: $malformed packets with malformed/expert info; $(tshark "${dec[@]}" -q -z expert 2>/dev/null | head -20)"; fi
	# one line per frame: template ids, flow packets, octets, enterprise entries
	tshark "${dec[@]}" -T fields -E occurrence=a -E aggregator=';' -E separator='|' \
		-e cflow.template_id -e cflow.packets -e cflow.octets -e cflow.enterprise_private_entry \
		-e cflow.notsent_flows -e cflow.abstimestart -e cflow.abstimeend 2>/dev/null >"$cap.fields"
	python3 - "$T/ref.csv" "$cap.fields" "$mode" "${4:-}" <<'EOF' || fails=$((fails + 1))
import calendar, csv, sys, time
from collections import Counter

def ns_of(s):  # "Nov 14, 2023 22:13:20.000013284 UTC"
    base, frac = s.replace(" UTC", "").rsplit(".", 1)
    sec = calendar.timegm(time.strptime(base, "%b %d, %Y %H:%M:%S"))
    return sec * 10**9 + int(frac.ljust(9, "0"))

ref = list(csv.DictReader(open(sys.argv[1])))
flows = [r for r in ref if r["log-status"] == "OK"]
tids, pk, ob, ent, starts, ends = set(), [], [], [], Counter(), Counter()
for line in open(sys.argv[2]):
    t, p, o, e, _ns, ts, te = (line.rstrip("\n").split("|") + [""] * 7)[:7]
    starts.update(ns_of(x) for x in ts.split(";") if x)
    ends.update(ns_of(x) for x in te.split(";") if x)
    tids |= {int(x) for x in t.split(";") if x}
    pk += [int(x) for x in p.split(";") if x]
    ob += [int(x) for x in o.split(";") if x]
    ent += [x for x in e.split(";") if x]
strings = set()
for h in ent:
    try:
        s = bytes.fromhex(h.replace(":", "")).decode("ascii")
    except ValueError:
        continue
    if s.startswith(("eni-", "vpc-", "subnet-")):
        strings.add(s)
want_enis = {r["interface-id"] for r in ref if r["log-status"] in ("OK", "SKIPDATA")}
want_vpcs = {r["vpc-id"] for r in ref if r["log-status"] in ("OK", "SKIPDATA")}
fails = []
if not {256, 257, 258, 259, 260} <= tids:
    fails.append(f"templates seen {sorted(tids)}")
if len(pk) != len(flows) or sum(pk) != sum(int(r["packets"]) for r in flows) \
        or sum(ob) != sum(int(r["bytes"]) for r in flows):
    fails.append(f"decoded {len(pk)} flows / {sum(pk)} packets / {sum(ob)} bytes; segment "
                 f"{len(flows)} / {sum(int(r['packets']) for r in flows)} / {sum(int(r['bytes']) for r in flows)}")
if not (want_enis | want_vpcs) <= strings:
    fails.append(f"enterprise strings missing: {sorted((want_enis | want_vpcs) - strings)[:5]}")
# Times: every flow and loss record carries ms (152/153); with --nanoseconds
# flows also carry ns (156/157), which must give back the exact ns.
timed = [r for r in ref if r["log-status"] in ("OK", "SKIPDATA")]
for col, got in (("start-ns", starts), ("end-ns", ends)):
    want = Counter(int(r[col]) // 10**6 * 10**6 for r in timed)
    if sys.argv[4] == "ns":
        want.update(int(r[col]) for r in flows)
    if want != got:
        fails.append(f"{col}: {sum((want - got).values())} times missing, e.g. "
                     f"{list((want - got).elements())[:3]}, unexpected {list((got - want).elements())[:3]}")
for f in fails:
    print(f"FAIL {sys.argv[3]}: {f}", file=sys.stderr)
if not fails:
    print(f"ok   {sys.argv[3]}: templates {sorted(tids)}, {len(pk)} flows, {sum(pk)} packets, "
          f"{sum(ob)} bytes, start/end times{' to the ns' if sys.argv[4] == 'ns' else ' (ms)'}, "
          f"{len(want_enis)} ENI ids in enterprise fields, as in the segment")
sys.exit(1 if fails else 0)
EOF
}
# log_sum LOG FIELD: sum of FIELD=N over the collector's lines.
log_sum() { grep -o "$2=[0-9]*" "$1" | cut -d= -f2 | awk '{s+=$1} END {print s+0}'; }

"$ENIFLOW" gen --records 6000 --per-segment 6000 --enis 5 --flows 800 --seed 5 \
	--v6-percent 30 --start 1700000000 --out "$T/segs" >/dev/null
SEG=("$T"/segs/*.fls)
"$ENIFLOW" cat --format csv "${SEG[@]}" >"$T/ref.csv"

# --- UDP
P=$(free_port udp)
collector udp "$P" "$T/udp.log"
capture udp "$P" "$T/udp.pcap"
"$ENIFLOW" export ipfix "${SEG[@]}" --to "127.0.0.1:$P" --rate 5000 >"$T/udp.json" 2>&1 || bad "udp export: $(cat "$T/udp.json")"
stop_capture
check_capture udp "$P" "$T/udp.pcap"

# --- TCP, with nanosecond times
P=$(free_port tcp)
collector tcp "$P" "$T/tcp.log"
capture tcp "$P" "$T/tcp.pcap"
"$ENIFLOW" export ipfix "${SEG[@]}" --to "127.0.0.1:$P" --tcp --nanoseconds >"$T/tcp.json" 2>&1 || bad "tcp export: $(cat "$T/tcp.json")"
stop_capture
check_capture tcp "$P" "$T/tcp.pcap" ns
sent=$(jq .sent "$T/tcp.json"); got=$(log_sum "$T/tcp.log" records)
if [ "$got" = "$sent" ] && ! grep -qE 'gap=1|templates_known=0|bad=' "$T/tcp.log"; then
	ok "tcp: collector got all $sent records, templates first, no sequence gap"
else bad "tcp: collector got $got of $sent records: $(grep -E 'gap=1|templates_known=0|bad=' "$T/tcp.log" | head -3)"; fi

# --- TCP collector not there yet: back-off, then everything delivered
P=$(free_port tcp)
"$ENIFLOW" export ipfix "${SEG[@]}" --to "127.0.0.1:$P" --tcp >"$T/late.json" 2>"$T/late.err" &
EXP=$!; PIDS+=("$EXP")
sleep 1
collector tcp "$P" "$T/late.log"
rc=0; wait "$EXP" || rc=$?
read -r failures connects dropped < <(jq -r '"\(.connect_failures) \(.connects) \(.dropped_queue + .dropped_send)"' "$T/late.json")
got=$(log_sum "$T/late.log" records)
if [ "$rc" = 0 ] && [ "$failures" -gt 0 ] && [ "$connects" = 1 ] && [ "$dropped" = 0 ] && [ "$got" = "$(jq .sent "$T/late.json")" ]; then
	ok "tcp: collector late: $failures refused connects, then all $got records delivered"
else bad "tcp collector late: exit $rc failures $failures connects $connects dropped $dropped got $got: $(cat "$T/late.err")"; fi
kill "$COLL"; wait "$COLL" 2>/dev/null || true

# --- TCP, no collector ever: gives up after --timeout, every record counted
P=$(free_port tcp)
t0=$(date +%s)
rc=0; "$ENIFLOW" export ipfix "${SEG[@]}" --to "127.0.0.1:$P" --tcp --timeout 2 >"$T/none.json" 2>"$T/none.err" || rc=$?
el=$(( $(date +%s) - t0 ))
read -r failures sent acct < <(jq -r '"\(.connect_failures) \(.sent) \(.offered == .sent + .nodata_skipped + .dropped_queue + .dropped_send + .unsent)"' "$T/none.json")
if [ "$rc" = 1 ] && [ "$failures" -gt 0 ] && [ "$sent" = 0 ] && [ "$acct" = true ] && [ "$el" -le 8 ]; then
	ok "tcp: no collector: exit 1 after ${el}s, $failures refused connects, every record counted undelivered"
else bad "tcp no collector: exit $rc after ${el}s failures $failures sent $sent accounted $acct"; fi

# --- TCP collector killed mid-run and restarted
"$ENIFLOW" gen --records 60000 --per-segment 60000 --enis 5 --flows 800 --seed 6 \
	--start 1700000000 --out "$T/big" >/dev/null
P=$(free_port tcp)
collector tcp "$P" "$T/kill_a.log" 0.3
"$ENIFLOW" export ipfix "$T"/big/*.fls --to "127.0.0.1:$P" --tcp --mtu 1400 >"$T/kill.json" 2>"$T/kill.err" &
EXP=$!; PIDS+=("$EXP")
sleep 0.8
kill -KILL "$COLL"; wait "$COLL" 2>/dev/null || true
sleep 0.5
collector tcp "$P" "$T/kill_b.log"
rc=0; wait "$EXP" || rc=$?
read -r connects sent lost acct < <(jq -r '"\(.connects) \(.sent) \(.dropped_queue + .dropped_send) \(.offered == .sent + .nodata_skipped + .dropped_queue + .dropped_send + .unsent)"' "$T/kill.json")
a=$(log_sum "$T/kill_a.log" records); b=$(log_sum "$T/kill_b.log" records)
first_b=$(head -1 "$T/kill_b.log")
want_sets="sets=2,3"; [ "$lost" -gt 0 ] && want_sets="sets=2,3,260"
if [ "$connects" -ge 2 ] && [ "$acct" = true ] && [ "$b" -gt 0 ] && [ "$a" -gt 0 ] &&
	[[ "$first_b" == *"$want_sets "* ]] && ! grep -qE 'templates_known=0|bad=' "$T/kill_b.log"; then
	ok "tcp: collector killed after $a records, restarted: $b more, $lost counted lost, templates first ($first_b)"
	echo "     (not counted: $((sent + 1 - a - b)) records the killed collector's kernel had acknowledged but not handed over; see docs/ipfix.md)"
else bad "tcp kill/restart: exit $rc connects $connects sent $sent lost $lost accounted $acct a=$a b=$b first: $first_b; $(cat "$T/kill.err")"; fi

e2e_finish ipfix_tshark
