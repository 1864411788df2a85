#!/bin/sh
# outage-heartbeat.sh - send outage-monitor heartbeats from a router (OpenWrt)
# or any Linux box. POSIX sh; needs curl (preferred) or wget.
#
# Every interval it POSTs to {server}/api/v1/heartbeat
#   Authorization: Bearer <location key>
#   {"boot_id":"<kernel boot id>","uptime_s":<uptime>,"seq":<n>,"fw":"outage-heartbeat.sh/1"}
# and waits as long as the server's reply {"status":"up","next_in_s":N} asks.
# The kernel's boot id changes at every boot and the uptime counts from boot,
# so the server can tell a power cut from a network drop.
#
# Settings (command-line options win over environment variables):
#   -u, --url URL         OUTAGE_SERVER_URL   server base URL, e.g. http://192.168.1.10:8080
#   -k, --key KEY         OUTAGE_API_KEY      the location key
#   -K, --key-file FILE   OUTAGE_API_KEY_FILE file holding the key (keeps it out of `ps`)
#   -i, --interval S      OUTAGE_INTERVAL_S   seconds between beats (5..3600, default 30)
#   -1, --once            send one beat; exit 0 if the server accepted it, 1 if not
#   -v, --verbose         OUTAGE_VERBOSE=1    log every beat, not only problems
#   -h, --help
# For tests and unusual systems:
#   OUTAGE_BOOT_ID_FILE   default /proc/sys/kernel/random/boot_id
#   OUTAGE_UPTIME_FILE    default /proc/uptime
#   OUTAGE_STATE_FILE     where --once keeps its sequence number between runs
#                         (default /tmp/outage-heartbeat.state; /tmp is empty after a reboot)
#   OUTAGE_HTTP_CLIENT    force "curl" or "wget"
#
# Exit status: 0 success (--once) / stopped by a signal, 1 heartbeat failed (--once),
# 2 bad settings or no HTTP client.

set -u
LC_ALL=C
export LC_ALL

VERSION=1
FW="outage-heartbeat.sh/$VERSION"
MIN_INTERVAL=5
MAX_INTERVAL=3600
RETRY_BASE=5
RETRY_MIN_CAP=60
TIMEOUT=15

url=${OUTAGE_SERVER_URL:-}
key=${OUTAGE_API_KEY:-}
key_file=${OUTAGE_API_KEY_FILE:-}
interval=${OUTAGE_INTERVAL_S:-30}
verbose=${OUTAGE_VERBOSE:-0}
once=0
boot_id_file=${OUTAGE_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}
uptime_file=${OUTAGE_UPTIME_FILE:-/proc/uptime}
state_file=${OUTAGE_STATE_FILE:-/tmp/outage-heartbeat.state}
client=${OUTAGE_HTTP_CLIENT:-}

log() {
    printf '%s\n' "outage-heartbeat: $*" >&2
}

die() {
    log "$*"
    exit 2
}

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
}

need_arg() {
    [ "$#" -ge 2 ] || die "option $1 needs a value (see --help)"
}

while [ "$#" -gt 0 ]; do
    case $1 in
        -u | --url) need_arg "$@"; url=$2; shift 2 ;;
        --url=*) url=${1#*=}; shift ;;
        -k | --key) need_arg "$@"; key=$2; shift 2 ;;
        --key=*) key=${1#*=}; shift ;;
        -K | --key-file) need_arg "$@"; key_file=$2; shift 2 ;;
        --key-file=*) key_file=${1#*=}; shift ;;
        -i | --interval) need_arg "$@"; interval=$2; shift 2 ;;
        --interval=*) interval=${1#*=}; shift ;;
        -1 | --once) once=1; shift ;;
        -v | --verbose) verbose=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

# --- settings -------------------------------------------------------------

