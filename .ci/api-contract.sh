#!/usr/bin/env bash
# API contract checks against a live `outage-monitor serve` (called by .ci/run after the tests,
# so the debug binary is already built):
#  1. schemathesis (PyPI, in a cached venv) runs every check on every operation of
#     /api/v1/openapi.json — the read API with a token, the heartbeat with a location key —
#     and must find 0 failures. Bounded: a fixed example count and a time limit.
#  2. promtool (Debian's `prometheus` package) accepts /metrics.
# Installs what is missing; prints "api contract: ok" at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="${OUTAGE_CACHE_DIR:-$HOME/.cache/outage-monitor}"
venv="$cache/schemathesis-venv"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"

if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis>=4.32,<5"
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "installing promtool (Debian prometheus)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

cargo build -q -p outage-monitor
bin="$CARGO_TARGET_DIR/debug/outage-monitor"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export OUTAGE_STORE__URL="sqlite://$work/om.db" OUTAGE_SERVER__LISTEN="127.0.0.1:$port"
unset OUTAGE_CONFIG
cd "$work"
OUTAGE_ST_KEY=$("$bin" location add --name "Contract" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
OUTAGE_ST_TOKEN=$("$bin" token create --name schemathesis --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export OUTAGE_ST_KEY OUTAGE_ST_TOKEN
"$bin" serve >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "schemathesis against http://127.0.0.1:$port/api/v1/openapi.json"
timeout 600 "$venv/bin/schemathesis" --config-file "$root/.ci/schemathesis.toml" run \
  "http://127.0.0.1:$port/api/v1/openapi.json" --checks all --max-examples 40 \
  --seed 20261204 --no-color || {
  echo "schemathesis found failures (server log: $(tail -5 "$work/serve.log"))"
  exit 1
}

curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt"
echo "promtool: /metrics accepted ($(grep -c '^[a-z]' "$work/metrics.txt") samples)"
echo "api contract: ok"
