# Shared settings for the local cluster scripts. Source it (after nothing else); it sources
# scripts/lib.sh and defines versions, paths and small helpers, with no side effects beyond
# creating directories.
# shellcheck shell=bash
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

# Versions. Kubernetes 1.34 is the newest minor that still runs on cgroup v1 and containerd 1.6
# without opting out of anything (1.35 refuses cgroup v1 unless failCgroupV1=false); etcd 3.5 is
# a supported backend for it and its Go module builds with the installed toolchain.
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
PAUSE_VERSION="${PAUSE_VERSION:-1}"     # bump when pause/main.go changes
# The runner's base root filesystem (debootstrap); bump to force a rebuild.
RUNNER_BASE_VERSION="${RUNNER_BASE_VERSION:-bookworm-1}"
RUNNER_IMAGE="${RUNNER_IMAGE:-toolpod-runner:dev}"
PAUSE_IMAGE="toolpod.local/pause:$PAUSE_VERSION"
export K8S_VERSION ETCD_VERSION RUNNER_IMAGE PAUSE_IMAGE

E2E_DIR="$TOOLPOD_ROOT/e2e/local"
# Runtime state of the running cluster (certs, data, logs, kubeconfig); gitignored.
STATE="${TOOLPOD_LOCAL_STATE:-$E2E_DIR/.state}"
K8S_BIN="$TOOLPOD_CACHE/kubernetes/$K8S_VERSION/bin"
ETCD_BIN="$TOOLPOD_CACHE/etcd/$ETCD_VERSION/bin"
KUBECONFIG_PATH="$STATE/kubeconfig"
API_PORT="${TOOLPOD_API_PORT:-16443}"
ETCD_PORT="${TOOLPOD_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
# containerd's sockets and runtime state (socket paths must stay short); its images persist
# under $STATE/containerd so a warm start does not re-import them.
CONTAINERD_RUN=/run/toolpod-containerd
CONTAINERD_SOCK="$CONTAINERD_RUN/containerd.sock"
# The node is named by its address: kubelet refuses a loopback --node-ip, but takes the address
# from a --hostname-override that is an IP, so the API server reaches kubelet on loopback only.
NODE_NAME=127.0.0.1
export STATE KUBECONFIG_PATH API_PORT

mkdir -p "$STATE/logs" "$STATE/run"

# pid_alive NAME: is the process recorded in $STATE/run/NAME.pid running?
pid_alive() {
  local f="$STATE/run/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME CMD...: run CMD in the background, detached from this shell, logging to
# $STATE/logs/NAME.log, and record its pid. Does nothing if it is already running.
start_bg() {
  local name="$1"; shift
  if pid_alive "$name"; then return 0; fi
  log "starting $name (log: $STATE/logs/$name.log)"
  # Keep the previous run's log beside the new one for post-mortems.
  [ -f "$STATE/logs/$name.log" ] && mv -f "$STATE/logs/$name.log" "$STATE/logs/$name.prev.log"
  # 9>&-: daemons must not inherit the state lock (see lock_state).
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/run/$name.pid"
}

# write_if_changed FILE: write stdin to FILE only when it differs (a running containerd watches its
# CNI directory and reacts to every write).
write_if_changed() {
  local tmp; tmp="$(mktemp -p "$STATE/run")"
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

# wait_for DESC SECONDS CMD...: retry CMD once a second until it succeeds or time runs out.
wait_for() {
  local desc="$1" secs="$2"; shift 2
  local i
  for ((i = 0; i < secs; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  die "timed out after ${secs}s waiting for $desc"
}

# Addresses that exist only on this node. Neither range is routed anywhere, and neither is a
# private (RFC 1918) range: Service IPs are allocated but never carry traffic (no kube-proxy), and
# Pods without host networking get an address on an isolated bridge with no host address.
SERVICE_CIDR="198.19.0.0/24"
POD_CIDR="198.18.0.0/24"
PKI="$STATE/pki"
KUBELET_ROOT="$STATE/kubelet"

# kc ARGS...: kubectl as the cluster admin.
kc() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# api_ready: the API server answers /readyz with the admin credentials.
api_ready() { kc get --raw /readyz >/dev/null 2>&1; }

# lock_state: serialize up, down and image across concurrent callers (several test sessions may
# share one cluster). Held until the calling script exits; children inherit it.
lock_state() {
  [ "${TOOLPOD_LOCAL_LOCKED:-}" = 1 ] && return 0
  exec 9>"$STATE/run/lock"
  if ! flock -n 9; then
    log "waiting for another e2e/local command to finish"
    flock -w 3600 9 || die "timed out waiting for the e2e/local lock"
  fi
  export TOOLPOD_LOCAL_LOCKED=1
}
