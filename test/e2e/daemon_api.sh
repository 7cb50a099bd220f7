#!/bin/bash
# Proves eniflowd's REST contract with no switch running: every route in
# docs/openapi.yaml is served, the auth matrix (401/403), a table of bad
# requests with their 4xx status and error field, flow-log CRUD and its
# persistence across a restart, health reporting the switch down, and bad
# config files refused with the field named.
# usage: daemon_api.sh ENIFLOWD_BINARY SOURCE_ROOT
set -u
PY=$(command -v /usr/bin/python3 || command -v python3)
EFD=${1:?eniflowd binary}
SRC=${2:?source root}
TMP=$(mktemp -d /tmp/efd_api.XXXXXX)
PID=
FAILS=0
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=apitest-$$-0123456789abcdef
echo "$TOKEN" >"$TMP/token"
cat >"$TMP/cfg.json" <<EOF
{"data_dir": "$TMP/data", "listen": "127.0.0.1:$PORT", "token_file": "$TMP/token",
 "instance": "api", "file_prefix": "efd_api_$$", "body_max": 4096,
 "max_per_ip": 4, "conn_timeout_s": 2}
EOF
BASE=http://127.0.0.1:$PORT

start() {
	"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
	PID=$!
	for _ in $(seq 50); do
		curl -sf "$BASE/v1/health" >/dev/null && return 0
		sleep 0.1
	done
	cat "$TMP/log"
	echo "FAIL: eniflowd did not come up"
	exit 1
}
stop() {
	kill "$PID"
	wait "$PID"
	PID=
}

# req METHOD PATH [BODY] [AUTH]: sets CODE and BODY (response)
req() {
	local auth=()
	[ -n "${4:-}" ] && auth=(-H "Authorization: $4")
	local data=()
	[ -n "${3:-}" ] && data=(--data-binary "$3")
	CODE=$(curl -s -o "$TMP/resp" -w '%{http_code}' -X "$1" "${auth[@]}" "${data[@]}" \
		-H 'Content-Type: application/json' "$BASE$2")
	BODY=$(cat "$TMP/resp")
}
AUTH="Bearer $TOKEN"
# jget EXPR: a value of the JSON response (null prints as an empty string)
jget() {
	"$PY" -c "import json,sys; d=json.loads(sys.argv[1]); v=eval('d'+sys.argv[2]); print('' if v is None else v)" "$BODY" "$1" 2>/dev/null
}

expect() { # expect DESC STATUS [FIELD]
	[ "$CODE" = "$2" ] || { fail "$1: status $CODE, want $2 (body $BODY)"; return; }
	if [ -n "${3+x}" ]; then
		local f
		f=$(jget "['field']")
		[ "$f" = "$3" ] || fail "$1: field '$f', want '$3' (body $BODY)"
	fi
}

# --- bad config files are refused, naming the field -----------------------
badcfg() { # badcfg JSON FIELD
	echo "$1" >"$TMP/bad.json"
	if "$EFD" --config "$TMP/bad.json" 2>"$TMP/bad.err"; then
		fail "config $1 accepted"
	elif ! grep -q "$2" "$TMP/bad.err"; then
		fail "config $1: error does not name $2: $(cat "$TMP/bad.err")"
	fi
}
badcfg "{\"data_dir\": \"$TMP/d\", \"token_file\": \"$TMP/token\", \"colour\": 1}" colour
badcfg "{\"token_file\": \"$TMP/token\"}" data_dir
badcfg "{\"data_dir\": \"$TMP/d\", \"token_file\": \"$TMP/token\", \"rotate_age_s\": 0}" rotate_age_s
badcfg "{\"data_dir\": \"$TMP/d\", \"token_file\": \"$TMP/token\", \"instance\": \"Bad!\"}" instance
badcfg "{\"data_dir\": \"$TMP/d\", \"token_file\": \"$TMP/nope\"}" token_file
badcfg "{\"data_dir\": \"$TMP/d\", \"token_file\": \"$TMP/token\", \"listen\": 8080}" listen

start

# --- health with no switch ---------------------------------------------------
req GET /v1/health
expect health 200
[ "$(jget "['switch']")" = down ] || fail "health: switch $(jget "['switch']"), want down"
req GET /v1/enis
expect enis 200
[ "$(jget "['switch_up']")" = False ] || fail "enis: switch_up not false: $BODY"

# --- connection limits: per-IP cap and idle timeout -------------------------------
"$PY" - "$PORT" <<'EOF' || fail "connection limits"
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
time.sleep(0.3)
extra = socket.create_connection(("127.0.0.1", port))
extra.settimeout(2)
try:
    over = extra.recv(1) == b""
