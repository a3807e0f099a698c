# Shared helpers for toolpod's own scripts. Source it; it defines no side effects beyond vars.
#
# Everything a script installs lives under $TOOLPOD_CACHE, one folder per tool and version, so a
# second run (or a CI run on the same machine) reuses it and a version bump installs beside it.
# Nothing under the cache is ever committed.
set -euo pipefail

TOOLPOD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLPOD_CACHE="${TOOLPOD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/toolpod}"
TOOLPOD_VENV="${TOOLPOD_VENV:-$TOOLPOD_ROOT/.venv}"
export TOOLPOD_ROOT TOOLPOD_CACHE TOOLPOD_VENV
mkdir -p "$TOOLPOD_CACHE"

# Versions the test environment pins; the manifests deploy the same ones.
NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.12.15}"
NATSCLI_VERSION="${NATSCLI_VERSION:-v0.5.1}"
export NATS_SERVER_VERSION NATSCLI_VERSION

log() { printf '[toolpod %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# apt_install PKG...: install Debian packages once; `apt-get update` only when something is missing.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# debian_mirror: the Debian archive this host's apt already uses (never hard-coded here).
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' | head -1)"
  [ -n "$uri" ] || uri="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1)"
  [ -n "$uri" ] || die "cannot find the Debian mirror in apt's sources; set DEBIAN_MIRROR"
  echo "$uri"
}

# debootstrap_rootfs DIR PACKAGES LOG: a minimal Debian bookworm root filesystem with PACKAGES
# (comma-separated) in DIR, from this host's Debian mirror. The caller caches DIR.
debootstrap_rootfs() {
  apt_install debootstrap
  rm -rf "$1" && mkdir -p "$1"
  debootstrap --variant=minbase --include="$2" bookworm "$1" "$(debian_mirror)" >"$3" 2>&1 ||
    die "debootstrap failed; see $3"
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log
}
