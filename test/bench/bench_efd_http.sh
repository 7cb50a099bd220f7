#!/bin/bash
# wrk against eniflowd on loopback, attached to a live primary (efd_loadgen,
# 3 ENIs, flow logs on): GET /v1/enis and /metrics, each with its req/s and
# p99, and the ratio to GET /v1/health (the cheapest route) measured in the
# same run. One JSON object per case. Needs root and hugepages.
# usage: bench_efd_http.sh BUILD_DIR [SECONDS]
set -u
B=${1:?build dir}
SECS=${2:-5}
TMP=$(mktemp -d /tmp/bench_efd_http.XXXXXX)
PREFIX=bench_efd_http_$$
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "bench-token-0123456789abcdef" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOT
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "bh", "file_prefix": "$PREFIX", "eal_lcore": 1, "max_per_ip": 64}
EOT
"$B/control/eniflowd/eniflowd" --config "$TMP/cfg.json" 2>"$TMP/log" &
EPID=$!
"$B/test/e2e/efd_loadgen" bh "$PREFIX" $((SECS * 3 + 10)) 50000 >/dev/null 2>&1 &
LPID=$!
for _ in $(seq 100); do curl -s "127.0.0.1:$PORT/v1/health" | grep -q '"switch":"up"' && break; sleep 0.1; done
curl -s -XPOST -H "Authorization: Bearer $(cat "$TMP/token")" "127.0.0.1:$PORT/v1/flow-logs" \
	-d '{"resource":"vpc-x","traffic_type":"ALL","aggregation_interval_s":1}' >/dev/null
run() { # run PATH -> "req/s p99_ms"
	wrk -t1 -c8 -d"${SECS}s" --latency "http://127.0.0.1:$PORT$1" | awk '
		/Requests\/sec/ { rps = $2 }
		/^ +99%/ { v = $2; if (v ~ /us$/) { sub("us", "", v); v /= 1000 } else if (v ~ /ms$/) { sub("ms", "", v) } else if (v ~ /s$/) { sub("s", "", v); v *= 1000 } p99 = v }
		END { print rps, p99 }'
}
read -r base_rps base_p99 <<<"$(run /v1/health)"
for path in /v1/enis /metrics; do
	read -r rps p99 <<<"$(run "$path")"
	printf '{"case": "GET %s", "req_per_s": %s, "p99_ms": %s, "baseline": "GET /v1/health", "baseline_req_per_s": %s, "baseline_p99_ms": %s, "ratio": %.3f}\n' \
		"$path" "$rps" "$p99" "$base_rps" "$base_p99" "$(echo "$rps / $base_rps" | bc -l)"
done
kill "$LPID" "$EPID"
wait "$LPID" "$EPID" 2>/dev/null
rm -f /dev/hugepages/"${PREFIX}"map_*
rm -rf "/var/run/dpdk/$PREFIX" "$TMP"
