# Go builds from the Go module proxy, once per version, into the toolpod cache. Source it (after
# scripts/lib.sh); it only defines functions. Used by e2e/kind/build-offline.
#
# k8s.io/kubernetes is not meant to be a dependency: its go.mod points every k8s.io staging module
# at ./staging. A small wrapper module, generated here (never committed), requires it and replaces
# each staging module with its published version (v0.X.Y for Kubernetes v1.X.Y).
# shellcheck shell=bash

# Go builds run beside other work on small machines: bound the parallelism.
GO_BUILD_PARALLELISM="${GO_BUILD_PARALLELISM:-2}"

# Every Kubernetes command either cluster needs. The wrapper module always imports them all, so
# its go.sum serves whichever subset a caller builds.
K8S_ALL_COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kubeadm kube-proxy)

go_build() { # go_build OUT PKG... (in the current module; OUT ending in / is a directory)
  local out="$1"; shift
  CGO_ENABLED=0 nice -n 10 go build -p "$GO_BUILD_PARALLELISM" -trimpath -o "$out" \
    -ldflags="-s -w ${LDFLAGS_EXTRA:-}" "$@"
}

# write_k8s_wrapper DIR VERSION: the generated module that builds Kubernetes' commands.
write_k8s_wrapper() {
  local dir="$1" version="$2" staging_version="v0${2#v1}" kmod c
  mkdir -p "$dir"
  kmod="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    printf 'module toolpod.local/k8sbuild\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
      "$(sed -n 's/^go //p' "$kmod")" "$version"
    # Every staging module kubernetes replaces locally, at its published version.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod" |
      while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
    echo ")"
  } >"$dir/go.mod"
  {
    printf '//go:build tools\n\n// Package tools pins the commands built from this module.\npackage tools\n\nimport (\n'
    for c in "${K8S_ALL_COMPONENTS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
    echo ")"
  } >"$dir/tools.go"
}

# k8s_ldflags VERSION: the version stamps kubelet, kubeadm and the apiserver report and check
# skew against each other.
k8s_ldflags() {
  local v="$1" minor="${1#v1.}"; minor="${minor%%.*}"
  echo "-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean" \
    "-X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1" \
    "-X k8s.io/client-go/pkg/version.gitMinor=$minor"
}

# build_kubernetes VERSION COMPONENT...: build the missing ones into
# $TOOLPOD_CACHE/kubernetes/VERSION/bin (binaries already there are kept: a second caller that
# needs more commands builds only those, reusing the Go build cache). Serialized by a lock.
build_kubernetes() {
  local version="$1"; shift
  local root="$TOOLPOD_CACHE/kubernetes/$version" missing=() c
  local bin="$root/bin"
  mkdir -p "$root"
  exec {lock}>"$root/build.lock" && flock "$lock"
  for c in "$@"; do [ -x "$bin/$c" ] || missing+=("$c"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "building Kubernetes $version (${missing[*]}); cold, this takes a while (log: $root/build.log)"
    local start=$SECONDS
    write_k8s_wrapper "$root/src" "$version"
    rm -rf "$root/bin.tmp"
    (cd "$root/src" && go mod tidy && LDFLAGS_EXTRA="$(k8s_ldflags "$version")" \
      go_build "$root/bin.tmp/" "${missing[@]/#/k8s.io/kubernetes/cmd/}") >"$root/build.log" 2>&1 \
      || die "Kubernetes build failed; see $root/build.log"
    mkdir -p "$bin" && mv "$root/bin.tmp"/* "$bin/" && rmdir "$root/bin.tmp"
    log "built Kubernetes $version (${missing[*]}) in $((SECONDS - start))s"
  fi
  exec {lock}>&-
}

# build_go_module NAME VERSION MODULE PKG [BINARY]: build PKG (a package of MODULE@VERSION) in a
# generated wrapper module into $TOOLPOD_CACHE/NAME/VERSION/bin/BINARY (default: NAME). A wrapper
# module, not `go install`, because some of these modules carry replace directives.
build_go_module() {
  local name="$1" version="$2" module="$3" pkg="$4" binary="${5:-$1}"
  local root="$TOOLPOD_CACHE/$name/$version"
  [ -x "$root/bin/$binary" ] && return 0
  log "building $name $version (log: $root/build.log)"
  local start=$SECONDS
  rm -rf "$root/src" "$root/bin.tmp" && mkdir -p "$root/src"
  (
    cd "$root/src"
    printf 'module toolpod.local/%sbuild\n\ngo 1.23\n\nrequire %s %s\n' "$name" "$module" "$version" >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >tools.go
    go mod tidy
    go_build "$root/bin.tmp/$binary" "$pkg"
  ) >"$root/build.log" 2>&1 || die "$name build failed; see $root/build.log"
  rm -rf "$root/bin" && mv "$root/bin.tmp" "$root/bin"
  log "built $name $version in $((SECONDS - start))s"
}
