#!/usr/bin/env bash
# Puts every package the example application installs (examples/peer-discovery-app/package-lock.json, the
# exact versions, this machine's platform packages only) into an npm cache of its own:
#   ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/npm
# so that the test that installs the packed library into a fresh copy of the example
# (examples/test/example-app.test.ts) runs `npm ci --offline` from it and asks no registry. This is the one
# step that downloads (from the npm registry npm is configured with); scripts/install-test-deps.sh runs it.
# A stamp keyed by the lock file's hash and the platform makes a second run fetch nothing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$repo/examples/peer-discovery-app/package-lock.json"
cache="${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}"
mkdir -p "$cache/stamps"
npm_cache="$cache/npm"
stamp="$cache/stamps/example-npm-cache"
key="$(sha256sum "$lock" | cut -c1-16) $(node -p 'process.platform + "-" + process.arch')"

if [ -d "$npm_cache" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  echo "example app's npm packages: in $npm_cache already, nothing fetched"
  exit 0
fi
mapfile -t packages < <(node "$repo/scripts/example-lock-packages.mjs" "$lock")
if [ ${#packages[@]} -eq 0 ]; then
  echo "error: $lock lists no packages" >&2
  exit 1
fi
start="$(date +%s)"
npm cache add --cache "$npm_cache" --no-audit --no-fund "${packages[@]}"
printf '%s' "$key" >"$stamp"
echo "example app's npm packages: ${#packages[@]} cached in $npm_cache in $(( $(date +%s) - start )) s"
