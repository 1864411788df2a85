#!/usr/bin/env bash
# Builds the container image localhost/outage-monitor:latest from the Containerfile:
#  1. the static binary: cargo build --profile dist --target x86_64-unknown-linux-musl
#     (needs `rustup target add x86_64-unknown-linux-musl` and, for the bundled C code,
#     Debian's musl-tools; skipped with --binary PATH);
#  2. a build context with that binary, the host's CA bundle and an empty data directory;
#  3. podman build (or docker build when podman is missing).
# Usage: scripts/build-image.sh [--binary PATH] [--tag NAME]
set -euo pipefail
cd "$(dirname "$0")/.."

tag=localhost/outage-monitor:latest
binary=
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

target=x86_64-unknown-linux-musl
if [ -z "$binary" ]; then
  cargo build --profile dist --locked --target "$target" -p outage-monitor
  binary="${CARGO_TARGET_DIR:-target}/$target/dist/outage-monitor"
fi
[ -x "$binary" ] || { echo "no executable binary at $binary" >&2; exit 1; }
# The image has no libc: a dynamically linked binary would not start in it.
if command -v file >/dev/null 2>&1 && ! file -L "$binary" | grep -q 'statically linked\|static-pie'; then
  echo "$binary is not statically linked; build it for $target" >&2
  exit 1
fi

certs=
for c in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  [ -f "$c" ] && { certs=$c; break; }
done
[ -n "$certs" ] || { echo "no CA bundle found (install ca-certificates)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/outage-monitor"
cp "$certs" "$ctx/ca-certificates.crt"
mkdir "$ctx/data"
cp Containerfile "$ctx/Containerfile"

if command -v podman >/dev/null 2>&1; then
  engine=podman
elif command -v docker >/dev/null 2>&1; then
  engine=docker
else
  echo "neither podman nor docker is installed" >&2
  exit 1
fi
# podman writes OCI images by default, which have no HEALTHCHECK; the docker format keeps it.
format=()
[ "$engine" = podman ] && format=(--format docker)
"$engine" build --quiet "${format[@]}" -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
echo "built $tag with $engine ($(du -h "$binary" | cut -f1) binary)"