except (socket.timeout, ConnectionResetError):
    over = False
t0 = time.time()
for s in idle:
    s.settimeout(5)
    try:
        s.recv(1)
    except ConnectionResetError:
        pass
waited = time.time() - t0
print("5th connection closed: %s; idle ones closed after %.1f s" % (over, waited))
sys.exit(0 if over and waited < 4 else 1)
EOF

# --- auth matrix ---------------------------------------------------------------
for route in "POST /v1/flow-logs" "PATCH /v1/flow-logs/fl-0000000000000000" \
	"DELETE /v1/flow-logs/fl-0000000000000000" "DELETE /v1/segments/api-0000000001.fls"; do
	set -- $route
	req "$1" "$2" '{"traffic_type":"ALL"}'
	expect "$route without token" 401 Authorization
	req "$1" "$2" '{"traffic_type":"ALL"}' "Bearer wrong-token"
	expect "$route wrong token" 403 Authorization
	req "$1" "$2" '{"traffic_type":"ALL"}' "Basic $TOKEN"
	expect "$route basic auth" 401 Authorization
done

# --- flow-log CRUD -----------------------------------------------------------------
req POST /v1/flow-logs '{"resource":"vpc-0a1b","traffic_type":"ALL","aggregation_interval_s":2}' "$AUTH"
expect create 201
ID=$(jget "['id']")
[[ $ID =~ ^fl-[0-9a-f]{16}$ ]] || fail "create: id '$ID'"
req GET "/v1/flow-logs/$ID"
expect get 200
[ "$(jget "['aggregation_interval_s']")" = 2 ] || fail "get: interval $BODY"
req PATCH "/v1/flow-logs/$ID" '{"traffic_type":"REJECT","sample_1_in_n":4}' "$AUTH"
expect patch 200
[ "$(jget "['traffic_type']")/$(jget "['sample_1_in_n']")" = REJECT/4 ] || fail "patch: $BODY"
req GET /v1/flow-logs
expect list 200
[ "$(jget "['flow_logs'][0]['traffic_type']")" = REJECT ] || fail "list after patch: $BODY"
req POST /v1/flow-logs '{"resource":"subnet-77","traffic_type":"ACCEPT"}' "$AUTH"
expect "create subnet" 201
SUB=$(jget "['id']")
[ "$(jget "['aggregation_interval_s']")" = 60 ] || fail "default interval: $BODY"

# --- bad requests: method path body status field --------------------------------
BIG=$("$PY" -c 'print("{\"resource\":\"vpc-1\",\"traffic_type\":\"ALL\",\"x\":\"" + "a"*5000 + "\"}")')
DEEP=$("$PY" -c 'print("{\"a\":" + "["*20 + "]"*20 + "}")')
while IFS='|' read -r m p b st fld; do
	[ -z "$m" ] && continue
	[ "$b" = BIG ] && b=$BIG
	[ "$b" = DEEP ] && b=$DEEP
	req "$m" "$p" "$b" "$AUTH"
	expect "$m $p $b" "$st" "$fld"
done <<'EOF'
POST|/v1/flow-logs|{bad json|400|
POST|/v1/flow-logs|[1,2]|400|
POST|/v1/flow-logs||400|
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","colour":"red"}|400|colour
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"SOME"}|400|traffic_type
POST|/v1/flow-logs|{"resource":"vpc-1"}|400|traffic_type
POST|/v1/flow-logs|{"traffic_type":"ALL"}|400|resource
POST|/v1/flow-logs|{"resource":"host-1","traffic_type":"ALL"}|400|resource
POST|/v1/flow-logs|{"resource":"vpc-../x","traffic_type":"ALL"}|400|resource
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","aggregation_interval_s":0}|400|aggregation_interval_s
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","aggregation_interval_s":601}|400|aggregation_interval_s
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","aggregation_interval_s":"60"}|400|aggregation_interval_s
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","sample_1_in_n":0}|400|sample_1_in_n
POST|/v1/flow-logs|{"resource":"eni-404","traffic_type":"ALL"}|404|resource
POST|/v1/flow-logs|{"resource":"vpc-0a1b","traffic_type":"ALL"}|409|resource
POST|/v1/flow-logs|{"resource":"vpc-1","traffic_type":"ALL","traffic_type":"ALL"}|400|traffic_type
POST|/v1/flow-logs|BIG|413|
POST|/v1/flow-logs|DEEP|400|
PATCH|/v1/flow-logs/fl-0000000000000000|{"traffic_type":"ALL"}|404|id
DELETE|/v1/flow-logs/fl-0000000000000000||404|id
GET|/v1/segments?since=abc||400|since
GET|/v1/segments?since=10&until=5||400|until
GET|/v1/segments/..%2F..%2Fetc%2Fpasswd||400|name
GET|/v1/segments/api-1.fls||400|name
GET|/v1/segments/api-0000000099.fls||404|name
DELETE|/v1/segments/api-0000000099.fls||404|name
DELETE|/v1/segments/.api-0000000001.fls.partial||400|name
GET|/v1/flows/stream?eni=eni-nope||404|eni
GET|/v1/nothing||404|
PUT|/v1/enis||405|
POST|/v1/stats|{}|405|
EOF
# PATCH rows need the real id
for row in '{"resource":"vpc-2"}|resource' '{}|' '{"aggregation_interval_s":-1}|aggregation_interval_s'; do
	req PATCH "/v1/flow-logs/$ID" "${row%|*}" "$AUTH"
	expect "PATCH real id ${row%|*}" 400 "${row#*|}"
