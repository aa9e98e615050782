#!/usr/bin/env bash
# Updates examples/peer-discovery-app/package-lock.json from the npm registry, after a change of the
# example's dependencies or of the library's own (its dependencies and peerDependencies are in the lock, in
# the entry of the tarball). Versions the lock already pins stay as they are where they still fit.
#
#   bash scripts/update-example-lock.sh
#
# The lock names the library by its tarball, file:miroir-peer-discovery-<version>.tgz, without an integrity
# hash: each build packs a new tarball, and `npm ci` takes the one next to package.json.
# Then run scripts/cache-example-deps.sh (scripts/install-test-deps.sh does) before the tests.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="$repo/examples/peer-discovery-app"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$example/package.json" "$work/"
[ -f "$example/package-lock.json" ] && cp "$example/package-lock.json" "$work/"
bash "$repo/scripts/pack-library.sh" --no-check "$work" >/dev/null
# Registry URLs left out (as this machine's npmrc does anyway): the lock works with any registry or mirror.
(cd "$work" && npm install --package-lock-only --omit-lockfile-registry-resolved --no-audit --no-fund)
node -e '
  const fs = require("node:fs")
  const [from, to] = process.argv.slice(1)
  const lock = JSON.parse(fs.readFileSync(from, "utf8"))
  for (const entry of Object.values(lock.packages)) {
    if (entry.resolved !== undefined && entry.resolved.startsWith("file:")) delete entry.integrity
  }
  fs.writeFileSync(to, JSON.stringify(lock, null, 2) + "\n")
' "$work/package-lock.json" "$example/package-lock.json"
echo "wrote $example/package-lock.json"