is_uint() {
    case $1 in
        '' | *[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

# clamp N: print N limited to MIN_INTERVAL..MAX_INTERVAL (N is digits only).
clamp() {
    # Strip leading zeros and refuse absurdly long numbers before arithmetic.
    n=$(printf '%s' "$1" | sed 's/^0*//')
    [ -n "$n" ] || n=0
    if [ "${#n}" -gt 5 ]; then
        echo "$MAX_INTERVAL"
    elif [ "$n" -lt "$MIN_INTERVAL" ]; then
        echo "$MIN_INTERVAL"
    elif [ "$n" -gt "$MAX_INTERVAL" ]; then
        echo "$MAX_INTERVAL"
    else
        echo "$n"
    fi
}

[ -n "$url" ] || die "no server URL: set OUTAGE_SERVER_URL or use --url (e.g. http://192.168.1.10:8080)"
case $url in
    http://?* | https://?*) ;;
    *) die "server URL must start with http:// or https://: $url" ;;
esac
case $url in
    *[[:space:]?#]*) die "server URL must not contain spaces, ?query or #fragment: $url" ;;
esac
# Tolerate trailing slashes and a URL that already names the endpoint.
while :; do
    case $url in
        */) url=${url%/} ;;
        *) break ;;
    esac
done
url=${url%/api/v1/heartbeat}
endpoint="$url/api/v1/heartbeat"

if [ -n "$key_file" ]; then
    [ -r "$key_file" ] || die "cannot read key file $key_file"
    key=$(tr -d ' \t\r\n' < "$key_file")
fi
[ -n "$key" ] || die "no location key: set OUTAGE_API_KEY / OUTAGE_API_KEY_FILE or use --key / --key-file"
case $key in
    *[!!-~]*) die "the location key may only contain printable ASCII characters without spaces" ;;
esac

is_uint "$interval" || die "interval must be whole seconds between $MIN_INTERVAL and $MAX_INTERVAL: $interval"
interval=$(clamp "$interval")

if [ -z "$client" ]; then
    if command -v curl > /dev/null 2>&1; then
        client=curl
    elif command -v wget > /dev/null 2>&1; then
        client=wget
    else
        die "neither curl nor wget found; install one (OpenWrt: opkg install curl)"
    fi
fi
case $client in
    curl | wget) ;;
    *) die "OUTAGE_HTTP_CLIENT must be curl or wget, not $client" ;;
esac

tmp_dir=$(mktemp -d 2> /dev/null || mktemp -d -t outage-heartbeat.XXXXXX) \
    || die "cannot create a temporary directory"
reply_file="$tmp_dir/reply"
sleep_pid=""
trap 'rm -rf "$tmp_dir"' EXIT
trap '[ -z "$sleep_pid" ] || kill "$sleep_pid" 2> /dev/null; exit 0' INT TERM HUP

# --- one heartbeat --------------------------------------------------------

read_boot_id() {
    id=""
    if [ -r "$boot_id_file" ]; then
        # Keep only characters that need no JSON escaping.
        id=$(tr -cd '0-9A-Za-z-' < "$boot_id_file" | cut -c1-64)
    fi
    printf '%s' "$id"
}

read_uptime() {
    up=""
    if [ -r "$uptime_file" ]; then
        read -r up _ < "$uptime_file" || true
        up=${up%%.*}
    fi
    is_uint "$up" || up=""
    printf '%s' "$up"
}

# body SEQ: print the JSON body.
body() {
    b="{"
    sep=""
    boot_id=$(read_boot_id)
    if [ -n "$boot_id" ]; then
        b="$b\"boot_id\":\"$boot_id\""
        sep=","
    fi
    up=$(read_uptime)
    if [ -n "$up" ]; then
        b="$b$sep\"uptime_s\":$up"
        sep=","
    fi
    printf '%s%s"seq":%s,"fw":"%s"}' "$b" "$sep" "$1" "$FW"
}

