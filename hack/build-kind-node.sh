#!/usr/bin/env bash
# Builds what kind needs on a machine without Docker, from the Go module proxy and Debian
# packages only (kind's own `kind build node-image` needs Docker and pulls its base image):
#
#   kind ${KIND_VERSION}          ${KIND_BIN}
#   the node image          $(kind_node_image) in podman's storage
#
# The node image is laid out like kind's own (images/base in the kind module): a Debian
# ${DEBIAN_SUITE} root filesystem made by debootstrap, kind's files (entrypoint, systemd
# units, containerd config), Debian's containerd, runc and CNI plugins, and Kubernetes
# ${KUBE_VERSION}'s kubeadm, kubelet and kubectl. The images kubeadm runs (control plane,
# etcd, kube-proxy), CoreDNS and the sandbox image are preloaded into its containerd, so a
# node boots without pulling anything. Its pod network comes from hack/kind/cni-agent.
#
# Everything is cached in ${PODTRACE_CACHE} and reused; the image's name carries a digest
# of its inputs (see kind_node_image), so changing any of them builds a new one.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

NODE_IMAGE="$(kind_node_image)"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What kind's base image installs, less what only other set-ups use (NFS, iSCSI,
# fuse-overlayfs), plus Debian's own containerd, runc and CNI plugins.
NODE_PACKAGES=(
  systemd dbus containerd runc containernetworking-plugins
  iptables conntrack iproute2 ethtool kmod libseccomp2 pigz
  bash ca-certificates jq procps mount util-linux
)
DEBOOTSTRAP_TAR="${PODTRACE_CACHE}/kind-node/${DEBIAN_SUITE}-$(echo "${NODE_PACKAGES[*]}" | sha256sum | cut -c1-12).tar"

build_kind() {
  [[ -x "${KIND_BIN}" ]] && { log "kind ${KIND_VERSION} already built"; return; }
  log "building kind ${KIND_VERSION}"
  GOBIN="$(dirname "${KIND_BIN}")" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@${KIND_VERSION}"
}

build_coredns() {
  [[ -x "${COREDNS_BIN}" ]] && { log "CoreDNS ${COREDNS_VERSION} already built"; return; }
  log "building CoreDNS ${COREDNS_VERSION} (first time: a few minutes)"
  GOBIN="$(dirname "${COREDNS_BIN}")" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@${COREDNS_VERSION}"
}

