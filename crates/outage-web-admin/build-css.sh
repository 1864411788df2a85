#!/bin/sh
# Rebuilds assets/admin.css from assets/input.css and the templates (Tailwind v4, npm).
# CI runs it and then `git diff --exit-code assets/admin.css`: commit the output.
set -eu
cd "$(dirname "$0")"
if [ ! -x node_modules/.bin/tailwindcss ]; then
  npm ci --no-audit --no-fund
fi
node_modules/.bin/tailwindcss -i assets/input.css -o assets/admin.css --minify
