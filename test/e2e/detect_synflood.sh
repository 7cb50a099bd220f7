#!/bin/bash
# Proves the flood and scanners detections on real traffic through the whole
# path: eniflow-vswitch replays the spoofed SYN-flood/ECN capture
# (testdata/pcaps/ddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng) from a net_pcap
# port (ENI eni-f100d) while three namespace VMs exchange a normal mix
# (ping, HTTP, rejected UDP) and VM1 port-scans VM3; every ENI is
# logged (flow logs ALL through the API, --enable-all until eniflowd
# attaches) and eniflowd writes the segments. Then, on those
# segments, `eniflow detect` and eniflowd's REST routes agree and:
#   flood flags exactly one target, the capture's 10.10.10.10:30120, with
#   as many half-open flows and distinct sources as tshark counts in the
#   capture (flows keyed by 5-tuple, TCP flags ORed: SYN and never ACK),
#   and a query names eni-f100d as the ENI that sent them;
#   scanners flags exactly one source, VM1, for 200 ports on VM3; neither
#   the spoofed sources (one packet each) nor the normal mix is flagged.
# usage: detect_synflood.sh ENIFLOWD VSWITCH ENIFLOW [TESTDATA_DIR]
set -u
EFD=$(readlink -f "${1:?eniflowd}")
VSW=$(readlink -f "${2:?eniflow-vswitch}")
CLI=$(readlink -f "${3:?eniflow}")
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${4:-${ENIFLOW_TESTDATA:-$HERE/../../../shared/testdata}}
PCAP=$(readlink -f "$DATA/pcaps/ddos/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng")
PY=$(command -v /usr/bin/python3 || command -v python3)
source "$HERE/lib/topology.sh"
TAG=syn$$
WORK=$(mktemp -d /tmp/efd_synflood.XXXXXX)
EPID=
cleanup() {
	topo_teardown
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	rm -f /dev/hugepages/"${TAG}"map_*
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 1" INT TERM
die() {
	echo "FAIL: $*"
	echo "--- eniflowd log"; cat "$WORK/efd.log"
	exit 1
}
[ "$(id -u)" = 0 ] || die "needs root (namespaces, taps, hugepages)"
[ -f "$PCAP" ] || die "no capture $PCAP"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "synflood-$$-0123456789abcdef" >"$WORK/token"
cat >"$WORK/efd.json" <<EOF
{"data_dir": "$WORK/data", "listen": "127.0.0.1:$PORT", "token_file": "$WORK/token",
 "instance": "$TAG", "file_prefix": "$TAG", "eal_lcore": 0, "no_fsync": true}
EOF
BASE=http://127.0.0.1:$PORT
health_is() { curl -s "$BASE/v1/health" | grep -q "\"switch\":\"$1\""; }
wait_for() { local n=$(($1 * 10)); shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done; return 1; }

"$EFD" --config "$WORK/efd.json" 2>"$WORK/efd.log" &
EPID=$!
wait_for 5 health_is down || die "eniflowd did not come up"
# Flow logs ALL for both VPCs, set before the switch starts: eniflowd
# publishes them the moment it attaches, and --enable-all logs the capture's
# packets (replayed at once at start) until then, so no packet goes unlogged.
for vpc in vpc-flood vpc-e2e; do
	code=$(curl -s -o "$WORK/resp" -w '%{http_code}' -XPOST -H "Authorization: Bearer $(cat "$WORK/token")" \
		"$BASE/v1/flow-logs" -d "{\"resource\":\"$vpc\",\"traffic_type\":\"ALL\"}")
	[ "$code" = 201 ] || die "create flow log for $vpc: $code $(cat "$WORK/resp")"
done
topo_init "$TAG" "$WORK/topo"
# the topology plus one ENI whose "VM" is the capture
"$PY" - "$TOPO_CONFIG" "$PCAP" "$TAG" <<'EOF'
import json, sys
path, pcap, tag = sys.argv[1:]
c = json.load(open(path))
c["ports"].insert(0, {"name": "flood", "devargs": "net_pcap_%sf,rx_pcap=%s" % (tag, pcap),
    "eni": {"id": "eni-f100d", "account": "111122223333", "vpc": "vpc-flood",
            "subnet": "subnet-f", "mac": "44:f4:77:0f:ea:49", "security_groups": ["sg-vm"]}})
c["lcores"][0]["ports"].append("flood")
json.dump(c, open(path, "w"), indent=1)
EOF
topo_start "$VSW" --enable-all || die "switch did not start"
topo_attach
wait_for 20 health_is up || die "eniflowd did not attach"

# the normal mix
topo_exec 1 ping -c 3 -i 0.2 -W 1 10.0.1.11 >/dev/null || die "ping vm1 -> vm2"
topo_exec 3 ping -c 3 -i 0.2 -W 1 10.0.1.11 >/dev/null || die "ping vm3 -> vm2"
mkdir -p "$WORK/www" && head -c 100000 /dev/urandom >"$WORK/www/blob"
topo_bg 3 "$PY" -m http.server 8080 --bind 10.0.2.10 --directory "$WORK/www"
wait_for 5 topo_exec 3 bash -c 'exec 3<>/dev/tcp/10.0.2.10/8080' 2>/dev/null
for _ in $(seq 10); do
	topo_exec 2 curl -sf --max-time 5 -o /dev/null http://10.0.2.10:8080/blob || die "HTTP vm2 -> vm3"
done
topo_exec 2 bash -c 'for p in 53 123 5353; do echo x >/dev/udp/10.0.1.10/$p; done'
# the scan: 200 SYNs from vm1 to closed (security-group rejected) ports of vm3
topo_exec 1 "$PY" - <<'EOF'
import socket, time
socks = []
for port in range(1000, 1200):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("10.0.2.10", port))
    except BlockingIOError:
        pass
    socks.append(s)
