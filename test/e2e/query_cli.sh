#!/usr/bin/env bash
# Proves `eniflow query|top|detect` end to end on segments written by
# `eniflow gen`: answers equal an independent Python model of the raw records
# (query_model.py), the index skips blocks for a narrow time range, bad
# filters point at the column and exit 2, limits stop with exit 1, and the
# detections run with and without findings.
# usage: query_cli.sh PATH/TO/eniflow
set -euo pipefail

ENIFLOW=${1:?usage: query_cli.sh PATH/TO/eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/common.sh"
e2e_init query
e2e_need python3

expect_rc 0 "gen" "$ENIFLOW" gen --records 60000 --per-segment 20000 --block-records 1000 \
	--enis 6 --flows 800 --seed 11 --start 1700000000 --step-ns 100000000 --v6-percent 25 \
	--out "$T/segs"
mkdir -p "$T/segs/nested" && mv "$T/segs/gen-000002.fls" "$T/segs/nested/"

python3 "$HERE/query_model.py" "$ENIFLOW" "$T/segs" || fails=$((fails + 1))

# index skipping: a 1-minute window reads few of the 60 blocks
expect_rc 0 "narrow time range" "$ENIFLOW" query --stats --since 2023-11-14T22:40:00Z \
	--until 2023-11-14T22:41:00Z -g proto "$T/segs"
read -r rd tot < <(sed -n 's/.*blocks read \([0-9]*\) of \([0-9]*\).*/\1 \2/p' "$T/err")
if [ -n "${rd:-}" ] && [ "$tot" = 60 ] && [ "$rd" -lt 10 ]; then ok "index skipping: read $rd of $tot blocks"
else bad "index skipping: $(cat "$T/err")"; fi

# errors
expect_rc 2 "bad filter" "$ENIFLOW" query -f 'dport in {22, 8o}' "$T/segs"
grep -q "column 15" "$T/err" && grep -q '^ *\^$' "$T/err" && ok "filter error names column 15 with a caret" ||
	bad "filter error: $(cat "$T/err")"
expect_rc 2 "bad group-by" "$ENIFLOW" query -g src,nope "$T/segs"
expect_rc 2 "bad time" "$ENIFLOW" query --since yesterday "$T/segs"
expect_rc 2 "unknown detection" "$ENIFLOW" detect nosuch "$T/segs"
expect_rc 2 "unknown setting" "$ENIFLOW" detect scanners --set bogus=1 "$T/segs"
expect_rc 1 "record limit" "$ENIFLOW" query --max-records 5000 -g src "$T/segs"
grep -q "max records" "$T/err" && ok "limit message" || bad "limit message: $(cat "$T/err")"
expect_rc 1 "missing input" "$ENIFLOW" query "$T/nonexistent"
expect_rc 0 "query --help" "$ENIFLOW" query --help
grep -q "^examples:" "$T/out" && ok "help has examples" || bad "query --help lacks examples"
expect_rc 0 "detect --list" "$ENIFLOW" detect --list
[ "$(grep -c '^[a-z]*: ' "$T/out")" = 10 ] && ok "ten detections listed" || bad "detect --list: $(cat "$T/out")"

# detections: run on the generated data, and a planted threat
for d in hogs storm drops policy scanners flood uncommon baseline geo; do
	expect_rc 0 "detect $d" "$ENIFLOW" detect "$d" -F json "$T/segs"
done
"$ENIFLOW" query -n 1 -F csv -f 'ipver = 4 and kind = flow' "$T/segs" >"$T/one.csv"
dst=$(python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(r[0]["dstaddr"])' "$T/one.csv")
printf '# planted\n%s/32\n' "$dst" >"$T/list.netset"
expect_rc 0 "detect threats" "$ENIFLOW" detect threats --set "lists=$T/list.netset" -F json "$T/segs"
python3 - "$T/out" "$dst" <<'EOF' && ok "threats finds the planted address" || bad "threats: $(head -c 300 "$T/out")"
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
sys.exit(0 if rows and all(sys.argv[2] in (r["src"], r["dst"]) for r in rows) else 1)
EOF
printf '192.0.2.0/24\n' >"$T/empty.txt"
expect_rc 0 "detect threats, no hits" "$ENIFLOW" detect threats --set "lists=$T/empty.txt" -F csv "$T/segs"
[ "$(wc -l <"$T/out")" = 1 ] && ok "no threat rows" || bad "unexpected threat rows: $(cat "$T/out")"

e2e_finish query_cli
