#!/usr/bin/env bash
# Tests outage-heartbeat.sh against mock_server.py on 127.0.0.1.
# Usage: test-outage-heartbeat.sh [SHELL]   (default: sh; try dash, busybox sh)
# Prints "N passed, M failed" and exits non-zero when anything failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
script="$here/outage-heartbeat.sh"
read -r -a run_sh <<< "${1:-sh}"
work=$(mktemp -d)
passed=0
failed=0
server_pid=""

cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   - $1"; }
not_ok() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { # check NAME COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}

start_server() { # start_server [ENV=VALUE...]
    stop_server
    rm -f "$work/port" "$work/requests.jsonl"
    : > "$work/requests.jsonl"
    env MOCK_LIFETIME_S=60 "$@" python3 "$here/mock_server.py" "$work/port" "$work/requests.jsonl" &
    server_pid=$!
    for _ in $(seq 1 100); do
        [ -s "$work/port" ] && break
        sleep 0.05
    done
    port=$(cat "$work/port")
    base="http://127.0.0.1:$port"
}

stop_server() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null; fi
    server_pid=""
}

# field N KEY: KEY of the N-th recorded request (1-based).
field() {
    python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; v=r[int(sys.argv[2])-1][sys.argv[3]]; print(v if v is not None else "")' \
        "$work/requests.jsonl" "$1" "$2"
}
count() { wc -l < "$work/requests.jsonl" | tr -d ' '; }

printf '3c1e9f1a-5b7d-4c2e-9f00-aa11bb22cc33\n' > "$work/boot_id"
printf '12345.67 40000.00\n' > "$work/uptime"
export OUTAGE_BOOT_ID_FILE="$work/boot_id" OUTAGE_UPTIME_FILE="$work/uptime" \
    OUTAGE_STATE_FILE="$work/state"
hb() { "${run_sh[@]}" "$script" "$@"; }

echo "# outage-heartbeat.sh with: ${run_sh[*]}"
start_server

hb --once --url "$base" --key test-key 2> "$work/err"
check "--once succeeds against the server" test $? -eq 0
check "one request recorded" test "$(count)" = 1
check "path" test "$(field 1 path)" = /api/v1/heartbeat
check "bearer auth" test "$(field 1 auth)" = "Bearer test-key"
check "content type" test "$(field 1 content_type)" = application/json
expected='{"boot_id":"3c1e9f1a-5b7d-4c2e-9f00-aa11bb22cc33","uptime_s":12345,"seq":1,"fw":"outage-heartbeat.sh/1"}'
check "exact body" test "$(field 1 body)" = "$expected"
check "body has boot_id and uptime_s" python3 -c 'import json,sys; b=json.loads(sys.argv[1]); assert b["boot_id"] and b["uptime_s"]==12345' "$(field 1 body)"
check "accepted with 200" test "$(field 1 status)" = 200
check "quiet on success" test ! -s "$work/err"

OUTAGE_SERVER_URL="$base/" OUTAGE_API_KEY=test-key hb --once
check "env settings + trailing slash" test $? -eq 0
check "sequence continues across --once runs" python3 -c 'import json,sys; assert json.loads(sys.argv[1])["seq"]==2' "$(field 2 body)"

printf 'test-key\n' > "$work/keyfile"
hb --once --url "$base/api/v1/heartbeat" --key-file "$work/keyfile"
check "--key-file and full endpoint URL" test $? -eq 0
check "key from file sent" test "$(field 3 auth)" = "Bearer test-key"

printf 'ffffffff-0000-4000-8000-000000000001\n' > "$work/boot_id"
hb --once --url "$base" --key test-key
check "new boot id restarts seq at 1" python3 -c 'import json,sys; b=json.loads(sys.argv[1]); assert b["seq"]==1 and b["boot_id"].startswith("ffffffff")' "$(field 4 body)"

hb --once --url "$base" --key wrong-key 2> "$work/err"
check "wrong key exits 1" test $? -eq 1
check "wrong key is explained" grep -q "does not know this location key" "$work/err"

OUTAGE_HTTP_CLIENT=wget hb --once --url "$base" --key test-key
check "wget client succeeds" test $? -eq 0
check "wget sends the same kind of body" python3 -c 'import json,sys; b=json.loads(sys.argv[1]); assert set(b)=={"boot_id","uptime_s","seq","fw"}' "$(field 6 body)"
check "wget sends bearer auth" test "$(field 6 auth)" = "Bearer test-key"
OUTAGE_HTTP_CLIENT=wget hb --once --url "$base" --key wrong-key 2> /dev/null
check "wget: wrong key exits 1" test $? -eq 1

printf 'garbage\n' > "$work/uptime"
rm -f "$work/boot_id"
hb --once --url "$base" --key test-key
check "missing boot id / bad uptime still sends valid JSON" python3 -c 'import json,sys; b=json.loads(sys.argv[1]); assert "boot_id" not in b and "uptime_s" not in b' "$(field 8 body)"
printf '3c1e9f1a-5b7d-4c2e-9f00-aa11bb22cc33\n' > "$work/boot_id"
printf '99.5 1.0\n' > "$work/uptime"

stop_server
start_server MOCK_STATUS=503
hb --once --url "$base" --key test-key 2> "$work/err"
check "HTTP 503 exits 1" test $? -eq 1
check "HTTP 503 is logged" grep -q "HTTP 503" "$work/err"
stop_server

hb --once --url "$base" --key test-key 2> "$work/err"
check "unreachable server exits 1" test $? -eq 1
check "unreachable server is logged" grep -q "no answer" "$work/err"

hb --once --key test-key 2> "$work/err"
check "missing URL exits 2" test $? -eq 2
check "missing URL is explained" grep -q "no server URL" "$work/err"
hb --once --url "ftp://x" --key test-key 2> /dev/null
check "bad scheme exits 2" test $? -eq 2
hb --once --url "$base" --key 'a b' 2> /dev/null
check "key with a space exits 2" test $? -eq 2
hb --once --url "$base" --key k --interval 30s 2> /dev/null
check "bad interval exits 2" test $? -eq 2
hb --bogus 2> /dev/null
check "unknown option exits 2" test $? -eq 2
hb --help 2> "$work/err"
check "--help exits 0 and explains" grep -q -- "--once" "$work/err"

# Loop mode honours next_in_s (5 s here): about 2 beats in 7 s, seq 1 then 2.
start_server MOCK_NEXT_IN_S=5
"${run_sh[@]}" "$script" --url "$base" --key test-key --interval 3600 &
loop_pid=$!
sleep 7
kill "$loop_pid" 2> /dev/null
wait "$loop_pid"
check "loop stops cleanly on TERM" test $? -eq 0
check "loop sent 2 beats honouring next_in_s" test "$(count)" = 2
check "loop counts seq 1, 2" python3 -c '
import json,sys
rows=[json.loads(l) for l in open(sys.argv[1])]
assert [json.loads(r["body"])["seq"] for r in rows]==[1,2]
assert json.loads(rows[1]["body"])["uptime_s"]==99' "$work/requests.jsonl"
stop_server

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
