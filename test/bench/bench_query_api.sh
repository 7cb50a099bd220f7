#!/bin/bash
# GET /v1/query and /v1/detections/scanners on eniflowd (no switch) over N
# generated records in its data-dir layout, against `eniflow query|detect`
# on the same files in the same run (the baseline): records scanned per
# second end to end (curl or the process, best of 3), and the ratio. Shows
# what REST costs on top of the engine. One JSON object per case.
# usage: bench_query_api.sh BUILD_DIR [RECORDS]
set -u
B=${1:?build dir}
N=${2:-5000000}
TMP=$(mktemp -d /tmp/bench_qapi.XXXXXX)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'kill $EPID 2>/dev/null; wait $EPID 2>/dev/null; rm -rf "$TMP"' EXIT
"$B/control/cli/eniflow" gen --records "$N" --out "$TMP/gen" --start 1700000000 --flows-only >/dev/null
mkdir -p "$TMP/data/2023/11/14/22"
i=1
for f in "$TMP"/gen/*.fls; do mv "$f" "$TMP/data/2023/11/14/22/bq-$(printf %010d $i).fls"; i=$((i + 1)); done
echo "bench-token-0123456789abcdef" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOT
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "bq", "file_prefix": "bench_qapi_$$", "retain_age_s": 0, "query_timeout_ms": 600000}
EOT
"$B/control/eniflowd/eniflowd" --config "$TMP/cfg.json" 2>"$TMP/log" &
EPID=$!
for _ in $(seq 50); do curl -sf "127.0.0.1:$PORT/v1/health" >/dev/null && break; sleep 0.1; done
best() { # best CMD... -> seconds, best of 3
	local b=999999 t0 t1
	for _ in 1 2 3; do
		t0=$(date +%s.%N)
		"$@" >/dev/null 2>&1
		t1=$(date +%s.%N)
		b=$(echo "t = $t1 - $t0; if (t < $b) t else $b" | bc -l)
	done
	echo "$b"
}
FILTER='src in 10.0.0.0/8 and proto = tcp'
rest_q=$(best curl -sfG "127.0.0.1:$PORT/v1/query" --data-urlencode "filter=$FILTER" \
	--data-urlencode group_by=dst,dport --data-urlencode order=bytes --data-urlencode top=10)
cli_q=$(best "$B/control/cli/eniflow" query -f "$FILTER" -g dst,dport -o bytes -t 10 -F json "$TMP/data")
rest_d=$(best curl -sf "127.0.0.1:$PORT/v1/detections/scanners")
cli_d=$(best "$B/control/cli/eniflow" detect scanners -F json "$TMP/data")
for c in "query filter+group_by+top10|$rest_q|$cli_q" "detection scanners|$rest_d|$cli_d"; do
	IFS='|' read -r name r c2 <<<"$c"
	printf '{"case": "REST %s", "records": %d, "seconds": %s, "records_per_s": %.0f, "baseline": "eniflow CLI, same query", "baseline_seconds": %s, "baseline_records_per_s": %.0f, "ratio": %.3f}\n' \
		"$name" "$N" "$r" "$(echo "$N / $r" | bc -l)" "$c2" "$(echo "$N / $c2" | bc -l)" "$(echo "$c2 / $r" | bc -l)"
done
