# The offline broker images (see e2e/kind/build-offline), as archives kind loads, named as
# e2e/kind/offline/manifests/kustomization.yaml expects:
#   toolpod.local/nats            nats-server from the Go module proxy (scripts/install-nats)
#   toolpod.local/kafka           Kafka's jars from Maven Central (scripts/install-kafka) on a
#                                 Debian JRE, configured from KAFKA_* like the apache/kafka image
#   toolpod.local/pubsub-emulator the emulator from this machine's Debian package
#                                 google-cloud-cli-pubsub-emulator on the same JRE, with a `gcloud`
#                                 that runs exactly `gcloud beta emulators pubsub start`
# Source it after lib.sh and offline/node.sh; only functions.
# shellcheck shell=bash

KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
BROKERS="$KIND_OFFLINE_CACHE/brokers/$KIND_BASE_VERSION-nats$NATS_SERVER_VERSION-kafka$KAFKA_VERSION"
JRE_BASE="$KIND_OFFLINE_CACHE/jre-base/$KIND_BASE_VERSION"
BROKER_ARCHIVES=("$BROKERS/nats.tar" "$BROKERS/kafka.tar" "$BROKERS/pubsub-emulator.tar")

# The node image carries the broker images (offline/node.sh), so its tag names them: the
# Kubernetes and base versions, then a digest of the archives' names, sizes and times (a rebuilt
# archive makes a new node image). Before the archives exist (`build-offline tools`): no digest.
node_image_tag() {
  local sum
  sum="$(stat -c '%n %s %Y' "${BROKER_ARCHIVES[@]}" 2>/dev/null | sha256sum | cut -c1-12)"
  echo "toolpod.local/kind-node:$K8S_VERSION-$KIND_BASE_VERSION-brokers-$sum"
}
KIND_NODE_IMAGE="$(node_image_tag)"
export KIND_NODE_IMAGE

# build_jre_base: Debian with a headless Java runtime, the first layer of Kafka and the emulator.
build_jre_base() {
  [ -f "$JRE_BASE/rootfs.tar" ] && return 0
  local r="$JRE_BASE/rootfs" start=$SECONDS
  log "debootstrapping the brokers' Java base (log: $JRE_BASE/debootstrap.log)"
  debootstrap_rootfs "$r" openjdk-17-jre-headless "$JRE_BASE/debootstrap.log"
  echo "kafka:x:1000:1000:kafka:/tmp:/usr/sbin/nologin" >>"$r/etc/passwd"
  echo "kafka:x:1000:" >>"$r/etc/group"
  tar -C "$r" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$JRE_BASE/rootfs.tar.tmp" . && mv "$JRE_BASE/rootfs.tar.tmp" "$JRE_BASE/rootfs.tar"
  rm -rf "$r"
  log "Java base ready in $((SECONDS - start))s"
}

# files_layer OUT ROOT: pack the tree ROOT as a layer owned by root.
files_layer() { tar -C "$2" --numeric-owner --owner=0 --group=0 -cf "$1" . && rm -rf "$2"; }

build_nats_image() {
  local bin
  bin="$("$TOOLPOD_ROOT/scripts/install-nats" | cut -d: -f1)"
  bin_layer "$BROKERS/nats" "$bin/nats-server" nats-server
  mkimage "$BROKERS/nats.tar" '{"Entrypoint":["/nats-server"]}' "$BROKERS/nats/layer.tar" -- \
    "$(offline_image nats)"
}

build_kafka_image() {
  local libs root="$BROKERS/kafka/root"
  libs="$("$TOOLPOD_ROOT/scripts/install-kafka")"
  rm -rf "$root" && mkdir -p "$root/opt/kafka/libs" "$root/etc/kafka/docker"
  cp "$libs"/*.jar "$root/opt/kafka/libs/"
  install -m 0755 "$KIND_DIR/offline/kafka-run" "$root/etc/kafka/docker/run"
  files_layer "$BROKERS/kafka/layer.tar" "$root"
  mkimage "$BROKERS/kafka.tar" '{"Entrypoint":["/etc/kafka/docker/run"],"User":"1000:1000","Env":["PATH=/usr/local/bin:/usr/bin:/bin"]}' \
    "$JRE_BASE/rootfs.tar" "$BROKERS/kafka/layer.tar" -- "$(offline_image apache/kafka)"
}

build_pubsub_image() {
  local sdk="/usr/lib/google-cloud-sdk" root="$BROKERS/pubsub/root"
  "$TOOLPOD_ROOT/scripts/install-pubsub-emulator" >/dev/null
  rm -rf "$root" && mkdir -p "$root$sdk/platform" "$root/usr/local/bin"
  cp -r "$sdk/platform/pubsub-emulator" "$root$sdk/platform/"
  install -m 0755 "$KIND_DIR/offline/gcloud-pubsub" "$root/usr/local/bin/gcloud"
  files_layer "$BROKERS/pubsub/layer.tar" "$root"
  mkimage "$BROKERS/pubsub-emulator.tar" '{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"]}' \
    "$JRE_BASE/rootfs.tar" "$BROKERS/pubsub/layer.tar" -- "$(offline_image google/cloud-sdk)"
}

# build_broker_images: each archive once (delete $BROKERS to rebuild).
build_broker_images() {
  mkdir -p "$BROKERS"
  [ -f "$BROKERS/nats.tar" ] || build_nats_image
  build_jre_base
  [ -f "$BROKERS/kafka.tar" ] || build_kafka_image
  [ -f "$BROKERS/pubsub-emulator.tar" ] || build_pubsub_image
}

# offline_image PUBLIC: the offline image that stands in for the public image PUBLIC.
offline_image() {
  case "$1" in
    nats) echo "toolpod.local/nats:${NATS_SERVER_VERSION#v}" ;;
    apache/kafka) echo "toolpod.local/kafka:$KAFKA_VERSION" ;;
    google/cloud-sdk)
      local v; v="$(dpkg-query -W -f '${Version}' google-cloud-cli-pubsub-emulator)"
      echo "toolpod.local/pubsub-emulator:${v%%-*}" ;;
  esac
}

# offline_manifests DIR: a kustomization that is manifests/ with the offline images (what the
# offline `up` applies instead of manifests/ itself).
offline_manifests() {
  local d="$1" public img
  mkdir -p "$d"
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\nimages:\n' \
      "$(realpath --relative-to="$d" "$TOOLPOD_ROOT/manifests")"
    for public in nats apache/kafka google/cloud-sdk; do
      img="$(offline_image "$public")"
      printf '  - name: %s\n    newName: %s\n    newTag: "%s"\n' "$public" "${img%:*}" "${img##*:}"
    done
  } >"$d/kustomization.yaml"
  echo "$d"
}
