# test/e2e/lib/efd.sh - shell helpers shared by the eniflowd e2e tests.
#
#   efd_free_port                 a free TCP port on 127.0.0.1
#   efd_wait SECONDS CMD...       retry CMD every 0.1 s until it succeeds
#   efd_health_is BASE up|down    /v1/health reports the switch so
#   efd_download BASE LIST DIR    download every listed segment into DIR
#   efd_conservation STATS SUM    per ENI: accounted == recorded + reported lost
#                                 (STATS: GET /v1/stats; SUM: efd_segsum JSON)
EFD_PY=$(command -v /usr/bin/python3 || command -v python3)
EFD_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

efd_free_port() {
	"$EFD_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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
