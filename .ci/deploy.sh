#!/usr/bin/env bash
# Deployment checks (issue 16), called by .ci/run in two phases:
#   .ci/deploy.sh build   mdbook (once) and the static musl binary (profile dist), started in
#                         the background by .ci/run before the tests, so its ~10 CPU-minutes
#                         fill what the steps that follow leave idle
#   .ci/deploy.sh check   on that binary: --version, size, a heartbeat round trip (migrate,
#                         location add, serve, beats on /api/v1/heartbeat and the classic
#                         /api/heartbeat/, /readyz, healthcheck); the container image built
#                         from it with podman and run — or, where this kernel refuses to run
#                         containers, the same checks on the binary copied out of the image;
#                         the compose file and systemd unit tests; mdbook build + link check.
# Installs what is missing (musl target and musl-tools, podman, mdbook) and caches tools under
# ~/.cargo/bin. Prints one summary line per part.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/outage-monitor/target}"
export PATH="$HOME/.cargo/bin:$PATH"
target=x86_64-unknown-linux-musl
# Its own target directory: cargo locks a target directory per build, and this build runs
# while the other steps use the main one.
musl_dir="${OUTAGE_MUSL_TARGET_DIR:-$HOME/.cache/outage-monitor/target-musl}"
bin="$musl_dir/$target/dist/outage-monitor"
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

