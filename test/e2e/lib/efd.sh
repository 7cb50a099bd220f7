# test/e2e/lib/efd.sh - shell helpers shared by the eniflowd e2e tests.
#
#   efd_test_env NAME PIDVAR...   TMP=/tmp/NAME.XXXXXX, PREFIX=NAME_$$; at exit
#                                 stop the processes the PIDVARs then hold, run
#                                 efd_test_cleanup if the test defines it, and
#                                 remove TMP and PREFIX's DPDK files
#   die MSG...                    FAIL: MSG, the tail of $TMP/log, exit 1
#   efd_free_port [udp]           a free TCP (or UDP) port on 127.0.0.1
#   efd_wait SECONDS CMD...       retry CMD every 0.1 s until it succeeds
#   efd_health_is BASE up|down    /v1/health reports the switch so
#   efd_download BASE LIST DIR    download every listed segment into DIR
#   efd_conservation STATS SUM    per ENI: accounted == recorded + reported lost
#                                 (STATS: GET /v1/stats; SUM: efd_segsum JSON)
#   efd_start_logging EFD DIR TAG RESOURCE  start eniflowd (PID in EFD_PID, URL
#                                 in EFD_BASE, log DIR/efd.log) for switch
#                                 instance TAG, and create an ALL flow log with
#                                 a 1 s interval on RESOURCE before any switch
EFD_PY=$(command -v /usr/bin/python3 || command -v python3)
EFD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

efd_test_env() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	PREFIX=$1_$$
	shift
	# a PID inherited from the environment is not ours to kill
	unset -v "$@"
	EFD_TEST_PIDVARS=("$@")
	trap efd_test_exit EXIT
	trap "exit 1" INT TERM
}

efd_test_exit() {
	local efd_v efd_p
	# a child killed between fork and exec still runs these traps: only the
	# test's own shell may stop processes and remove files
	[ "$BASHPID" = "$$" ] || return 0
	# by name, not by value: a test that restarts a process reassigns its
	# variable, and clears it once it has reaped one, so no stale PID is killed
	for efd_v in "${EFD_TEST_PIDVARS[@]}"; do
		efd_p=${!efd_v:-}
		[ -n "$efd_p" ] && kill "$efd_p" 2>/dev/null && wait "$efd_p" 2>/dev/null
	done
	if declare -F efd_test_cleanup >/dev/null; then efd_test_cleanup; fi
	rm -f /dev/hugepages/"${PREFIX}"map_*
	rm -rf "/var/run/dpdk/$PREFIX" "$TMP"
}

die() {
	echo "FAIL: $*"
	if [ -n "${TMP:-}" ] && [ -e "$TMP/log" ]; then
		echo "--- eniflowd log"
		tail -n 60 "$TMP/log"
	fi
	exit 1
}

efd_free_port() {
	"$EFD_PY" -c 'import socket, sys
s = socket.socket(type=socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "${1:-tcp}"
}

efd_wait() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

efd_health_is() { curl -s -m 2 "$1/v1/health" | grep -q "\"switch\":\"$2\""; }

efd_download() {
	local base=$1 list=$2 dir=$3 name
	mkdir -p "$dir"
	curl -sf "$base/v1/segments" -o "$list" || return 1
	for name in $("$EFD_PY" -c 'import json,sys; [print(s["name"]) for s in json.load(open(sys.argv[1]))["segments"]]' "$list"); do
		curl -sf "$base/v1/segments/$name" -o "$dir/$name" || return 1
	done
}

efd_conservation() { "$EFD_PY" "$EFD_LIB/conservation.py" "$@"; }

efd_start_logging() {
	local efd=$1 dir=$2 tag=$3 res=$4 port code
	port=$(efd_free_port)
	echo "efd-$tag-0123456789abcdef" > "$dir/token"
	cat > "$dir/efd.json" <<JSON
{"data_dir": "$dir/data", "listen": "127.0.0.1:$port", "token_file": "$dir/token",
 "instance": "$tag", "file_prefix": "$tag", "eal_lcore": 0, "rotate_age_s": 5}
JSON
	EFD_BASE=http://127.0.0.1:$port
	"$efd" --config "$dir/efd.json" 2> "$dir/efd.log" &
	EFD_PID=$!
	efd_wait 10 efd_health_is "$EFD_BASE" down || { echo "eniflowd did not start" >&2; return 1; }
	code=$(curl -s -o "$dir/resp" -w '%{http_code}' -XPOST -H "Authorization: Bearer $(cat "$dir/token")" \
		"$EFD_BASE/v1/flow-logs" -d "{\"resource\":\"$res\",\"traffic_type\":\"ALL\",\"aggregation_interval_s\":1}")
	[ "$code" = 201 ] || { echo "flow log on $res: $code $(cat "$dir/resp")" >&2; return 1; }
}
