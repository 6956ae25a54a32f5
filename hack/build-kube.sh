#!/usr/bin/env bash
# Builds the pinned Kubernetes components and etcd from the Go module proxy, like the
# release does, into ${PODTRACE_CACHE}; a version already built is reused as it is.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at
# v0.0.0 and points them at ./staging with replace directives, which Go ignores in a
# dependency. A small wrapper module therefore replaces each staging module with its
# published v0.N.x release, generated from k8s.io/kubernetes' own go.mod.
#
#   hack/build-kube.sh                      the local cluster's components and etcd
#   hack/build-kube.sh kubeadm kube-proxy   these as well (the kind node image needs them)
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# Every command the wrapper module can build; only the requested ones are built.
ALL_KUBE_COMMANDS=("${KUBE_COMMANDS[@]}" kubeadm kube-proxy)

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Two cores: let the go command use both but keep the linker's memory use in check.
export GOMAXPROCS="${GOMAXPROCS:-2}"

# missing_commands CMD...: the commands not built yet.
missing_commands() {
  local c
  for c in "$@"; do [[ -x "${KUBE_BIN_DIR}/${c}" ]] || echo "${c}"; done
}

# build_kube CMD...: build these commands of Kubernetes ${KUBE_VERSION}.
build_kube() {
  local work="${PODTRACE_CACHE}/build/kube-${KUBE_VERSION}"
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  mkdir -p "${work}" "${KUBE_BIN_DIR}"
  cd "${work}"

  log "fetching k8s.io/kubernetes@${KUBE_VERSION} go.mod"
  local upstream_mod
  upstream_mod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "${upstream_mod}" ]] || die "could not download k8s.io/kubernetes@${KUBE_VERSION} from the Go module proxy"

  {
    echo "module podtrace.local/kubebuild"
    echo
    grep -E '^go [0-9]' "${upstream_mod}"
    grep -E '^godebug ' "${upstream_mod}" || true
    echo
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo
    echo "replace ("
    grep -E '=> \./staging/src/' "${upstream_mod}" | awk -v v="${staging_version}" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
    echo
    echo "tool ("
    for c in "${ALL_KUBE_COMMANDS[@]}"; do echo "	k8s.io/kubernetes/cmd/${c}"; done
    echo ")"
  } > go.mod
  rm -f go.sum
  log "resolving modules (first time: downloads a few hundred MiB from the Go module proxy)"
  go mod tidy

  local build_date
  build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
  done
  local c
  for c in "$@"; do
    log "building ${c} ${KUBE_VERSION}"
    go build -trimpath -ldflags "${ldflags}" -o "${KUBE_BIN_DIR}/${c}.tmp" "k8s.io/kubernetes/cmd/${c}"
    mv "${KUBE_BIN_DIR}/${c}.tmp" "${KUBE_BIN_DIR}/${c}"
  done
}

build_etcd() {
  local work="${PODTRACE_CACHE}/build/etcd-${ETCD_VERSION}"
  mkdir -p "${work}" "${ETCD_BIN_DIR}"
  cd "${work}"
  # etcd's own main package lives in a module that is not published; etcdmain is.
  cat > main.go <<'GO'
// Command etcd is the upstream etcd server, built from its published etcdmain package.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  cat > go.mod <<MOD
module podtrace.local/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
  rm -f go.sum
  go mod tidy
  log "building etcd ${ETCD_VERSION}"
  go build -trimpath -ldflags "-s -w" -o "${ETCD_BIN_DIR}/etcd.tmp" .
  mv "${ETCD_BIN_DIR}/etcd.tmp" "${ETCD_BIN_DIR}/etcd"
}

main() {
  command -v go >/dev/null || die "Go is needed to build Kubernetes (expected at /usr/local/go/bin)"
  local c missing
  for c in "$@"; do
    [[ " ${ALL_KUBE_COMMANDS[*]} " == *" ${c} "* ]] || die "unknown command ${c}; known: ${ALL_KUBE_COMMANDS[*]}"
  done
  mapfile -t missing < <(missing_commands "${KUBE_COMMANDS[@]}" "$@")
  if ((${#missing[@]} == 0)); then
    log "Kubernetes ${KUBE_VERSION} already built in ${KUBE_BIN_DIR}"
  else
    build_kube "${missing[@]}"
  fi
  if [[ -x "${ETCD_BIN_DIR}/etcd" ]]; then
    log "etcd ${ETCD_VERSION} already built in ${ETCD_BIN_DIR}"
  else
    build_etcd
  fi
}

main "$@"