# post BODY: send it; sets http_code (000 when no answer) and reply_file.
post() {
    : > "$reply_file"
    http_code=000
    if [ "$client" = curl ]; then
        # The key goes in through stdin, not the command line (`ps` shows that).
        http_code=$(printf 'header = "Authorization: Bearer %s"\n' "$key" \
            | curl -sS -K - -m "$TIMEOUT" -o "$reply_file" -w '%{http_code}' \
                -H 'Content-Type: application/json' -H "User-Agent: $FW" \
                --data-binary "$1" "$endpoint") || http_code=${http_code:-000}
        is_uint "$http_code" || http_code=000
    else
        # wget reports HTTP errors only through its exit status. Its timeout
        # option differs (and crashes some BusyBox builds), so `timeout` bounds
        # the request where it exists.
        limit=""
        command -v timeout > /dev/null 2>&1 && limit="timeout $TIMEOUT"
        # shellcheck disable=SC2086 # $limit is empty or two words on purpose
        if $limit wget -q -O "$reply_file" \
            --header "Authorization: Bearer $key" \
            --header 'Content-Type: application/json' \
            --post-data "$1" "$endpoint"; then
            http_code=200
        else
            http_code=000
        fi
    fi
}

# next_in_s: print the server's next_in_s from the last reply, or nothing.
next_in_s() {
    sed -n 's/.*"next_in_s"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$reply_file" 2> /dev/null \
        | head -n 1
}

random_number() {
    r=$(od -An -N2 -tu2 /dev/urandom 2> /dev/null | tr -d ' \n')
    is_uint "$r" || r=$$
    printf '%s' "$r"
}

# retry_delay FAILURES: capped exponential backoff with jitter.
retry_delay() {
    cap=$interval
    [ "$cap" -ge "$RETRY_MIN_CAP" ] || cap=$RETRY_MIN_CAP
    d=$RETRY_BASE
    i=1
    while [ "$i" -lt "$1" ] && [ "$d" -lt "$cap" ]; do
        d=$((d * 2))
        i=$((i + 1))
    done
    [ "$d" -le "$cap" ] || d=$cap
    d=$((d - $(random_number) % (d / 2 + 1)))
    [ "$d" -ge 1 ] || d=1
    echo "$d"
}

# Sequence numbers count beats since boot. In loop mode they live in memory;
# --once keeps them in the state file together with the boot id.
load_seq() {
    seq=0
    if [ -r "$state_file" ]; then
        read -r saved_boot saved_seq < "$state_file" || true
        if [ "${saved_boot:-}" = "$(read_boot_id)" ] && is_uint "${saved_seq:-}"; then
            seq=$saved_seq
        fi
    fi
}

save_seq() {
    printf '%s %s\n' "$(read_boot_id)" "$seq" > "$state_file" 2> /dev/null \
        || log "cannot write $state_file (sequence numbers restart at 1)"
}

# beat: send one heartbeat; returns 0 when accepted. Sets delay for the loop.
failures=0
beat() {
    seq=$((seq + 1))
    post "$(body "$seq")"
    case $http_code in
        2??)
            if [ "$failures" -gt 0 ]; then
                log "server reachable again after $failures failed attempt(s)"
            fi
            failures=0
            n=$(next_in_s)
            if is_uint "$n"; then
                interval=$(clamp "$n")
            fi
            delay=$interval
            [ "$verbose" = 1 ] && log "beat $seq: HTTP $http_code, next in ${delay}s"
            return 0
            ;;
        401 | 403)
            log "beat $seq: HTTP $http_code: the server does not know this location key"
            failures=$((failures + 1))
            delay=$(retry_delay 99)
            ;;
        000)
            failures=$((failures + 1))
            delay=$(retry_delay "$failures")
            log "beat $seq: no answer from $endpoint; retry in ${delay}s"
            ;;
        *)
            failures=$((failures + 1))
            delay=$(retry_delay "$failures")
            log "beat $seq: HTTP $http_code from the server: $(head -c 200 "$reply_file" 2> /dev/null); retry in ${delay}s"
            ;;
    esac
    return 1
}

if [ "$once" = 1 ]; then
    load_seq
    if beat; then
        save_seq
        exit 0
    fi
    save_seq
    exit 1
fi

seq=0
[ "$verbose" = 1 ] && log "sending to $endpoint every ${interval}s using $client"
while :; do
    beat || true
    # Sleep in the background so a TERM signal ends the script at once.
    sleep "$delay" &
    sleep_pid=$!
    wait "$sleep_pid" || true
    sleep_pid=""
done
