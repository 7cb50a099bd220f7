# test/e2e/lib/common.sh - the preamble the CLI-driven e2e scripts share:
# a private temp dir removed on exit (with any background helper listed in
# PIDS killed first), the ok/bad/expect_rc reporters that count failures
# instead of stopping, so one run reports every broken check, a check for the
# tools a script needs, and the closing verdict. Sourced, never run.
# usage: source "$HERE/lib/common.sh"; e2e_init NAME; e2e_need TOOL...

# e2e_init NAME: make $T, arm the clean-up, start counting failures.
e2e_init() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/eniflow-$1.XXXXXX")
	PIDS=()
	fails=0
	trap e2e_cleanup EXIT
}

e2e_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ "${#PIDS[@]}" = 0 ] || wait 2>/dev/null || true
	rm -rf "$T"
}

# e2e_need TOOL...: fail at once, naming the first missing tool.
e2e_need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			{ echo "FAIL: $tool is needed (scripts/test installs it)" >&2; exit 1; }
	done
}

ok() { printf 'ok   %s\n' "$*"; }
bad() { printf 'FAIL %s\n' "$*" >&2; fails=$((fails + 1)); }

# expect_rc WANT DESCRIPTION CMD... : run CMD (output in $T/out, $T/err),
# check its exit status.
expect_rc() {
	local want=$1 what=$2 rc=0; shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else
		bad "$what: exit $rc, want $want; stdout: $(head -c 400 "$T/out"); stderr: $(head -c 400 "$T/err")"
	fi
}

# e2e_finish NAME: the verdict line; exit 1 if any check failed.
e2e_finish() {
	[ "$fails" = 0 ] || { echo "$1: $fails failures" >&2; exit 1; }
	echo "$1: all passed"
}
