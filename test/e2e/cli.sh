#!/usr/bin/env bash
# Proves the eniflow CLI end to end: gen writes sealed segments that verify,
# `lz4 -dc` equals `cat --format raw`, every JSON/CSV/AWS line matches an
# independent decoding of the raw records (cli_model.py), corruption and
# missing files fail loudly naming the file, and bad arguments exit 2.
# usage: cli.sh PATH/TO/eniflow
set -euo pipefail

ENIFLOW=${1:?usage: cli.sh PATH/TO/eniflow}
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib/common.sh"
e2e_init cli
e2e_need lz4 jq python3 sha256sum

# --- gen: 20000 records, 8000 per segment -> 8000 + 8000 + 4000
N=20000
expect_rc 0 "gen writes segments" "$ENIFLOW" gen --records $N --per-segment 8000 \
	--block-records 1000 --enis 5 --flows 500 --seed 7 --start 1700000000 --out "$T/segs"
cp "$T/out" "$T/gen.out"
cat "$T/gen.out"
segs=("$T"/segs/gen-00000{0,1,2}.fls)
for s in "${segs[@]}"; do [ -f "$s" ] || bad "gen did not write $s"; done
[ "$(ls -A "$T/segs" | wc -l)" = 3 ] || bad "gen left other files: $(ls -A "$T/segs")"
grep -q "^wrote $T/segs/gen-000002.fls records=4000 bytes=" "$T/gen.out" || bad "gen output lacks the third segment"
grep -q "^total segments=3 records=$N " "$T/gen.out" || bad "gen total line: $(tail -1 "$T/gen.out")"

# --- verify: all OK, record counts add up, block counts follow --block-records
expect_rc 0 "verify of fresh segments" "$ENIFLOW" verify "${segs[@]}"
[ "$(grep -c '^OK ' "$T/out")" = 3 ] || bad "verify lines: $(cat "$T/out")"
grep -qx "OK ${segs[0]} records=8000 blocks=8" "$T/out" || bad "verify line 1: $(head -1 "$T/out")"
grep -qx "OK ${segs[2]} records=4000 blocks=4" "$T/out" || bad "verify line 3: $(tail -1 "$T/out")"

# --- raw: lz4 -dc (LZ4's own decoder) gives exactly what cat --format raw gives
# (one file per lz4 call: with two names, lz4 takes the second as its output)
lz4dc() { local f; for f; do lz4 -dc "$f" || return 1; done; }
lz4dc "${segs[@]}" >"$T/lz4.raw" 2>"$T/lz4.err" || bad "lz4 -dc failed: $(cat "$T/lz4.err")"
expect_rc 0 "cat --format raw" "$ENIFLOW" cat --format raw "${segs[@]}"
mv "$T/out" "$T/cat.raw"
size=$(stat -c %s "$T/lz4.raw")
[ "$size" = $((96 * N)) ] && ok "lz4 -dc gives 96 x $N bytes" || bad "lz4 -dc gave $size bytes, want $((96 * N))"
cmp -s "$T/lz4.raw" "$T/cat.raw" && ok "lz4 -dc == cat --format raw ($(sha256sum <"$T/lz4.raw" | cut -c1-16))" ||
	bad "lz4 -dc and cat --format raw differ: $(cmp "$T/lz4.raw" "$T/cat.raw" 2>&1 | head -1)"

# --- same seed and start give the same records
expect_rc 0 "gen again, same seed" "$ENIFLOW" gen --records $N --per-segment 8000 \
	--block-records 1000 --enis 5 --flows 500 --seed 7 --start 1700000000 --out "$T/again"
