# The offline node image, in steps (see e2e/kind/build-offline). Source it after lib.sh and
# scripts/gobuild.sh; only functions.
# shellcheck shell=bash

NODE_BASE="$KIND_OFFLINE_CACHE/node-base/$KIND_BASE_VERSION"
NODE_WORK="$KIND_OFFLINE_CACHE/node/$K8S_VERSION-$KIND_BASE_VERSION"
K8S_BIN="$TOOLPOD_CACHE/kubernetes/$K8S_VERSION/bin"
# The node's packages: kind's base image list, with Debian's containerd, runc and CNI plugins.
NODE_PACKAGES=systemd,systemd-sysv,dbus,iptables,nftables,conntrack,iproute2,ethtool,kmod,libseccomp2,pigz,e2fsprogs,ca-certificates,curl,jq,procps,containerd,runc,containernetworking-plugins,util-linux,mount

build_tools() {
  build_kubernetes "$K8S_VERSION" kubeadm kubelet kubectl kube-apiserver kube-controller-manager \
    kube-scheduler kube-proxy
  build_go_module etcd "$KIND_ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3
  build_go_module coredns "$COREDNS_VERSION" github.com/coredns/coredns github.com/coredns/coredns
  build_go_module crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools sigs.k8s.io/cri-tools/cmd/crictl
  build_go_module kind "$KIND_VERSION" sigs.k8s.io/kind sigs.k8s.io/kind
  build_pause_layer
}

# The sandbox ("pause") image's one binary, built from offline/pause/main.go. Bump PAUSE_VERSION
# when main.go changes.
PAUSE_VERSION="${PAUSE_VERSION:-1}"
PAUSE_LAYER="$TOOLPOD_CACHE/pause/$PAUSE_VERSION/layer.tar"
build_pause_layer() {
  [ -f "$PAUSE_LAYER" ] && return 0
  local d; d="$(dirname "$PAUSE_LAYER")"
  mkdir -p "$d/root"
  (cd "$KIND_DIR/offline/pause" && CGO_ENABLED=0 GO111MODULE=off go build -trimpath -ldflags='-s -w' \
    -o "$d/root/pause" main.go) || die "building the pause binary failed"
  tar -C "$d/root" --numeric-owner --owner=0 --group=0 -cf "$PAUSE_LAYER" ./pause && rm -rf "$d/root"
}

# kind_module: kind's source (its base image files), from the Go module cache.
kind_module() { go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir; }

# build_node_rootfs: debootstrap plus the steps of kind's images/base/Dockerfile, packed as
# $NODE_BASE/rootfs.tar. Cached per KIND_BASE_VERSION (~2 minutes once).
build_node_rootfs() {
  [ -f "$NODE_BASE/rootfs.tar" ] && return 0
  local r="$NODE_BASE/rootfs" start=$SECONDS
  log "debootstrapping the kind node's root filesystem (log: $NODE_BASE/debootstrap.log)"
  debootstrap_rootfs "$r" "$NODE_PACKAGES" "$NODE_BASE/debootstrap.log"
  add_kind_base_files "$r" "$(kind_module)/images/base/files"
  tar -C "$r" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$NODE_BASE/rootfs.tar.tmp" . && mv "$NODE_BASE/rootfs.tar.tmp" "$NODE_BASE/rootfs.tar"
  log "node root filesystem ready in $((SECONDS - start))s"
}