# The Debian part, cached on its own: it is the slow part and changes least.
build_debootstrap_rootfs() {
  [[ -f "${DEBOOTSTRAP_TAR}" ]] && { log "${DEBIAN_SUITE} root filesystem already built"; return; }
  local root="${WORK}/debootstrap"
  log "debootstrap ${DEBIAN_SUITE} from ${DEBIAN_MIRROR}"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${NODE_PACKAGES[*]}")" \
    "${DEBIAN_SUITE}" "${root}" "${DEBIAN_MIRROR}" >"${WORK}/debootstrap.log" 2>&1 \
    || { tail -n 20 "${WORK}/debootstrap.log" >&2; die "debootstrap failed (the end of its log is above)"; }
  # As kind's clean-install does: no package caches, documentation or logs in the image.
  rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/* "${root}"/var/log/* \
    "${root}"/usr/share/doc/* "${root}"/usr/share/man/* "${root}"/tmp/* "${root}"/var/tmp/*
  mkdir -p "$(dirname "${DEBOOTSTRAP_TAR}")"
  tar --numeric-owner --xattrs -C "${root}" -cf "${DEBOOTSTRAP_TAR}.tmp" .
  mv "${DEBOOTSTRAP_TAR}.tmp" "${DEBOOTSTRAP_TAR}"
  rm -rf --one-file-system "${root}"
}

# kind's images/base: its files and the RUN steps of its Dockerfile, with the changes a
# root without CAP_SYS_RESOURCE needs.
install_kind_base() {
  local kind_dir
  kind_dir="$(cd "${WORK}" && go mod download -json "sigs.k8s.io/kind@${KIND_VERSION}" | jq -r .Dir)"
  [[ -d "${kind_dir}/images/base/files" ]] || die "sigs.k8s.io/kind@${KIND_VERSION} has no images/base/files"
  # Scripts 0755, everything else 0644, as the Dockerfile's COPY --chmod does.
  cp -r --no-preserve=mode "${kind_dir}/images/base/files/." "${ROOTFS}/"
  chmod 0755 "${ROOTFS}"/usr/local/bin/* "${ROOTFS}"/kind/bin/* "${ROOTFS}/kind" "${ROOTFS}/kind/bin"

  find "${ROOTFS}/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "${ROOTFS}"/lib/systemd/system/multi-user.target.wants/* "${ROOTFS}"/etc/systemd/system/*.wants/* \
    "${ROOTFS}"/lib/systemd/system/local-fs.target.wants/* "${ROOTFS}"/lib/systemd/system/sockets.target.wants/*udev* \
    "${ROOTFS}"/lib/systemd/system/sockets.target.wants/*initctl* "${ROOTFS}"/lib/systemd/system/basic.target.wants/*
  echo "ReadKMsg=no" >>"${ROOTFS}/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "${ROOTFS}/sbin/init"
  mkdir -p "${ROOTFS}/etc/kubernetes/manifests"

  # Debian's containerd, runc and CNI plugins where kind's files expect its own builds.
  ln -sf /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 "${ROOTFS}/usr/local/bin/"
  ln -sf /usr/sbin/runc "${ROOTFS}/usr/local/sbin/runc"
  mkdir -p "${ROOTFS}/opt/cni"
  ln -sfn /usr/lib/cni "${ROOTFS}/opt/cni/bin"

  # Raising limits or lowering an OOM score needs CAP_SYS_RESOURCE, which root lacks on
  # these machines: systemd would fail to start containerd, containerd every container.
  sed -i -E '/^(LimitNOFILE|LimitNPROC|LimitCORE|OOMScoreAdjust)=/d' "${ROOTFS}/etc/systemd/system/containerd.service"
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "${ROOTFS}/etc/containerd/config.toml"
  # kind's base runtime spec: containerd's default plus the hook that gives each container
  # its own product_uuid, without the rlimits.
  ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' >"${ROOTFS}/etc/containerd/cri-base.json"
}

install_kubernetes() {
  local c
  for c in kubeadm kubelet kubectl; do install -m 0755 "${KUBE_BIN_DIR}/${c}" "${ROOTFS}/usr/bin/${c}"; done
  printf '%s' "${KUBE_VERSION}" >"${ROOTFS}/kind/version"
  log "building the CNI agent"
  (cd hack/kind/cni-agent && go build -trimpath -ldflags "-s -w" -o "${ROOTFS}/usr/local/bin/podtrace-cni-agent" .)
  # Our own files: the CNI agent's unit, kind's manifests, containerd's registry defaults.
  cp -r --no-preserve=mode hack/kind/node/. "${ROOTFS}/"
  grep -q "coredns:${COREDNS_VERSION}" "${ROOTFS}/kind/manifests/default-cni.yaml" \
    || die "hack/kind/node/kind/manifests/default-cni.yaml must run coredns:${COREDNS_VERSION}"
  chroot "${ROOTFS}" systemctl --quiet enable kubelet.service containerd.service undo-mount-hacks.service podtrace-cni-agent.service
  chroot "${ROOTFS}" systemctl --quiet mask systemd-binfmt.service
}

# --- images ---------------------------------------------------------------------------

# new_image NAME DIR [umoci config flags...]: an image of the files in DIR.
new_image() {
  local name="$1" dir="$2"; shift 2
  umoci new --image "${LAYOUT}:${name}"
  umoci insert --image "${LAYOUT}:${name}" "${dir}" /
  umoci config --image "${LAYOUT}:${name}" --author podtrace \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$@"
}

# binary_image NAME BINARY: a static binary in /usr/local/bin, as the upstream images have it.
binary_image() {
  local dir="${WORK}/image-$1"
  mkdir -p "${dir}/usr/local/bin"
  cp "$2" "${dir}/usr/local/bin/"
  new_image "$1" "${dir}"
}

# kube-proxy calls iptables: the image gets the node's own iptables (legacy, the mode
# kind's entrypoint picks when the node's network namespace has no rules yet, as with
# podman), conntrack, and the libraries they load.
kube_proxy_image() {
  local dir="${WORK}/image-kube-proxy" f lib
  mkdir -p "${dir}/usr/local/bin" "${dir}/run"
  cp "${KUBE_BIN_DIR}/kube-proxy" "${dir}/usr/local/bin/"
  local files=(usr/sbin/xtables-legacy-multi usr/sbin/conntrack)
  files+=($(cd "${ROOTFS}" && echo usr/lib/*/xtables/*.so))
  for f in "${files[@]}"; do
    (cd "${ROOTFS}" && cp -a --parents "${f}" "${dir}/")
    for lib in $(chroot "${ROOTFS}" ldd "/${f}" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
      [[ -e "${dir}${lib}" ]] || (cd "${ROOTFS}" && cp -L --parents ".${lib}" "${dir}/")
    done
  done
  for f in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-legacy-multi "${dir}/usr/sbin/${f}"
  done
  new_image kube-proxy "${dir}"
}

# The sandbox image: the local cluster's pause (busybox and hack/images/pause.sh).
pause_image() {
  local dir="${WORK}/image-pause"
  hack/images/make-rootfs.sh "${dir}"
  cp hack/images/pause.sh "${dir}/pause"
  new_image pause "${dir}" --config.entrypoint /pause --config.stopsignal SIGTERM
}

# The images and the names kubeadm (and kind's containerd config, for the sandbox) asks for.
build_images() {
  local image name
  umoci init --layout "${LAYOUT}"
  for name in kube-apiserver kube-controller-manager kube-scheduler; do
    binary_image "${name}" "${KUBE_BIN_DIR}/${name}"
  done
  binary_image etcd "${ETCD_BIN_DIR}/etcd"
  binary_image coredns "${COREDNS_BIN}"
  umoci config --image "${LAYOUT}:coredns" --config.entrypoint /usr/local/bin/coredns
  kube_proxy_image
  pause_image

  IMAGE_NAMES=()
  while read -r image; do
    name="${image##*/}"; name="${name%%:*}"
    case "${name}" in
      # The etcd binary is ${ETCD_VERSION}, the local cluster's; hack/kind.sh tells
      # kubeadm its tag (ClusterConfiguration etcd.local.imageTag).
      etcd) image="${image%%:*}:${ETCD_VERSION#v}-0" ;;
    esac
    IMAGE_NAMES+=("${name} ${image}")
  done < <("${KUBE_BIN_DIR}/kubeadm" config images list --kubernetes-version "${KUBE_VERSION}")
  image="$(sed -n 's/^[[:space:]]*sandbox_image = "\(.*\)"/\1/p' "${ROOTFS}/etc/containerd/config.toml")"
  [[ -n "${image}" ]] || die "no sandbox_image in kind's containerd config"
  IMAGE_NAMES+=("pause ${image}")
}

