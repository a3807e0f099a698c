# Shared settings for the kind scripts (up, load, validate, down, env). Source it; it sources
# scripts/lib.sh and only defines variables and functions.
#
# Two modes, one set of scripts:
#   default   a user's machine: Docker, kind and kubectl on PATH, the public node image, kind's
#             own CNI, images pulled by the cluster.
#   offline   TOOLPOD_KIND_OFFLINE=1 (CI and the development machines, which reach no container
#             registry): e2e/kind/build-offline builds the node image and every image the
#             cluster runs; dockerd runs inside a network namespace this run creates, and every
#             command that talks to Docker or the cluster runs inside it (see README.md).
# shellcheck shell=bash
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

KIND_DIR="$TOOLPOD_ROOT/e2e/kind"
KIND_CLUSTER="${KIND_CLUSTER:-toolpod}"
KIND_CONFIG="${KIND_CONFIG:-$KIND_DIR/cluster.yaml}"
# The Kubernetes version the cluster runs (the public node image's tag, or what build-offline
# builds). 1.34: the newest minor that still runs on cgroup v1 without opting out.
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:$K8S_VERSION}"
TOOLPOD_KIND_OFFLINE="${TOOLPOD_KIND_OFFLINE:-0}"
# Where kind writes the cluster's kubeconfig (never the user's ~/.kube/config).
KIND_KUBECONFIG="${KIND_KUBECONFIG:-$TOOLPOD_CACHE/kind/$KIND_CLUSTER.kubeconfig}"
# The namespace manifests/ deploys the brokers (and their credential Secrets) into.
E2E_NAMESPACE="${E2E_NAMESPACE:-toolpod-e2e}"
export KIND_CLUSTER K8S_VERSION KIND_NODE_IMAGE TOOLPOD_KIND_OFFLINE KIND_KUBECONFIG E2E_NAMESPACE

if [ "$TOOLPOD_KIND_OFFLINE" = 1 ]; then
  source "$KIND_DIR/offline/settings.sh"
  source "$KIND_DIR/offline/node.sh"
  source "$KIND_DIR/offline/brokers.sh"
fi

# kc ARGS...: kubectl against the kind cluster.
kc() { kubectl --kubeconfig "$KIND_KUBECONFIG" "$@"; }

# cluster_exists: kind knows a cluster of this name (its node container exists).
cluster_exists() { kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; }

# in_cluster_netns "$0" "$@": offline, re-run the calling script inside the run's network
# namespace (Docker's socket, kind's API endpoint and the cluster's addresses live there). A no-op
# on a user's machine and when already inside.
in_cluster_netns() {
  [ "$TOOLPOD_KIND_OFFLINE" = 1 ] || return 0
  netns_entered && return 0
  [ -e "$NETNS_PATH" ] || die "no network namespace $NETNS; run e2e/kind/up first"
  exec nsenter --net="$NETNS_PATH" "$@"
}

# load_image_archive ARCHIVE...: put `docker save`-format archives into every node of the
# cluster (what the chart and the e2e scripts use to bring locally built images in).
load_image_archive() {
  local a
  for a in "$@"; do
    log "loading $(basename "$a") into kind cluster $KIND_CLUSTER"
    kind load image-archive --name "$KIND_CLUSTER" "$a" >/dev/null || die "kind load image-archive $a failed"
  done
}

# load_docker_image IMAGE...: put images built with `docker build` into the cluster, in one
# archive (layers the images share travel once).
load_docker_image() {
  local start=$SECONDS
  kind load docker-image --name "$KIND_CLUSTER" "$@" >/dev/null || die "kind load docker-image $* failed"
  log "loaded $* into kind cluster $KIND_CLUSTER in $((SECONDS - start))s"
}
