# The offline override of e2e/kind/lib.sh (TOOLPOD_KIND_OFFLINE=1): versions of what
# build-offline builds, the network namespace and its dockerd, and PATH for the cached tools.
# Sourced by lib.sh; only variables and functions.
# shellcheck shell=bash

KIND_VERSION="${KIND_VERSION:-v0.30.0}"
# What kubeadm v1.34 deploys (build-offline checks them against `kubeadm config images list`).
KIND_ETCD_VERSION="${KIND_ETCD_VERSION:-v3.6.5}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
# Bump to rebuild the node's root filesystem (debootstrap + kind's base files).
KIND_BASE_VERSION="${KIND_BASE_VERSION:-bookworm-1}"
KIND_OFFLINE_CACHE="$TOOLPOD_CACHE/kind"
# KIND_NODE_IMAGE: offline/brokers.sh (its tag names the broker images it carries).

# dockerd and the cluster live in this network namespace; nothing of theirs touches the host's.
NETNS="${TOOLPOD_KIND_NETNS:-toolpod-kind}"
NETNS_PATH="/run/netns/$NETNS"
# dockerd's runtime state (short paths: socket path length is limited) and its persistent data
# (images survive a restart, so a warm `up` loads nothing).
DOCKER_RUN="/run/$NETNS"
DOCKER_DATA="$KIND_OFFLINE_CACHE/docker"
export DOCKER_HOST="unix://$DOCKER_RUN/docker.sock"
export NETNS

PATH="$KIND_OFFLINE_CACHE/$KIND_VERSION/bin:$TOOLPOD_CACHE/kubernetes/$K8S_VERSION/bin:$PATH"
export PATH

# netns_entered: this process runs inside $NETNS.
netns_entered() {
  [ -e "$NETNS_PATH" ] && [ "$(stat -L -c %i "$NETNS_PATH")" = "$(stat -L -c %i /proc/self/ns/net)" ]
}
