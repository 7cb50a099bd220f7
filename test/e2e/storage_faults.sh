#!/usr/bin/env bash
# Proves the segment writer never loses a record in silence under storage
# faults: (a) EIO, ENOSPC, a short write and a short write followed by
# ENOSPC at every write, EIO and ENOSPC at every fsync, rename and open of
# a run (LD_PRELOAD fault_io); (b) SIGKILL of a continuously writing driver
# at random points, KILLS times; (c) strace shows each segment published as
# data writes -> fsync(file) -> rename -> fsync(dir) -> acknowledgement;
# (d) the same faults at every call recovery makes, and `eniflow recover`
# killed at random points (KILLS/4 times) while recovering a big partial.
# After every fault and every kill: `eniflow recover`, `eniflow verify` on
# every sealed file, and `seg_writer_driver check` (every acknowledged record
# present, every file an exact slice of the known stream, and for complete
# runs written = in sealed files + counted lost).
# usage: storage_faults.sh ENIFLOW DRIVER LIBFAULT_IO [KILLS (default 200)]
set -euo pipefail

ENIFLOW=${1:?usage: storage_faults.sh ENIFLOW DRIVER LIBFAULT_IO [KILLS]}
DRIVER=${2:?driver}
FAULTLIB=$(readlink -f "${3:?libfault_io.so}")
KILLS=${4:-200}
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
T=$(mktemp -d "$base/eniflow-storfault.XXXXXX")
trap 'rm -rf "$T"' EXIT

fails=0
bad() { printf 'FAIL %s\n' "$*" >&2; fails=$((fails + 1)); }