build() {
  install_mdbook
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  # aws-lc-sys and SQLite are C: the cc crate needs a musl C compiler for this target.
  command -v musl-gcc >/dev/null 2>&1 || apt_install musl-tools
  # For `check`; installed here, while no other step uses apt.
  command -v podman >/dev/null 2>&1 || apt_install podman
  local t0=$SECONDS
  CARGO_TARGET_DIR="$musl_dir" cargo build --profile dist --locked --target "$target" -p outage-monitor
  echo "musl build: $((SECONDS - t0)) s"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# round_trip BINARY LABEL: the binary alone on a fresh SQLite file, as a user would run it.
round_trip() {
  local b=$1 label=$2 work port key t0 ready_ms code
  work=$(mktemp -d)
  port=$(free_port)
  (
    cd "$work"
    export OUTAGE_STORE__URL="sqlite://$work/om.db" OUTAGE_SERVER__LISTEN="127.0.0.1:$port"
    unset OUTAGE_CONFIG DATABASE_URL
    "$b" migrate >/dev/null
    key=$("$b" location add --name Home --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
    t0=$(date +%s%N)
    "$b" serve >"$work/serve.log" 2>&1 &
    local server=$!
    trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 200); do
      "$b" healthcheck --timeout 1s >/dev/null 2>&1 && break
      sleep 0.05
    done
    ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    "$b" healthcheck >/dev/null || { echo "$label: not ready: $(tail -3 "$work/serve.log")"; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $key" \
      "http://127.0.0.1:$port/api/v1/heartbeat")
    [ "$code" = 200 ] || { echo "$label: /api/v1/heartbeat answered $code"; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-API-Key: $key" \
      --data 'status=alive' "http://127.0.0.1:$port/api/heartbeat/")
    [ "$code" = 200 ] || { echo "$label: /api/heartbeat/ answered $code"; exit 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
    [ "$code" = 200 ] || { echo "$label: /readyz answered $code"; exit 1; }
    "$b" location list --json | python3 -c 'import json,sys; l=json.load(sys.stdin); assert l[0]["status"]=="up", l'
    echo "$label: migrate, location add, serve ready in ${ready_ms} ms, heartbeats 200 on /api/v1/heartbeat and /api/heartbeat/, /readyz 200, healthcheck ok"
  )
  rm -rf "$work"
}

check() {
  [ -x "$bin" ] || { echo "no musl binary at $bin (run .ci/deploy.sh build)"; exit 1; }
  file -L "$bin" | grep -q 'static-pie linked\|statically linked' || { echo "$bin is not static"; exit 1; }
  local size_mb
  size_mb=$(python3 -c "import os; print(f'{os.path.getsize(\"$bin\")/1048576:.1f}')")
  echo "static binary: $("$bin" --version), ${size_mb} MiB"
  round_trip "$bin" "static binary"

  # The image: building it must not be skipped; running it may be refused by the kernel.
  command -v podman >/dev/null 2>&1 || apt_install podman
  bash scripts/build-image.sh --binary "$bin" --tag localhost/outage-monitor:ci
  local img=localhost/outage-monitor:ci
  # Older podman (Debian 12's 4.3) reports the health check beside Config, newer ones inside it.
  podman image inspect "$img" | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]
c = d["Config"]
c.setdefault("Healthcheck", d.get("Healthcheck"))
assert c["User"] == "65532:65532", c["User"]
assert "/data" in c["Volumes"], c
assert c["Entrypoint"] == ["/outage-monitor"] and c["Cmd"] == ["serve"], c
assert c["Healthcheck"]["Test"] == ["CMD", "/outage-monitor", "healthcheck"], c
env = dict(e.split("=", 1) for e in c["Env"])
assert env["OUTAGE_SERVER__LISTEN"] == "0.0.0.0:8080" and env["OUTAGE_STORE__URL"].startswith("sqlite:///data/"), env
'
  echo "image: $img, $(podman image inspect --format '{{.Size}}' "$img" | awk '{printf "%.1f MiB", $1/1048576}'), non-root, /data volume, HEALTHCHECK healthcheck"
  local err
  if err=$(podman run --rm "$img" --version 2>&1); then
    container_run "$img"
  else
    echo "podman run refused here ($(echo "$err" | tail -1)); running the checks on the binary copied out of the image"
    local ctr out
    out=$(mktemp -d)
    ctr=$(podman create "$img" 2>/dev/null)
    podman cp "$ctr:/outage-monitor" "$out/outage-monitor" 2>/dev/null
    podman rm "$ctr" >/dev/null 2>&1 || true
    cmp -s "$out/outage-monitor" "$bin" || { echo "the image's binary differs from the build"; exit 1; }
    round_trip "$out/outage-monitor" "binary from the image"
    rm -rf "$out"
  fi

  python3 .ci/compose-test.py

  book
}

# container_run IMAGE: where containers can run, the same round trip inside one.
container_run() {
  local img=$1 port name=om-ci-$$ key
  port=$(free_port)
  podman run -d --name "$name" -p "127.0.0.1:$port:8080" "$img" >/dev/null
  trap 'podman rm -f '"$name"' >/dev/null 2>&1 || true' RETURN
  local t0=$SECONDS
  until podman exec "$name" /outage-monitor healthcheck >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 20 ] || { echo "container not ready: $(podman logs "$name" 2>&1 | tail -3)"; exit 1; }
    sleep 0.2
  done
  key=$(podman exec "$name" /outage-monitor location add --name Home --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  curl -fsS -X POST -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/heartbeat" >/dev/null
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
  echo "container: ready in $((SECONDS - t0)) s, location added, heartbeat 200, /readyz 200"
}

install_mdbook() {
  if ! command -v mdbook >/dev/null 2>&1; then
    local t0=$SECONDS
    # Its own target directory, so it does not wait for the lock of the main one.
    CARGO_TARGET_DIR="$HOME/.cache/outage-monitor/target-tools" cargo install --locked --quiet \
      mdbook --version '^0.4' --no-default-features --features search
    echo "mdbook installed in $((SECONDS - t0)) s"
  fi
}

book() {
  install_mdbook
  local out
  out=$(mktemp -d)
  if ! mdbook build book -d "$out" >"$out.log" 2>&1 || grep -q '\[ERROR\]\|\[WARN\]' "$out.log"; then
    cat "$out.log"
    echo "mdbook build failed or warned (above)"
    exit 1
  fi
  rm -f "$out.log"
  python3 .ci/book-links.py "$out"
  rm -rf "$out"
}

case "${1:-}" in
  build) build ;;
  check) check ;;
  book) book ;;
  *) echo "usage: $0 build|check|book" >&2; exit 2 ;;
esac
