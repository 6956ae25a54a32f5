#!/usr/bin/env bash
# For laptops and hosted CI with Docker: a kind cluster named podtrace with the same test
# images as the local cluster, under the same names (127.0.0.1:5000/busybox:1, ...).
#
# The images are built with Docker from the recipe of hack/build-images.sh
# (hack/images/Dockerfile) and pushed to a registry container, which the kind node reaches
# as 127.0.0.1:5000 through a hosts.toml. Pods therefore really pull them, so image pulls
# show up in traces as they do on the local cluster.
#
# Usage: hack/kind.sh [up|down]
#   up    (default) start the registry, build and push the images, create the cluster
#   down  delete the cluster and the registry container
# Settings: KIND_NODE_IMAGE (default kindest/node:v1.34.0; use the v1.34 image your kind
# release lists), KIND_KUBECONFIG, REGISTRY_HOST_PORT (host port of the registry container;
# 5001 because macOS uses 5000).
set -o errexit -o nounset -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLUSTER_NAME=podtrace
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0}"
KIND_KUBECONFIG="${KIND_KUBECONFIG:-${HOME}/.kube/kind-${CLUSTER_NAME}}"
REGISTRY_CONTAINER=podtrace-registry
REGISTRY_HOST_PORT="${REGISTRY_HOST_PORT:-5001}"
# The name pods use; inside the node it resolves to the registry container.
IMAGE_REGISTRY=127.0.0.1:5000
# image name:tag and its Dockerfile target
IMAGES=("pause:3.10 pause" "busybox:1 busybox" "bigimage:1 bigimage")

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

require_tools() {
  local tool
  for tool in docker kind kubectl; do
    command -v "${tool}" >/dev/null || die "${tool} is needed (https://kind.sigs.k8s.io/docs/user/quick-start/)"
  done
  docker info >/dev/null 2>&1 || die "cannot reach the Docker engine"
}

start_registry() {
  if [[ "$(docker inspect -f '{{.State.Running}}' "${REGISTRY_CONTAINER}" 2>/dev/null || true)" == true ]]; then
    log "registry container ${REGISTRY_CONTAINER} already running"
    return
  fi
  docker rm -f "${REGISTRY_CONTAINER}" >/dev/null 2>&1 || true
  log "starting registry container ${REGISTRY_CONTAINER} on 127.0.0.1:${REGISTRY_HOST_PORT}"
  docker run -d --restart=always --name "${REGISTRY_CONTAINER}" \
    -p "127.0.0.1:${REGISTRY_HOST_PORT}:5000" registry:2 >/dev/null
}

build_and_push_images() {
  local entry image target
  for entry in "${IMAGES[@]}"; do
    read -r image target <<<"${entry}"
    log "building ${IMAGE_REGISTRY}/${image}"
    docker build --quiet --target "${target}" -t "${IMAGE_REGISTRY}/${image}" hack/images >/dev/null
    # Pushed through the host port; the repository and tag are what pods ask for.
    docker tag "${IMAGE_REGISTRY}/${image}" "localhost:${REGISTRY_HOST_PORT}/${image}"
    docker push --quiet "localhost:${REGISTRY_HOST_PORT}/${image}" >/dev/null
  done
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
    log "kind cluster ${CLUSTER_NAME} already exists"
    kind export kubeconfig --name "${CLUSTER_NAME}" --kubeconfig "${KIND_KUBECONFIG}" >/dev/null
    return
  fi
  mkdir -p "$(dirname "${KIND_KUBECONFIG}")"
  kind create cluster --name "${CLUSTER_NAME}" --image "${KIND_NODE_IMAGE}" \
    --config hack/kind-config.yaml --kubeconfig "${KIND_KUBECONFIG}" --wait 180s
}

connect_registry() {
  local node dir="/etc/containerd/certs.d/${IMAGE_REGISTRY}"
  for node in $(kind get nodes --name "${CLUSTER_NAME}"); do
    docker exec "${node}" mkdir -p "${dir}"
    docker exec -i "${node}" cp /dev/stdin "${dir}/hosts.toml" <<TOML
server = "http://${REGISTRY_CONTAINER}:5000"

[host."http://${REGISTRY_CONTAINER}:5000"]
  capabilities = ["pull", "resolve"]
TOML
  done
  # The node finds the registry by container name on kind's network.
  if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "${REGISTRY_CONTAINER}")" == null ]]; then
    docker network connect kind "${REGISTRY_CONTAINER}"
  fi
}

wait_ready() {
  local i
  kubectl --kubeconfig "${KIND_KUBECONFIG}" wait --for=condition=Ready "node/${CLUSTER_NAME}-control-plane" --timeout=180s >/dev/null
  for ((i = 0; i < 120; i++)); do
    kubectl --kubeconfig "${KIND_KUBECONFIG}" -n default get serviceaccount default >/dev/null 2>&1 && return
    sleep 1
  done
  die "the default ServiceAccount did not appear"
}

up() {
  require_tools
  start_registry
  build_and_push_images
  create_cluster
  connect_registry
  wait_ready
  cat >&2 <<MSG

kind cluster ${CLUSTER_NAME} is ready, with ${IMAGE_REGISTRY}/pause:3.10, busybox:1 and bigimage:1.

  export KUBECONFIG=${KIND_KUBECONFIG}
  kubectl get nodes

Delete it with: hack/kind.sh down
MSG
}

down() {
  command -v kind >/dev/null && kind delete cluster --name "${CLUSTER_NAME}" --kubeconfig "${KIND_KUBECONFIG}"
  docker rm -f "${REGISTRY_CONTAINER}" >/dev/null 2>&1 || true
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 [up|down]" ;;
esac