lz4dc "$T"/again/*.fls | cmp -s - "$T/lz4.raw" && ok "gen is deterministic" || bad "same seed, different records"

# --- text formats: jq accepts every JSON line; the model checks every value
expect_rc 0 "cat --format json" "$ENIFLOW" cat "${segs[@]}"
mv "$T/out" "$T/cat.json"
# one jq pass: it fails on any line that is not JSON, and lists log-status
jq -r '."log-status"' "$T/cat.json" >"$T/status" && ok "jq parses every JSON line" || bad "jq rejects the JSON output"
lines=$(wc -l <"$T/status")
[ "$lines" = $N ] && ok "json has $N records" || bad "json has $lines records, want $N"
expect_rc 0 "cat --format csv" "$ENIFLOW" cat --format csv "${segs[@]}"
mv "$T/out" "$T/cat.csv"
expect_rc 0 "cat -f aws" "$ENIFLOW" cat -f aws "${segs[@]}"
mv "$T/out" "$T/cat.aws"
head -1 "$T/cat.aws" | grep -qx 'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status' &&
	ok "aws header" || bad "aws header: $(head -1 "$T/cat.aws")"
awk 'NF != 14 { print "line " NR ": " NF " fields"; exit 1 }' "$T/cat.aws" && ok "aws: 14 fields on every line" ||
	bad "aws field count: $(awk 'NF != 14 { print NR ": " $0; exit }' "$T/cat.aws")"
head -1 "$T/cat.csv" | grep -q '^version,account-id,interface-id,srcaddr,' && ok "csv header" ||
	bad "csv header: $(head -1 "$T/cat.csv")"
python3 "$HERE/cli_model.py" "$T/lz4.raw" "$T/cat.json" "$T/cat.csv" "$T/cat.aws" --enis 5 &&
	ok "every text line matches the reference model" || bad "text output differs from the model"
for status in OK NODATA SKIPDATA; do
	grep -qx $status "$T/status" && ok "generated records include $status" || bad "no $status record generated"
done

# --- gen options reach the generator: --flows-only and --v6-percent 0 / 100
for v6 in 0 100; do
	want=$([ $v6 = 0 ] && echo IPv4 || echo IPv6)
	"$ENIFLOW" gen --records 3000 --flows-only --v6-percent $v6 --out "$T/v6-$v6" >/dev/null &&
		"$ENIFLOW" cat "$T/v6-$v6"/*.fls | jq -r '."log-status" + " " + (.type // "non-IP")' | sort | uniq -c >"$T/mix" ||
		bad "gen/cat --v6-percent $v6 failed"
	[ "$(awk '{ print $1, $2, $3 }' "$T/mix")" = "3000 OK $want" ] && ok "--flows-only --v6-percent $v6: 3000 OK $want" ||
		bad "--flows-only --v6-percent $v6 gave: $(cat "$T/mix")"
done

# --- a flipped byte in a block: verify fails naming the file, cat keeps the other blocks
cp "${segs[0]}" "$T/bad.fls"
size=$(stat -c %s "$T/bad.fls")
python3 - "$T/bad.fls" $((size / 2)) <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
EOF
expect_rc 1 "verify of a corrupted copy among good files" "$ENIFLOW" verify "${segs[1]}" "$T/bad.fls" "${segs[2]}"
grep -q "^FAIL $T/bad.fls: " "$T/out" && ok "FAIL line names the file: $(grep FAIL "$T/out")" ||
	bad "no FAIL line for bad.fls: $(cat "$T/out")"
[ "$(grep -c '^OK ' "$T/out")" = 2 ] || bad "good files not reported OK beside the bad one: $(cat "$T/out")"
expect_rc 1 "cat of the corrupted copy" "$ENIFLOW" cat --format raw "$T/bad.fls" "${segs[2]}"
grep -q "bad.fls" "$T/err" && ok "cat names the file: $(head -1 "$T/err")" || bad "cat error lacks the file: $(cat "$T/err")"
got=$(($(stat -c %s "$T/out") / 96))
[ "$got" = $((7000 + 4000)) ] && ok "cat still printed the 7 good blocks and the next file" ||
	bad "cat printed $got records, want 11000 (one 1000-record block lost)"

# --- a truncated copy and a missing file
head -c $((size / 3)) "${segs[0]}" >"$T/short.fls"
expect_rc 1 "verify of a truncated copy" "$ENIFLOW" verify "$T/short.fls"
grep -q "^FAIL $T/short.fls: " "$T/out" || bad "truncated: $(cat "$T/out")"
expect_rc 1 "verify of a missing file" "$ENIFLOW" verify "$T/nope.fls"
grep -q "^FAIL $T/nope.fls: " "$T/out" && ok "missing: $(cat "$T/out")" || bad "missing file line: $(cat "$T/out")"
expect_rc 1 "cat of a missing file among good ones" "$ENIFLOW" cat -f aws "$T/nope.fls" "${segs[2]}"
grep -q "nope.fls" "$T/err" || bad "cat error lacks the file: $(cat "$T/err")"
[ "$(wc -l <"$T/out")" = 4001 ] || bad "cat printed $(wc -l <"$T/out") lines for the good file, want header + 4000"
expect_rc 1 "verify of a non-segment" "$ENIFLOW" verify "$HERE/cli.sh"

# --- a second gen into the same directory adds files, never replaces
expect_rc 0 "gen into a used directory" "$ENIFLOW" gen --records 10 --out "$T/segs" --seed 9
grep -q "^wrote $T/segs/gen-000003.fls records=10 " "$T/out" || bad "second gen: $(cat "$T/out")"
lz4dc "${segs[@]}" | cmp -s - "$T/lz4.raw" || bad "second gen changed earlier segments"

# --- usage: --help per verb exits 0; bad arguments exit 2 with a message
expect_rc 0 "eniflow --help" "$ENIFLOW" --help
grep -q '^usage: eniflow VERB' "$T/out" || bad "top help: $(head -2 "$T/out")"
for verb in cat verify gen; do
	expect_rc 0 "eniflow $verb --help" "$ENIFLOW" $verb --help
	grep -q "^usage: eniflow $verb" "$T/out" || bad "$verb help: $(head -2 "$T/out")"
done
expect_rc 0 "eniflow help gen" "$ENIFLOW" help gen
expect_rc 0 "eniflow --version" "$ENIFLOW" --version
expect_rc 2 "no verb" "$ENIFLOW"
expect_rc 2 "unknown verb" "$ENIFLOW" frobnicate
grep -q "unknown verb 'frobnicate'" "$T/err" || bad "unknown verb message: $(cat "$T/err")"
expect_rc 2 "cat without files" "$ENIFLOW" cat
expect_rc 2 "cat --format xml" "$ENIFLOW" cat --format xml "${segs[0]}"
grep -q "unknown format 'xml'" "$T/err" || bad "format message: $(cat "$T/err")"
expect_rc 2 "cat --bogus" "$ENIFLOW" cat --bogus "${segs[0]}"
expect_rc 2 "verify without files" "$ENIFLOW" verify
expect_rc 2 "gen without --records" "$ENIFLOW" gen --out "$T/x"
grep -q -- "--records N is required" "$T/err" || bad "gen message: $(cat "$T/err")"
expect_rc 2 "gen without --out" "$ENIFLOW" gen --records 5
expect_rc 2 "gen --records abc" "$ENIFLOW" gen --records abc --out "$T/x"
grep -q -- "--records: 'abc' is not an integer" "$T/err" || bad "gen number message: $(cat "$T/err")"
expect_rc 2 "gen --records -1" "$ENIFLOW" gen --records -1 --out "$T/x"
expect_rc 2 "gen --v6-percent 101" "$ENIFLOW" gen --records 5 --v6-percent 101 --out "$T/x"
expect_rc 2 "gen --block-records 0" "$ENIFLOW" gen --records 5 --block-records 0 --out "$T/x"
expect_rc 2 "gen stray argument" "$ENIFLOW" gen --records 5 --out "$T/x" extra
[ ! -e "$T/x" ] || bad "a usage error still created $T/x"
touch "$T/file"
expect_rc 1 "gen --out onto a file" "$ENIFLOW" gen --records 5 --out "$T/file"

e2e_finish cli.sh
