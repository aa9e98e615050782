#!/usr/bin/env bash
# Installs the Debian packages the test suites start as real servers, when they are missing:
#   unbound (DNS server for the resolver, discovery and acceptance tests),
#   prometheus (scrapes the pods in the acceptance suite).
# Needs root or sudo, and apt-get; prints what it does.
set -euo pipefail

# The packaging tests render the kustomize base with `kubectl kustomize` (offline, no cluster); these
# machines have kubectl, and Debian's is too old for the overlay's `replicas` field.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "warning: kubectl is missing; the packaging tests (deploy/test) need kubectl 1.27 or later" >&2
fi

missing=()
command -v unbound >/dev/null 2>&1 || [ -x /usr/sbin/unbound ] || missing+=(unbound)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present: unbound, prometheus"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing with apt-get: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Where Debian starts the packaged services (systemd), stop them: the tests run their own instances
# on free loopback ports, and a system Prometheus would hold port 9090, which the simulated pods use.
for service in unbound prometheus; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    $sudo systemctl stop "$service" || true
  fi
done
echo "installed: ${missing[*]}"