done

# --- segments, stats, metrics, stream -------------------------------------------
req GET /v1/segments
expect segments 200
req GET "/v1/segments?since=1&until=2"
expect "segments window" 200
req GET /v1/stats
expect stats 200
[ "$(jget "['writer']['records_written']")" = 0 ] || fail "stats: $BODY"
req GET /metrics
expect metrics 200
grep -q '^eniflowd_switch_up 0$' "$TMP/resp" || fail "metrics: no eniflowd_switch_up 0"
grep -q '^eniflowd_flow_logs 2$' "$TMP/resp" || fail "metrics: flow_logs gauge"
CODE=$(curl -s -m 1.5 -o /dev/null -w '%{http_code}' "$BASE/v1/flows/stream")
[ "$CODE" = 200 ] || fail "stream: status $CODE"

# --- every route in docs/openapi.yaml is served -----------------------------------
"$PY" - "$SRC/docs/openapi.yaml" >"$TMP/routes" <<'EOF'
import re, sys
cur = None
for line in open(sys.argv[1]):
    m = re.match(r'^  (/\S*):\s*$', line)
    if m:
        cur = m.group(1)
        continue
    if re.match(r'^\S', line) and not line.startswith('paths:'):
        cur = None
    m = re.match(r'^    (get|post|patch|delete|put):\s*$', line)
    if m and cur:
        print(m.group(1).upper(), cur)
EOF
[ "$(wc -l <"$TMP/routes")" -ge 12 ] || fail "openapi: only $(wc -l <"$TMP/routes") routes parsed"
while read -r m p; do
	p=${p//\{id\}/fl-0000000000000000}
	p=${p//\{name\}/api-0000000099.fls}
	if [ "$p" = /v1/flows/stream ]; then
		CODE=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$BASE$p")
		BODY=
	else
		req "$m" "$p" '{"traffic_type":"ALL"}' "$AUTH"
	fi
	case "$CODE" in
	405 | 000 | 5*) fail "openapi route $m $p: status $CODE $BODY" ;;
	404) grep -q 'no route' "$TMP/resp" && fail "openapi route $m $p not served" ;;
	esac
done <"$TMP/routes"

# --- flow logs survive a restart ---------------------------------------------------
stop
start
req GET "/v1/flow-logs/$SUB"
expect "after restart" 200
[ "$(jget "['resource']")" = subnet-77 ] || fail "after restart: $BODY"
req DELETE "/v1/flow-logs/$SUB" "" "$AUTH"
expect delete 200
req GET "/v1/flow-logs/$SUB"
expect "get deleted" 404 id

# --- a unix socket listener works the same --------------------------------------
stop
SOCK=$TMP/efd.sock
sed -i "s|\"listen\": \"127.0.0.1:$PORT\"|\"listen\": \"unix:$SOCK\"|" "$TMP/cfg.json"
"$EFD" --config "$TMP/cfg.json" 2>>"$TMP/log" &
PID=$!
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
CODE=$(curl -s -o "$TMP/resp" -w '%{http_code}' --unix-socket "$SOCK" http://x/v1/health)
[ "$CODE" = 200 ] || fail "unix socket health: $CODE"
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "unix socket mode $(stat -c %a "$SOCK"), want 660"

if [ "$FAILS" -ne 0 ]; then
	echo "daemon_api: $FAILS failure(s); daemon log:"
	cat "$TMP/log"
	exit 1
fi
echo "daemon_api: all checks passed"