# Imports the images into the node's containerd at build time, with a containerd of our
# own whose root is the node's /var/lib/containerd: nodes then boot with the images
# unpacked instead of importing them on the critical path (~24 s per node).
preload_images() {
  local sock="${WORK}/containerd.sock" entry name image
  cat >"${WORK}/containerd.toml" <<EOF
version = 2
root = "${ROOTFS}/var/lib/containerd"
state = "${WORK}/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${sock}"
[plugins."io.containerd.internal.v1.opt"]
  path = "${WORK}/containerd-opt"
EOF
  containerd --config "${WORK}/containerd.toml" >"${WORK}/containerd.log" 2>&1 &
  CONTAINERD_PID=$!
  wait_for "containerd" 30 ctr --address "${sock}" version || die "the build's containerd did not start; see ${WORK}/containerd.log"
  for entry in "${IMAGE_NAMES[@]}"; do
    read -r name image <<<"${entry}"
    log "preloading ${image}"
    skopeo copy --quiet "oci:${LAYOUT}:${name}" "docker-archive:${WORK}/${name}.tar:${image}"
    ctr --address "${sock}" --namespace k8s.io images import --snapshotter overlayfs "${WORK}/${name}.tar" >/dev/null
    rm -f "${WORK}/${name}.tar"
  done
  # Once unpacked, the layers' blobs are dead weight that podman would copy into every
  # node's /var: drop them, as kind's containerd config (discard_unpacked_layers) does for
  # the images it pulls. Manifests and configs stay.
  local manifest layer
  for manifest in $(ctr --address "${sock}" --namespace k8s.io images ls | awk 'NR > 1 {print $3}' | sort -u); do
    for layer in $(ctr --address "${sock}" --namespace k8s.io content get "${manifest}" | jq -r '.layers[].digest'); do
      ctr --address "${sock}" --namespace k8s.io content rm "${layer}" >/dev/null 2>&1 || true
    done
  done
  kill "${CONTAINERD_PID}"
  wait "${CONTAINERD_PID}" || true
  CONTAINERD_PID=""
}

