#!/usr/bin/env bash
# Packs the library @miroir/peer-discovery as it would be published, and checks the tarball:
#
#   bash scripts/pack-library.sh [--no-check] [DEST]    (prints the tarball's path)
#
# DEST defaults to ${TMPDIR:-/tmp}/miroir-peer-discovery-pack, outside the repository.
#
# `pnpm pack` runs the package's prepack (a clean build of dist/), rewrites workspace: ranges and applies
# publishConfig (the published exports have no @miroir/source condition). Then, on the tarball itself
# (skipped with --no-check, for callers that run them on their own):
#   publint --strict            the package.json fields against the files that are really there;
#   attw --profile esm-only     the types as TypeScript resolves them (node16 from ESM, bundler); the package
#                               is ESM only, like effect 4, so node10 and require() from CommonJS are left out.
# Nothing is downloaded: both tools are devDependencies of the workspace.
set -euo pipefail

check=yes
if [ "${1:-}" = "--no-check" ]; then
  check=no
  shift
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${TMPDIR:-/tmp}/miroir-peer-discovery-pack}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
library="$repo/packages/peer-discovery"

# pnpm's own output (the build's among it) goes to stderr: stdout is the tarball's path only.
(cd "$library" && pnpm pack --pack-destination "$dest" >&2)
# pnpm names it after the package: @scope/name@version -> scope-name-version.tgz
name="$(node -p 'const { name, version } = require(process.argv[1]); `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`' "$library/package.json")"
tarball="$dest/$name"
[ -f "$tarball" ] || { echo "pnpm pack left no $tarball" >&2; exit 1; }
echo "packed $tarball ($(wc -c <"$tarball") bytes)" >&2

if [ "$check" = yes ]; then
  "$repo/node_modules/.bin/publint" run "$tarball" --strict >&2
  "$repo/node_modules/.bin/attw" "$tarball" --profile esm-only --format ascii --no-color >&2
fi
echo "$tarball"