# add_kind_base_files ROOT FILES: kind's base image files and setup, with Debian's containerd.
add_kind_base_files() {
  local r="$1" k="$2"
  install -m 0755 "$k"/usr/local/bin/* "$r/usr/local/bin/"
  mkdir -p "$r/kind/bin" "$r/etc/containerd" "$r/etc/default" "$r/etc/sysctl.d" \
    "$r/etc/systemd/system/kubelet.service.d" "$r/etc/kubernetes/manifests" "$r/kind/manifests"
  cp -r "$k/kind/." "$r/kind/" && chmod -R u+w "$r/kind" && chmod 0755 "$r/kind/bin"/*
  install -m 0644 "$k/etc/crictl.yaml" "$r/etc/"
  install -m 0644 "$k"/etc/containerd/* "$r/etc/containerd/"
  install -m 0644 "$k"/etc/default/* "$r/etc/default/"
  install -m 0644 "$k"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  install -m 0644 "$k"/etc/systemd/system/*.service "$k"/etc/systemd/system/*.slice "$r/etc/systemd/system/"
  install -m 0644 "$k"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  # As kind's Dockerfile: only the services a node needs start.
  find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/* \
    "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/sockets.target.wants/*udev* \
    "$r"/lib/systemd/system/sockets.target.wants/*initctl* "$r"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >>"$r/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
  add_offline_differences "$r"
  chroot "$r" /usr/bin/ctr oci spec |
    jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"} | del(.process.rlimits)' \
      >"$r/etc/containerd/cri-base.json"
  chroot "$r" systemctl enable kubelet.service containerd.service undo-mount-hacks.service >/dev/null 2>&1
  chroot "$r" systemctl mask systemd-binfmt.service >/dev/null 2>&1
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/var/log/*.log
}

# add_offline_differences ROOT: Debian's containerd, runc and CNI plugins where kind expects its
# own; the bridge CNI (kindnetd is not buildable from the module proxy); no oom_score_adj below
# zero (these machines withhold CAP_SYS_RESOURCE).
add_offline_differences() {
  local r="$1"
  ln -sf /usr/bin/containerd "$r/usr/local/bin/containerd"
  install -m 0755 "$KIND_DIR/offline/ctr-wrapper" "$r/usr/local/bin/ctr"
  mkdir -p "$r/opt/cni" "$r/etc/cni/net.d" && rm -rf "$r/opt/cni/bin" && ln -s /usr/lib/cni "$r/opt/cni/bin"
  install -m 0644 "$KIND_DIR/offline/10-bridge.conflist" "$r/etc/cni/net.d/"
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$r/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$r/etc/containerd/config.toml" ||
    die "kind's containerd config changed: restrict_oom_score_adj not found"
}

# image_tag NAME: the tag kubeadm wants for image NAME (kube-apiserver, etcd, coredns, ...).
image_tag() { "$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | grep "/$1:"; }

# bin_layer DIR SRC DEST: a layer holding one executable at DEST.
bin_layer() {
  rm -rf "$1/root" && mkdir -p "$1/root/$(dirname "$3")"
  install -m 0755 "$2" "$1/root/$3"
  tar -C "$1/root" --numeric-owner --owner=0 --group=0 -cf "$1/layer.tar" . && rm -rf "$1/root"
}

# mkimage OUT CONFIG LAYER... -- TAG...: an image archive (offline/mkimage.py).
mkimage() {
  local out="$1" cfg="$2" layers=() tags=(); shift 2
  while [ "$1" != -- ]; do layers+=("$1"); shift; done; shift
  for t in "$@"; do tags+=(--tag "$t"); done
  python3 "$KIND_DIR/offline/mkimage.py" --out "$out" --config "$cfg" "${tags[@]}" "${layers[@]}" >/dev/null
}

# build_image_archives: every image kubeadm lists, from the binaries built here, as archives under
# $NODE_WORK/images (tags come from kubeadm and containerd's config, never written here).
build_image_archives() {
  local i="$NODE_WORK/images" l="$NODE_WORK/layers" path='{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}'
  [ -f "$i/.done" ] && return 0
  mkdir -p "$i" "$l"
  check_versions
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    bin_layer "$l/$c" "$K8S_BIN/$c" "usr/local/bin/$c"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    mkimage "$i/$c.tar" "$path" "$l/$c/layer.tar" -- "$(image_tag "$c")"
  done
  # kube-proxy runs iptables, conntrack and friends: the node's Debian userland beneath it.
  mkimage "$i/kube-proxy.tar" "$path" "$NODE_BASE/rootfs.tar" "$l/kube-proxy/layer.tar" -- "$(image_tag kube-proxy)"
  bin_layer "$l/etcd" "$TOOLPOD_CACHE/etcd/$KIND_ETCD_VERSION/bin/etcd" usr/local/bin/etcd
  mkimage "$i/etcd.tar" "$path" "$l/etcd/layer.tar" -- "$(image_tag etcd)"
  bin_layer "$l/coredns" "$TOOLPOD_CACHE/coredns/$COREDNS_VERSION/bin/coredns" coredns
  mkimage "$i/coredns.tar" '{"Entrypoint":["/coredns"]}' "$l/coredns/layer.tar" -- "$(image_tag coredns)"
  mkimage "$i/pause.tar" '{"Entrypoint":["/pause"],"User":"65535:65535"}' \
    "$PAUSE_LAYER" -- "$(image_tag pause)" "$(sandbox_image)"
  touch "$i/.done"
}

# sandbox_image: the pause image kind's containerd config names.
sandbox_image() { sed -n 's/^[[:space:]]*sandbox_image = "\(.*\)"/\1/p' "$NODE_BASE/rootfs/etc/containerd/config.toml"; }

# check_versions: what is built must be what kubeadm deploys.
check_versions() {
  image_tag etcd | grep -q ":${KIND_ETCD_VERSION#v}-" || die "kubeadm wants $(image_tag etcd); set KIND_ETCD_VERSION"
  image_tag coredns | grep -q ":$COREDNS_VERSION\$" || die "kubeadm wants $(image_tag coredns); set COREDNS_VERSION"
}

# build_node_image: kind's node-image build, done here (the run's dockerd must be up): import the
# root filesystem, copy Kubernetes in, import the images into the node's containerd, commit.
build_node_image() {
  KIND_NODE_IMAGE="$(node_image_tag)"  # the broker archives may have been built since sourcing
  docker image inspect "$KIND_NODE_IMAGE" >/dev/null 2>&1 && return 0
  local base="toolpod.local/kind-base:$KIND_BASE_VERSION" c=toolpod-kind-build start=$SECONDS
  log "building the node image $KIND_NODE_IMAGE"
  docker image inspect "$base" >/dev/null 2>&1 ||
    docker import --change 'ENV container=docker' "$NODE_BASE/rootfs.tar" "$base" >/dev/null
  docker rm -f "$c" >/dev/null 2>&1 || true
  docker run -d --name "$c" --entrypoint sleep --security-opt seccomp=unconfined "$base" infinity >/dev/null
  node_overlay "$NODE_WORK/overlay"
  docker cp "$NODE_WORK/overlay/." "$c:/"
  docker cp "$NODE_WORK/images" "$c:/kind/images"
  # The brokers' images too: every new cluster then has them, instead of `kind load`ing ~600 MB
  # on each `up` (the node image's tag names these archives, see node_image_tag).
  for a in "${BROKER_ARCHIVES[@]}"; do docker cp "$a" "$c:/kind/images/broker-$(basename "$a")"; done
  docker exec "$c" bash -ec '
    nohup containerd >/tmp/containerd.log 2>&1 &
    for i in $(seq 50); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.2; done
    for a in /kind/images/*.tar; do /usr/bin/ctr -n k8s.io images import --no-unpack "$a" >/dev/null; done
    /usr/bin/ctr -n k8s.io images list -q
    kill %1; wait || true
    rm -rf /kind/images /tmp/containerd.log' >"$NODE_WORK/images.list" ||
    { docker rm -f "$c" >/dev/null; die "importing the images into the node failed"; }
  # (kind's base also sets STOPSIGNAL SIGRTMIN+3, which `docker commit` cannot; kind removes
  # its nodes with `docker rm -f`, so no stop signal is ever sent.)
  docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' "$c" "$KIND_NODE_IMAGE" >/dev/null
  docker rm -f "$c" >/dev/null
  rm -rf "$NODE_WORK/overlay"
  log "built $KIND_NODE_IMAGE in $((SECONDS - start))s"
  remove_stale_node_images
}

# remove_stale_node_images: node images of earlier versions or broker sets (each ~1.5 GB).
remove_stale_node_images() {
  local img
  docker image ls --format '{{.Repository}}:{{.Tag}}' toolpod.local/kind-node | while read -r img; do
    [ "$img" = "$KIND_NODE_IMAGE" ] || docker image rm "$img" >/dev/null 2>&1 || true
  done
}

# node_overlay DIR: the files build_node_image copies into the base.
node_overlay() {
  local d="$1" b
  rm -rf "$d" && mkdir -p "$d/usr/bin" "$d/usr/local/bin" "$d/kind/manifests"
  for b in kubeadm kubelet kubectl; do install -m 0755 "$K8S_BIN/$b" "$d/usr/bin/"; done
  install -m 0755 "$TOOLPOD_CACHE/crictl/$CRICTL_VERSION/bin/crictl" "$d/usr/local/bin/"
  echo "$K8S_VERSION" >"$d/kind/version"
  # kind's fallback StorageClass, written so that kind does not look for a provisioner image.
  cat >"$d/kind/manifests/default-storage.yaml" <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
YAML
}
