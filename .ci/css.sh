#!/usr/bin/env bash
# The admin panel's CSS is compiled at development time (Tailwind v4 from npm) and committed;
# the binary embeds the committed file. This rebuilds it from the templates and fails when the
# result differs from what is committed, so a template change without a rebuilt CSS is caught.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs and npm"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

crate=crates/outage-web-admin
timeout 300 sh "$crate/build-css.sh"
if ! git diff --exit-code --stat -- "$crate/assets/admin.css"; then
  echo "error: $crate/assets/admin.css is not what the templates compile to;" >&2
  echo "       run: sh $crate/build-css.sh   and commit the result" >&2
  exit 1
fi
echo "admin.css matches the templates"
