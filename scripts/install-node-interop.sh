#!/usr/bin/env bash
# Install the pinned sigstore-js packages the interop tests drive (tests/interop/sigstore_js).
# Skips the install when node_modules already matches package.json + package-lock.json (the
# test fixture writes and reads the same stamp). Without node/npm it says so and exits 0: the
# tests then skip, unless IMAGESIG_REQUIRE_NODE_INTEROP is set (CI), which makes them fail.
set -euo pipefail
cd "$(dirname "$0")/../tests/interop/sigstore_js"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "node/npm not found; the sigstore-js interop tests will be skipped" >&2
  exit 0
fi
stamp_file=node_modules/.imagesig-install-stamp
stamp="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  exit 0
fi
npm_config_update_notifier=false npm ci --no-audit --no-fund --prefer-offline --loglevel=error
echo "$stamp" >"$stamp_file"