# recover + verify + check DIR LOG WHAT; prints nothing unless it fails
after() {
	local dir=$1 log=$2 what=$3 f
	if ! "$ENIFLOW" recover "$dir" >"$T/recover.out" 2>&1; then
		bad "$what: eniflow recover: $(cat "$T/recover.out")"; return
	fi
	set -- "$dir"/*.fls
	if [ -e "$1" ] && ! "$ENIFLOW" verify "$@" >"$T/verify.out" 2>&1; then
		bad "$what: eniflow verify: $(grep -v '^OK' "$T/verify.out" | head -3)"; return
	fi
	if ! "$DRIVER" check --dir "$dir" --log "$log" >"$T/check.out" 2>&1; then
		bad "$what: $(grep -v '^CHECK ok' "$T/check.out" | head -5)"
		echo "  files: $(ls -A "$dir" | tr '\n' ' ')" >&2
		echo "  recover: $(tr '\n' '|' <"$T/recover.out")" >&2
		echo "  log: $(tr '\n' '|' <"$log" | tail -c 600)" >&2
		return
	fi
}

# ---------------------------------------------------------------- (a) faults
W=(--records 12000 --per-segment 4000 --block-records 500 --chunk 200 --flush-every 4)
run_fault() { # OP AT ERR
	local d="$T/a" what="$2th $1 fails with $3"
	rm -rf "$d"; mkdir "$d"
	if ! FAULT_DIR="$d" FAULT_OP=$1 FAULT_AT=$2 FAULT_ERR=$3 FAULT_REPORT="$T/rep" \
		LD_PRELOAD="$FAULTLIB" "$DRIVER" write --dir "$d" "${W[@]}" >"$T/log" 2>"$T/err"; then
		bad "$what: driver exit: $(tail -3 "$T/err")"; return
	fi
	grep -q 'fired=1' "$T/rep" || { bad "$what: the fault never fired ($(cat "$T/rep"))"; return; }
	injected=$((injected + 1))
	lost_total=$((lost_total + $(sed -n 's/^END .* lost=\([0-9]*\)$/\1/p' "$T/log")))
	after "$d" "$T/log" "$what"
	# a failed fsync fails its segment for good (RELIABILITY.md): nothing of
	# it is recovered (that would be a retried fsync); it is kept aside
	if [ "$1" = fsync ]; then
		grep -q '^FAIL .* kept=0 lost=[1-9]' "$T/log" ||
			bad "$what: the failed segment was not counted lost: $(grep '^FAIL' "$T/log")"
		ls -A "$d" | grep -q '^\.seg-.*\.fls\.failed$' ||
			bad "$what: the failed segment was not moved aside: $(ls -A "$d" | tr '\n' ' ')"
	fi
	# a failed rename comes after a good fsync: recovery keeps it all and,
	# the tail being the segment's own index and trailer, drops nothing
	if [ "$1" = rename ]; then
		grep -q '^FAIL .* kept=[1-9][0-9]* lost=0 dropped_bytes=0 ' "$T/log" ||
			bad "$what: want all kept, 0 bytes dropped: $(grep '^FAIL' "$T/log")"
	fi
	k=$(sed -n 's/.* unreported=\(-\{0,1\}[0-9]*\)$/\1/p' "$T/check.out"); unreported=$((unreported + ${k:-0}))
}

mkdir "$T/a"
FAULT_DIR="$T/a" FAULT_REPORT="$T/rep" LD_PRELOAD="$FAULTLIB" \
	"$DRIVER" write --dir "$T/a" "${W[@]}" >"$T/log"
after "$T/a" "$T/log" "clean run"
read -r nw nf nr no <<<"$(sed 's/write=\([0-9]*\) fsync=\([0-9]*\) rename=\([0-9]*\) open=\([0-9]*\).*/\1 \2 \3 \4/' "$T/rep")"
echo "clean run: $nw writes, $nf fsyncs, $nr renames, $no opens under the segment directory"
[ "$nw" -gt 10 ] && [ "$nf" -ge 6 ] && [ "$nr" -ge 3 ] || bad "clean run counted too few calls: $(cat "$T/rep")"
injected=0 lost_total=0 unreported=0
t0=$SECONDS
for ((i = 1; i <= nw; i++)); do
	for e in EIO ENOSPC SHORT SHORT_ENOSPC; do run_fault write $i $e; done
done
for ((i = 1; i <= nf; i++)); do for e in EIO ENOSPC; do run_fault fsync $i $e; done; done
for ((i = 1; i <= nr; i++)); do for e in EIO ENOSPC; do run_fault rename $i $e; done; done
for ((i = 1; i <= no; i++)); do for e in EIO ENOSPC; do run_fault open $i $e; done; done
echo "(a) faults injected: $injected ($((4 * nw)) write, $((2 * nf)) fsync, $((2 * nr)) rename," \
	"$((2 * no)) open); records counted lost: $lost_total; lost without report: $unreported" \
	"($((SECONDS - t0)) s)"
[ "$unreported" = 0 ] || bad "records lost without being reported: $unreported"

# ------------------------------------------------------------------ (b) kills
K=(--records 0 --per-segment 1000 --block-records 100 --chunk 50 --flush-every 3)
acked=0 recovered=0 removed=0 t0=$SECONDS
for ((i = 1; i <= KILLS; i++)); do
	d="$T/b"
	rm -rf "$d"; mkdir "$d"
	# empty the log here: a kill can land before the child opens it
	: >"$T/klog"
	"$DRIVER" write --dir "$d" --seed "$i" "${K[@]}" >"$T/klog" 2>"$T/kerr" &
	pid=$!
	sleep "0.00$((RANDOM % 10))$((RANDOM % 10))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	grep -q '^END' "$T/klog" && bad "kill $i: the driver finished before the kill"
	after "$d" "$T/klog" "kill $i"
	k=$(sed -n 's/^CHECK ok .* acked=\([0-9]*\) .*/\1/p' "$T/check.out"); acked=$((acked + ${k:-0}))
	recovered=$((recovered + $(grep -c '^RECOVERED' "$T/recover.out" || true)))
	removed=$((removed + $(grep -c '^REMOVED' "$T/recover.out" || true)))
done
echo "(b) kills survived: $KILLS; partial files recovered: $recovered, removed with a torn header:" \
	"$removed; acknowledged records checked: $acked ($((SECONDS - t0)) s)"

# ------------------------------------------------- (d) faults during recovery
# Recovery writes, fsyncs and renames too. Three crash shapes (torn inside a
# block, sealed but not renamed, torn header) are recovered with one fault
# at each call of a clean recovery; then a clean `eniflow recover` runs.
# Records in sealed files + records the faulted recovery reported lost
# ("its N records are lost") must equal what a clean recovery keeps.
R="$T/r0"; mkdir "$R"
"$DRIVER" write --dir "$R" "${W[@]}" >"$T/rlog"
s0=$(stat -c %s "$R/seg-000000.fls")
mv "$R/seg-000000.fls" "$R/.seg-000000.fls.partial"
truncate -s $((s0 * 2 / 3)) "$R/.seg-000000.fls.partial"
mv "$R/seg-000001.fls" "$R/.seg-000001.fls.partial"
mv "$R/seg-000002.fls" "$R/.seg-000002.fls.partial"
truncate -s 50 "$R/.seg-000002.fls.partial"
sed -i '/^ACK/d;/^END/d' "$T/rlog"
rm -rf "$T/rr"; cp -a "$R" "$T/rr"
FAULT_DIR="$T/rr" FAULT_REPORT="$T/rep" LD_PRELOAD="$FAULTLIB" "$ENIFLOW" recover "$T/rr" >"$T/rr.out"
want=$(sed -n 's/^total files=.* records=\([0-9]*\) .*/\1/p' "$T/rr.out")
after "$T/rr" "$T/rlog" "clean recovery"
read -r rw rf rn ro rt <<<"$(sed 's/write=\([0-9]*\) fsync=\([0-9]*\) rename=\([0-9]*\) open=\([0-9]*\) truncate=\([0-9]*\).*/\1 \2 \3 \4 \5/' "$T/rep")"
echo "clean recovery keeps $want records: $rw writes, $rf fsyncs, $rn renames, $ro opens, $rt truncates"
rinjected=0
run_rfault() { # OP AT ERR
	local what="recovery: $2th $1 fails with $3" lost k
	rm -rf "$T/rf"; cp -a "$R" "$T/rf"
	FAULT_DIR="$T/rf" FAULT_OP=$1 FAULT_AT=$2 FAULT_ERR=$3 FAULT_REPORT="$T/rep" \
		LD_PRELOAD="$FAULTLIB" "$ENIFLOW" recover "$T/rf" >"$T/rf.out" 2>&1 || true
	grep -q 'fired=1' "$T/rep" || { bad "$what: the fault never fired"; return; }
	rinjected=$((rinjected + 1))
	lost=$(sed -n 's/.*its \([0-9]*\) records are lost.*/\1/p' "$T/rf.out")
	after "$T/rf" "$T/rlog" "$what"
	k=$(sed -n 's/^CHECK ok files=[0-9]* records=\([0-9]*\) .*/\1/p' "$T/check.out")
	[ "${k:-x}" = x ] && return
	[ $((k + ${lost:-0})) = "$want" ] ||
		bad "$what: $k records sealed + ${lost:-0} reported lost != $want ($(tr '\n' '|' <"$T/rf.out"))"
}
for ((i = 1; i <= rw; i++)); do for e in EIO ENOSPC SHORT SHORT_ENOSPC; do run_rfault write $i $e; done; done
for ((i = 1; i <= rf; i++)); do for e in EIO ENOSPC; do run_rfault fsync $i $e; done; done
for ((i = 1; i <= rn; i++)); do for e in EIO ENOSPC; do run_rfault rename $i $e; done; done
for ((i = 1; i <= ro; i++)); do for e in EIO ENOSPC; do run_rfault open $i $e; done; done
for ((i = 1; i <= rt; i++)); do for e in EIO ENOSPC; do run_rfault truncate $i $e; done; done
echo "(d) faults injected into recovery: $rinjected"

# A big torn partial (300,000 records, about 30 ms to recover) and
# `eniflow recover` killed at a random point, then recovered again: the
# result must be what one clean recovery gives.
R="$T/big0"; mkdir "$R"
"$DRIVER" write --dir "$R" --records 300000 --per-segment 300000 --block-records 4096 \
	--chunk 4096 --flush-every 1000 >"$T/biglog"
sz=$(stat -c %s "$R/seg-000000.fls")
mv "$R/seg-000000.fls" "$R/.seg-000000.fls.partial"
truncate -s $((sz - 70000)) "$R/.seg-000000.fls.partial"
sed -i '/^ACK/d;/^END/d' "$T/biglog"
rm -rf "$T/big"; cp -a "$R" "$T/big"
"$ENIFLOW" recover "$T/big" >"$T/big.out"
bigwant=$(sed -n 's/^total files=.* records=\([0-9]*\) .*/\1/p' "$T/big.out")
rkills=$((KILLS / 4)) interrupted=0 t0=$SECONDS
for ((i = 1; i <= rkills; i++)); do
	rm -rf "$T/big"; cp -a "$R" "$T/big"
	"$ENIFLOW" recover "$T/big" >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 4))$((RANDOM % 10))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	[ -e "$T/big/.seg-000000.fls.partial" ] && interrupted=$((interrupted + 1))
	after "$T/big" "$T/biglog" "recovery kill $i"
	k=$(sed -n 's/^CHECK ok files=[0-9]* records=\([0-9]*\) .*/\1/p' "$T/check.out")
	[ "${k:-x}" = "$bigwant" ] || bad "recovery kill $i: ${k:-?} records after recovery, want $bigwant"