import_image() {
  log "importing the node image into podman as ${NODE_IMAGE}"
  tar --numeric-owner --xattrs -C "${ROOTFS}" -c . | podman import \
    --change 'ENV container=docker' --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change "LABEL io.podtrace.kind-node=${KUBE_VERSION}" \
    --quiet - "${NODE_IMAGE}" >/dev/null
  # Older builds of the node image are no use any more.
  local old
  for old in $(podman images --filter label=io.podtrace.kind-node --format '{{.Repository}}:{{.Tag}}'); do
    [[ "${old}" == "${NODE_IMAGE}" ]] || podman rmi "${old}" >/dev/null 2>&1 || true
  done
}

CONTAINERD_PID=""
cleanup() {
  local m
  [[ -z "${CONTAINERD_PID}" ]] || { kill "${CONTAINERD_PID}" 2>/dev/null; wait "${CONTAINERD_PID}" 2>/dev/null || true; }
  # debootstrap mounts /proc and friends in its target; an interrupted run may leave them.
  for m in $(awk -v w="${WORK}" 'index($5, w "/") == 1 {print $5}' /proc/self/mountinfo | tac); do
    umount -l "${m}" 2>/dev/null || true
  done
  rm -rf --one-file-system "${WORK}"
}

build_node_image() {
  if podman image exists "${NODE_IMAGE}"; then
    log "node image ${NODE_IMAGE} already built"
    return
  fi
  mkdir -p "${PODTRACE_CACHE}/build"
  WORK="$(mktemp -d "${PODTRACE_CACHE}/build/kind-node.XXXXXX")"
  ROOTFS="${WORK}/rootfs"
  LAYOUT="${WORK}/oci"
  trap cleanup EXIT
  build_debootstrap_rootfs
  mkdir -p "${ROOTFS}"
  tar --numeric-owner --xattrs -C "${ROOTFS}" -xf "${DEBOOTSTRAP_TAR}"
  install_kind_base
  install_kubernetes
  build_images
  preload_images
  import_image
}

main() {
  require_root
  command -v go >/dev/null || die "Go is needed to build kind and the node image (expected at /usr/local/go/bin)"
  step "kind ${KIND_VERSION}" build_kind
  step "Kubernetes ${KUBE_VERSION} (kubeadm, kube-proxy and the rest)" "${REPO_ROOT}/hack/build-kube.sh" kubeadm kube-proxy
  step "CoreDNS ${COREDNS_VERSION}" build_coredns
  step "node image" build_node_image
  print_step_times
}

main "$@"
