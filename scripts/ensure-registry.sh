#!/usr/bin/env bash
# Make sure Debian's docker-registry (CNCF distribution) is installed for the integration tests.
set -euo pipefail
command -v docker-registry >/dev/null && exit 0
if ! command -v apt-get >/dev/null; then
  echo "docker-registry is missing and apt-get is not available; registry tests will be skipped" >&2
  exit 0
fi
sudo_cmd=""
[ "$(id -u)" = 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq docker-registry >/dev/null
# The package starts a system registry on :5000; the tests start their own.
$sudo_cmd systemctl disable --now docker-registry >/dev/null 2>&1 || true
