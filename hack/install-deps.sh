#!/usr/bin/env bash
# Installs what the local cluster and the test suite need from the machine's own package
# registries, and only what is missing, so a second run does nothing:
#   - Debian packages: the container runtime (containerd, runc), CNI plugins, iptables and
#     the tools the kubelet calls (conntrack, socat, iproute2), the local image registry
#     (docker-registry) and the tools that build the test images without Docker
#     (busybox-static, umoci, skopeo), plus openssl, jq and curl for the scripts, GNU
#     time for the benchmark's whole-process CPU and memory figures, and tmux, zsh and
#     fish for the tests of the terminal table and the completion scripts;
#   - Node.js 24 from the npm registry when the machine's Node is older than 22.
#
#   hack/install-deps.sh            what the local cluster needs
#   hack/install-deps.sh --podman   also podman and debootstrap, for kind without Docker
#                                   (hack/kind.sh, hack/build-kind-node.sh)
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

DEBIAN_PACKAGES=(
  containerd runc containernetworking-plugins iptables conntrack socat iproute2
  docker-registry skopeo umoci busybox-static
  openssl jq curl ca-certificates util-linux time
  # The tests: the table in a real terminal (tmux), the completion scripts (zsh, fish).
  tmux zsh fish
)
PODMAN_PACKAGES=(podman netavark aardvark-dns debootstrap)
if [[ "${1:-}" == --podman ]]; then
  DEBIAN_PACKAGES+=("${PODMAN_PACKAGES[@]}")
fi

missing_packages() {
  local p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}\n' "${p}" 2>/dev/null | grep -qx installed || echo "${p}"
  done
}

install_debian_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    log "Debian packages already installed"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d refuses service starts: docker-registry and containerd must not be started
  # as system services; the cluster scripts run their own instances with their own config.
  local policy=/usr/sbin/policy-rc.d created_policy=false
  if [[ ! -e "${policy}" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod +x "${policy}"
    created_policy=true
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" || {
    [[ "${created_policy}" == true ]] && rm -f "${policy}"
    die "apt-get install failed"
  }
  [[ "${created_policy}" == true ]] && rm -f "${policy}"
  return 0
}

node_major() {
  local node="$1"
  [[ -x "${node}" ]] || command -v "${node}" >/dev/null 2>&1 || { echo 0; return; }
  "${node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

install_node() {
  local system_major
  system_major="$(node_major node)"
  if ((system_major >= 22)); then
    log "Node $(node --version) on PATH is recent enough"
    return
  fi
  if (($(node_major "${NODE_BIN_DIR}/node") >= 22)); then
    log "Node $("${NODE_BIN_DIR}/node" --version) already installed in ${NODE_PREFIX}"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    # Debian's npm brings a Node old enough to run npm; it installs the real one below.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  npm_without_unknown_user_config
  log "installing Node ${NODE_MAJOR} into ${NODE_PREFIX} (the machine's Node is too old)"
  mkdir -p "${NODE_PREFIX}"
  npm install --prefix "${NODE_PREFIX}" --no-audit --no-fund "node@${NODE_MAJOR}"
  (($(node_major "${NODE_BIN_DIR}/node") >= 22)) || die "Node ${NODE_MAJOR} did not install into ${NODE_PREFIX}"
}

main() {
  require_root
  install_debian_packages
  install_node
  command -v go >/dev/null 2>&1 \
    || log "warning: no Go toolchain on PATH; hack/build-kube.sh needs one unless the binaries are cached"
}

main "$@"