time.sleep(0.5)  # under the 1 s SYN retransmission timeout: one packet per port
for s in socks:
    s.close()
EOF

# stop the switch: it flushes every flow; eniflowd drains, seals, re-execs
topo_stop_switch || die "switch exit status"
wait_for 15 health_is down || die "eniflowd did not see the switch stop"
ls "$WORK"/data/*/*/*/*/*.fls >/dev/null 2>&1 || die "no segments written"

tshark -r "$PCAP" -T fields -E separator=' ' -e ip.src -e ip.dst -e tcp.srcport -e tcp.dstport \
	-e tcp.flags 2>/dev/null >"$WORK/capture.txt" || die "tshark"

"$PY" - "$PORT" "$CLI" "$WORK/data" "$WORK/capture.txt" <<'EOF' || die "detections"
import json, subprocess, sys, urllib.parse, urllib.request
port, cli, data, cap = sys.argv[1:]
bad = []
def rest(path, params):
    q = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    with urllib.request.urlopen("http://127.0.0.1:%s%s?%s" % (port, path, q), timeout=30) as r:
        j = json.loads(r.read())
    j.pop("stats")
    return j
def detect(name, sets):
    args = [cli, "detect", name, "--format", "json"]
    for s in sets:
        args += ["--set", s]
    want = json.loads(subprocess.run(args + [data], check=True, capture_output=True).stdout)
    got = rest("/v1/detections/" + name, [("set", s) for s in sets])
    if got != want:
        bad.append("%s: REST %s != CLI %s" % (name, str(got)[:300], str(want)[:300]))
    return want["rows"]

# the independent count: flows of the capture by 5-tuple, flags ORed
flows = {}
for line in open(cap):
    src, dst, sp, dp, fl = line.split()
    k = (src, dst, int(sp), int(dp))
    flows[k] = flows.get(k, 0) | int(fl, 16)
half = [k for k, f in flows.items() if f & 0x02 and not f & 0x10]
want_srcs = len({k[0] for k in half})
print("capture: %d flows, %d half-open, %d distinct sources" % (len(flows), len(half), want_srcs))

# window 1h: the replay takes well under a second, so it rarely straddles a
# window edge; should it, both windows are over min_flows and are summed
rows = detect("flood", ["window=1h"])
print("flood:", rows)
targets = {(r["dst"], r["dport"]) for r in rows}
if targets != {("10.10.10.10", 30120)}:
    bad.append("flood flagged %s, want only 10.10.10.10:30120" % sorted(targets))
n = sum(r["syn_flows"] for r in rows)
if n != len(half):
    bad.append("flood: %d half-open flows, tshark counts %d" % (n, len(half)))
if len(rows) == 1 and rows[0]["sources"] != want_srcs:
    bad.append("flood: %d sources, tshark counts %d" % (rows[0]["sources"], want_srcs))
# default 10 s window: flagged as well
if not any(r["dst"] == "10.10.10.10" for r in detect("flood", [])):
    bad.append("flood with default settings does not flag 10.10.10.10")

# which ENI sent the flood
t = rest("/v1/query", [("filter", "dst = 10.10.10.10 and dport = 30120 and tcpflags has syn "
                        "and not tcpflags has ack"), ("group_by", "eni,direction"), ("agg", "flows")])
print("senders:", t["rows"])
if [(r["eni"], r["direction"], r["flows"]) for r in t["rows"]] != [("eni-f100d", "egress", len(half))]:
    bad.append("flood senders %s, want eni-f100d egress %d flows" % (t["rows"], len(half)))

# every frame of the capture is in the flood ENI's records
t = rest("/v1/query", [("filter", "eni = eni-f100d"), ("group_by", "eni"), ("agg", "flows,packets")])
want = [{"eni": "eni-f100d", "flows": len(flows), "packets": sum(1 for _ in open(cap))}]
if t["rows"] != want:
    bad.append("flood ENI records %s, want %s (tshark)" % (t["rows"], want))

rows = detect("scanners", [])
print("scanners:", rows)
got = [(r["src"], r["kind"], r["target"], r["distinct"]) for r in rows]
if got != [("10.0.1.10", "ports", "10.0.2.10", 200)]:
    bad.append("scanners flagged %s, want only vm1 (10.0.1.10) for 200 ports on 10.0.2.10" % got)
# the normal mix alone (no flood ENI, no scan): nothing flagged by either
for name in ("flood", "scanners"):
    args = [cli, "detect", name, "--format", "json", "--filter",
            "not eni = eni-f100d and not (src = 10.0.1.10 and dst = 10.0.2.10)", data]
    r = json.loads(subprocess.run(args, check=True, capture_output=True).stdout)["rows"]
    if r:
        bad.append("normal traffic flagged by %s: %s" % (name, r))
t = rest("/v1/query", [("filter", "not eni = eni-f100d"), ("group_by", "eni"), ("agg", "flows,packets")])
print("normal mix:", t["rows"])
if len(t["rows"]) != 3 or min(r["packets"] for r in t["rows"]) < 5:
    bad.append("the normal mix is missing from the segments: %s" % t["rows"])
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
EOF
echo "detect_synflood: all checks passed"
