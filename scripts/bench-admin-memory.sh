#!/usr/bin/env bash
# The admin panel's idle memory: RSS of `outage-monitor serve` on a fresh SQLite database with
# `[admin] enabled = true` and with it off, after `GET /readyz` answers plus a few seconds, and
# again after 100 requests to `GET /admin/login`.
#
#   cargo build --release --workspace
#   scripts/bench-admin-memory.sh [path/to/outage-monitor] [runs]
#
# Every setting but the store URL, the listen address and the admin switch keeps its default
# (no config file; inherited OUTAGE_* variables are dropped). With the panel on, a first admin
# user comes from `initial_password_file`, so /admin/login shows the real login form (with its
# CSRF cookie) rather than the "make a first user" page. With the panel off the same 100
# requests get 404, so the difference is what the panel costs. Mode `on-nouser` is the panel
# without that file: no argon2 hash at start, and /admin/login is the "make a first user" page.
#
# Bounded: 30 s to get ready, 5 s per request, 10 s to stop after SIGTERM (then SIGKILL).
set -euo pipefail

bin=${1:-${CARGO_TARGET_DIR:-target}/release/outage-monitor}
runs=${2:-3}
settle=${SETTLE_S:-3}
[[ -x $bin ]] || { echo "no executable $bin; build it with cargo build --release --workspace" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

dir=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$pid/status"; }

echo "bench-admin-memory-pass" >"$dir/password"

printf '%-9s %-4s %12s %14s %14s %10s\n' mode run "idle RSS KiB" "after 100 KiB" "VmHWM KiB" "codes"
for run in $(seq 1 "$runs"); do
    for mode in on on-nouser off; do
        admin=true; pwfile="$dir/password"
        [[ $mode == off ]] && admin=false
        [[ $mode == on-nouser ]] && pwfile=
        port=$(free_port)
        db="$dir/$mode-$run.db"
        log="$dir/$mode-$run.log"
        (
            cd "$dir"
            for v in $(env | awk -F= '/^OUTAGE_/ { print $1 }'); do unset "$v"; done
            export OUTAGE_STORE__URL="sqlite://$db" \
                OUTAGE_SERVER__LISTEN="127.0.0.1:$port" \
                OUTAGE_ADMIN__ENABLED="$admin" \
                RUST_LOG="warn"
            [[ -n $pwfile ]] && export OUTAGE_ADMIN__INITIAL_PASSWORD_FILE="$pwfile"
            exec "$bin" serve
        ) >"$log" 2>&1 </dev/null &
        pid=$!
        ready=
        for _ in $(seq 1 300); do
            if curl -fsS -m 1 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if [[ -z $ready ]]; then
            echo "server did not get ready (mode $mode); its log:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep "$settle"
        idle=$(kib VmRSS)
        codes=$(for _ in $(seq 1 100); do
            curl -s -m 5 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/admin/login"
        done | sort | uniq -c | awk '{ printf "%s×%s ", $1, $2 }')
        sleep 1
        after=$(kib VmRSS)
        hwm=$(kib VmHWM)
        printf '%-9s %-4s %12s %14s %14s %10s\n' "$mode" "$run" "$idle" "$after" "$hwm" "$codes"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { echo "did not stop in 10 s; SIGKILL" >&2; kill -KILL "$pid"; }
        wait "$pid" 2>/dev/null || true
        pid=
    done
done
