#!/usr/bin/env bash
# Installs the Debian packages the test suites start as real servers, when they are missing:
#   unbound (DNS server for the resolver and discovery tests).
# Needs root or sudo, and apt-get; prints what it does.
set -euo pipefail

missing=()
command -v unbound >/dev/null 2>&1 || [ -x /usr/sbin/unbound ] || missing+=(unbound)

if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present: unbound"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing with apt-get: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged unbound service on port 53; the tests run their own instances.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet unbound 2>/dev/null; then
  $sudo systemctl stop unbound || true
fi
echo "installed: ${missing[*]}"