done
echo "(d) recoveries killed: $rkills ($interrupted before the rename)," \
	"each then recovered to the same $bigwant records" \
	"($((SECONDS - t0)) s)"

# ---------------------------------------------------------- (c) publish order
if command -v strace >/dev/null; then
	d="$T/c"; mkdir "$d"
	strace -f -y -qq -e trace=write,fsync,fdatasync,rename,renameat,renameat2,openat \
		-o "$T/strace" "$DRIVER" write --dir "$d" --records 3000 --per-segment 1000 \
		--block-records 300 --chunk 100 --flush-every 2 >"$T/clog"
	after "$d" "$T/clog" "strace run"
	if python3 - "$T/strace" "$(readlink -f "$d")" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
d = sys.argv[2]
segs = sorted(set(re.findall(r'/\.(seg-\d+\.fls)\.partial', '\n'.join(lines))))
ok = True
for s in segs:
    part = f'{d}/.{s}.partial'
    ev = []
    for n, l in enumerate(lines):
        if re.search(r'\bwrite\(\d+<' + re.escape(part) + '>', l): ev.append(('write', n))
        elif re.search(r'\bf(data)?sync\(\d+<' + re.escape(part) + '>', l): ev.append(('fsync', n))
        elif re.search(r'rename\w*\(.*"\.' + re.escape(s) + r'\.partial".*"' + re.escape(s) + '"', l): ev.append(('rename', n))
        elif re.search(r'\bf(data)?sync\(\d+<' + re.escape(d) + '>', l): ev.append(('dirsync', n))
        elif re.search(r'\bwrite\(1<.*"ACK ' + re.escape(s), l): ev.append(('ack', n))
    kinds = [k for k, _ in ev]
    try:
        lw = max(n for k, n in ev if k == 'write')
        fs = min(n for k, n in ev if k == 'fsync')
        rn = min(n for k, n in ev if k == 'rename')
        ds = min(n for k, n in ev if k == 'dirsync' and n > rn)
        ak = min(n for k, n in ev if k == 'ack')
    except ValueError:
        print(f'{s}: missing a step: {kinds}'); ok = False; continue
    if not (lw < fs < rn < ds < ak) or kinds.count('fsync') != 1:
        print(f'{s}: wrong order: last write {lw}, fsync {fs}, rename {rn}, dir fsync {ds}, ack {ak}')
        ok = False
    else:
        print(f'{s}: {kinds.count("write")} writes -> fsync(file) -> rename -> fsync(dir) -> ACK')
sys.exit(0 if ok and len(segs) == 3 else 1)
PY
	then echo "(c) publish order checked with strace"; else bad "publish order (strace): see above"; fi
else
	bad "strace is needed (scripts/test installs it)"
fi

if [ "$fails" -gt 0 ]; then
	echo "storage_faults: $fails failures" >&2
	exit 1
fi
echo "storage_faults: all passed"
