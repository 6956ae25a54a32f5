#!/usr/bin/env bash
# A kind cluster named podtrace: one control-plane node and two workers running Kubernetes
# 1.34 like the local cluster, kube-proxy (iptables) and CoreDNS, with the same test images
# as the local cluster under the same names (127.0.0.1:5000/busybox:1, ...). Pods really
# pull them, so image pulls show up in traces as they do on the local cluster.
#
#   hack/kind.sh up               create the cluster (a running one is reused)
#   hack/kind.sh down             delete it and everything up made, then check that nothing is left
#   hack/kind.sh config [docker]  print its kind config (for `kind create cluster --config`,
#                                 as .github/workflows/kind-smoke.yaml does)
#
# With a Docker engine (laptops, hosted CI): kind's own node image, and the test images
# built with Docker (hack/images/Dockerfile) into a registry container that the nodes
# reach as 127.0.0.1:5000 through a containerd hosts.toml.
#
# Without one (these machines: root lacks CAP_SYS_RESOURCE, which Docker needs) it uses
# podman (KIND_EXPERIMENTAL_PROVIDER=podman), everything built here from the Go module
# proxy and Debian packages and cached (hack/build-kind-node.sh):
#   - the host: podman, its default subnet moved off the local cluster's 10.88.0.0/16 and
#     container limits within this machine's hard limits (/etc/containers/containers.conf.d);
#   - the nodes sit on an internal podman network (no route off it, no iptables rules on
#     the host), and podman's DNS server for it resolves the node names and forwards
#     nothing else anywhere but to this host's loopback;
#   - the kubeconfig points at the control-plane node's address on that network (an
#     internal network has no port forward to 127.0.0.1);
#   - the nodes pull the test images from a registry on the network's gateway address,
#     serving the local registry's storage (/var/cache/podtrace/registry).
# Nothing is pulled from the internet: every other registry resolves to a closed port.
#
# Settings: KIND_PROVIDER (docker or podman; default docker when `docker info` works),
# KIND_KUBECONFIG (default ~/.kube/kind-podtrace), KIND_SUBNET (podman: the nodes' network),
# KIND_NODE_IMAGE and REGISTRY_HOST_PORT (docker: kind's node image, and the registry
# container's port on the host, 5001 because macOS uses 5000).
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

CLUSTER_NAME=podtrace
KIND_KUBECONFIG="${KIND_KUBECONFIG:-${HOME}/.kube/kind-${CLUSTER_NAME}}"
# What pods ask for; inside the nodes, a hosts.toml sends it to the registry.
IMAGE_REGISTRY="${REGISTRY}"
TEST_IMAGES=(pause:3.10 busybox:1 bigimage:1)
# The networks the node image's CNI agent and kube-dns Service expect (hack/kind/).
KIND_POD_SUBNET=10.244.0.0/16
KIND_SERVICE_SUBNET=10.96.0.0/16

# --- shared ---------------------------------------------------------------------------

provider() {
  if [[ -n "${KIND_PROVIDER:-}" ]]; then
    [[ "${KIND_PROVIDER}" == docker || "${KIND_PROVIDER}" == podman ]] || die "KIND_PROVIDER must be docker or podman"
    echo "${KIND_PROVIDER}"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

# kind_config PROVIDER: the cluster's kind config.
kind_config() {
  cat <<EOF
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: ${CLUSTER_NAME}
networking:
  podSubnet: ${KIND_POD_SUBNET}
  serviceSubnet: ${KIND_SERVICE_SUBNET}
# Per-registry hosts.toml files, so that 127.0.0.1:5000 can point at the test registry.
# Node images from kind v0.27.0 on do this already; the patch keeps older ones working.
containerdConfigPatches:
  - |-
    [plugins."io.containerd.grpc.v1.cri".registry]
      config_path = "/etc/containerd/certs.d"
nodes:
  - role: control-plane
  - role: worker
  - role: worker
kubeadmConfigPatches:
  # kube-proxy's metrics on the node's address rather than loopback, so that they can be
  # read through the apiserver (/api/v1/nodes/NODE:10249/proxy/metrics): they tell when
  # a node's rules took in a new endpoint.
  - |
    kind: KubeProxyConfiguration
    metricsBindAddress: 0.0.0.0:10249
EOF
  [[ "$1" == podman ]] || return 0
  cat <<EOF
  # kubeadm's CoreDNS forwards to the internet; the node image brings its own, without
  # forwarding (/kind/manifests/default-cni.yaml). The list replaces kind's: keep preflight.
  - |
    kind: InitConfiguration
    skipPhases: [preflight, addon/coredns]
  # The node image's etcd is the local cluster's version.
  - |
    kind: ClusterConfiguration
    etcd:
      local:
        imageTag: "${ETCD_VERSION#v}-0"
EOF
}

kubectl_kind() { kubectl --kubeconfig "${KIND_KUBECONFIG}" "$@"; }

all_nodes_schedulable() {
  local not_ready
  not_ready="$(kubectl_kind get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\n"}{end}' \
    | awk '$2 != "True" || /node.kubernetes.io\/not-ready/ {print $1}')"
  [[ -z "${not_ready}" && "$(kubectl_kind get nodes -o name | wc -l)" -ge 3 ]]
}

wait_cluster_ready() {
  wait_for "nodes Ready" 180 all_nodes_schedulable || die "not every node became Ready: $(kubectl_kind get nodes 2>&1)"
  kubectl_kind -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null \
    || die "CoreDNS did not become available: $(kubectl_kind -n kube-system get pods -l k8s-app=kube-dns 2>&1)"
  wait_for "default ServiceAccount" 60 kubectl_kind -n default get serviceaccount default \
    || die "the default ServiceAccount was not created"
}

print_usage() {
  cat >&2 <<MSG

kind cluster ${CLUSTER_NAME} (${1}) is ready, with ${IMAGE_REGISTRY}/pause:3.10, busybox:1 and bigimage:1:
$(kubectl_kind get nodes -o wide 2>&1 | sed 's/^/  /')

  export KUBECONFIG=${KIND_KUBECONFIG}
  bin/podtrace.js run examples/web.yaml --service
  bash hack/test.sh

Delete it with: hack/kind.sh down
MSG
}

# --- with Docker ----------------------------------------------------------------------

# kind v0.33.0's image for Kubernetes 1.34 (its release notes; the digest pins it to that release).
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d}"
REGISTRY_CONTAINER=podtrace-registry
REGISTRY_HOST_PORT="${REGISTRY_HOST_PORT:-5001}"

docker_require_tools() {
  local tool
  for tool in docker kind kubectl; do
    command -v "${tool}" >/dev/null || die "${tool} is needed (https://kind.sigs.k8s.io/docs/user/quick-start/)"
  done
}

docker_start_registry() {
  if [[ "$(docker inspect -f '{{.State.Running}}' "${REGISTRY_CONTAINER}" 2>/dev/null || true)" == true ]]; then
    log "registry container ${REGISTRY_CONTAINER} already running"
    return
  fi
  docker rm -f "${REGISTRY_CONTAINER}" >/dev/null 2>&1 || true
  log "starting registry container ${REGISTRY_CONTAINER} on 127.0.0.1:${REGISTRY_HOST_PORT}"
  docker run -d --restart=always --name "${REGISTRY_CONTAINER}" \
    -p "127.0.0.1:${REGISTRY_HOST_PORT}:5000" registry:2 >/dev/null
}

docker_build_and_push_images() {
  local image
  for image in "${TEST_IMAGES[@]}"; do
    log "building ${IMAGE_REGISTRY}/${image}"
    # The Dockerfile's targets are the images' names.
    docker build --quiet --target "${image%%:*}" -t "${IMAGE_REGISTRY}/${image}" hack/images >/dev/null
    # Pushed through the host port; the repository and tag are what pods ask for.
    docker tag "${IMAGE_REGISTRY}/${image}" "localhost:${REGISTRY_HOST_PORT}/${image}"
    docker push --quiet "localhost:${REGISTRY_HOST_PORT}/${image}" >/dev/null
  done
}

docker_create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
    log "kind cluster ${CLUSTER_NAME} already exists"
    kind export kubeconfig --name "${CLUSTER_NAME}" --kubeconfig "${KIND_KUBECONFIG}" >/dev/null
    return
  fi
  mkdir -p "$(dirname "${KIND_KUBECONFIG}")"
  kind create cluster --name "${CLUSTER_NAME}" --image "${KIND_NODE_IMAGE}" \
    --config <(kind_config docker) --kubeconfig "${KIND_KUBECONFIG}" --wait 180s
}

docker_connect_registry() {
  local node
  for node in $(kind get nodes --name "${CLUSTER_NAME}"); do
    write_hosts_toml docker "${node}" "http://${REGISTRY_CONTAINER}:5000"
  done
  # The nodes find the registry by container name on kind's network.
  if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "${REGISTRY_CONTAINER}")" == null ]]; then
    docker network connect kind "${REGISTRY_CONTAINER}"
  fi
}

docker_up() {
  docker_require_tools
  step "registry container" docker_start_registry
  step "test images" docker_build_and_push_images
  step "create cluster" docker_create_cluster
  step "connect the registry" docker_connect_registry
  step "nodes Ready" wait_cluster_ready
  print_step_times
  print_usage docker
}

docker_down() {
  command -v kind >/dev/null && kind delete cluster --name "${CLUSTER_NAME}" --kubeconfig "${KIND_KUBECONFIG}"
  docker rm -f "${REGISTRY_CONTAINER}" >/dev/null 2>&1 || true
}

# write_hosts_toml ENGINE NODE URL: in NODE's containerd, send pulls of 127.0.0.1:5000 to URL.
write_hosts_toml() {
  local engine="$1" node="$2" url="$3" dir="/etc/containerd/certs.d/${IMAGE_REGISTRY}"
  "${engine}" exec -i "${node}" sh -c "mkdir -p '${dir}' && cat >'${dir}/hosts.toml'" <<TOML
server = "${url}"

[host."${url}"]
  capabilities = ["pull", "resolve"]
TOML
}

# --- with podman ----------------------------------------------------------------------

# Whatever up creates outside podman lives here: the registry's pid, log and config.
KIND_STATE="${KIND_STATE:-/var/lib/podtrace-kind}"
KIND_NETWORK=kind
KIND_SUBNET="${KIND_SUBNET:-10.215.0.0/24}"
PODMAN_CONF=/etc/containers/containers.conf.d/50-podtrace-kind.conf
PODMAN_HELPERS=/usr/local/lib/podtrace-kind
CLUSTER_LABEL="io.x-k8s.kind.cluster=${CLUSTER_NAME}"

kind_podman() { KIND_EXPERIMENTAL_PROVIDER=podman "${KIND_BIN}" "$@"; }

# write_if_changed FILE [MODE]: stdin to FILE, unless FILE already holds exactly that.
write_if_changed() {
  local file="$1" mode="${2:-0644}" content
  content="$(cat)"
  [[ -f "${file}" && "$(<"${file}")" == "${content}" ]] && return 0
  mkdir -p "$(dirname "${file}")"
  printf '%s\n' "${content}" >"${file}.tmp"
  chmod "${mode}" "${file}.tmp"
  mv "${file}.tmp" "${file}"
  log "wrote ${file}"
}

# The host's side, idempotent: a fresh machine has none of it.
podman_host_setup() {
  bash hack/install-deps.sh --podman
  # kind bind-mounts /lib/modules into every node; this kernel has no modules directory.
  mkdir -p /lib/modules
  write_if_changed "${PODMAN_CONF}" <<EOF
# Written by hack/kind.sh (podtrace): podman for the kind cluster on this machine.
[containers]
# Within the hard limits here: conmon runs with RLIMIT_NPROC 32768, and any higher value
# fails every container with "error setting rlimit type 6".
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
# No limit on a node's processes and threads, as on a real node (and with Docker): podman's
# default of 2048 stops a node near 100 pods, each pod's shim and processes counting, with
# "fork/exec ... resource temporarily unavailable" from containerd.
pids_limit = 0

[network]
# Podman's default 10.88.0.0/16 is the local cluster's pod network.
default_subnet = "10.213.0.0/24"
default_subnet_pools = [{"base" = "10.214.0.0/16", "size" = 24}]

[engine]
# aardvark-dns (podman's DNS server for the nodes' network) through our wrapper first.
helper_binaries_dir = ["${PODMAN_HELPERS}", "/usr/libexec/podman", "/usr/lib/podman"]
EOF
  # aardvark-dns answers the node names and forwards every other name to the resolvers
  # of the host's /etc/resolv.conf, even for an internal network (before aardvark-dns
  # 1.11). The wrapper gives it a resolv.conf of its own, in a mount namespace of its
  # own: it forwards to this host's loopback, where nothing answers.
  write_if_changed "${PODMAN_HELPERS}/resolv.conf" <<EOF
nameserver 127.0.0.1
EOF
  write_if_changed "${PODMAN_HELPERS}/aardvark-dns" 0755 <<EOF
#!/bin/sh
# podman's aardvark-dns with ${PODMAN_HELPERS}/resolv.conf as its /etc/resolv.conf (hack/kind.sh).
exec unshare --mount --propagation private sh -c \\
  'mount --bind ${PODMAN_HELPERS}/resolv.conf /etc/resolv.conf && exec /usr/lib/podman/aardvark-dns "\$@"' aardvark-dns "\$@"
EOF
}

podman_network() {
  if podman network exists "${KIND_NETWORK}"; then
    local internal subnet
    internal="$(podman network inspect "${KIND_NETWORK}" --format '{{.Internal}}')"
    subnet="$(podman network inspect "${KIND_NETWORK}" --format '{{range .Subnets}}{{.Subnet}} {{end}}')"
    [[ "${internal}" == true && "${subnet}" == "${KIND_SUBNET} " ]] && return 0
    # kind creates a routed network when it finds none; ours must be internal.
    [[ -z "$(podman ps -aq --filter "network=${KIND_NETWORK}")" ]] \
      || die "podman network ${KIND_NETWORK} (internal ${internal}, subnet ${subnet}) is in use; delete its containers first"
    podman network rm "${KIND_NETWORK}" >/dev/null
  fi
  # --internal: no route off the network and no iptables rules on the host.
  podman network create --internal --subnet "${KIND_SUBNET}" "${KIND_NETWORK}" >/dev/null
  log "created podman network ${KIND_NETWORK} (${KIND_SUBNET}, internal)"
}

podman_cluster_running() {
  local all running
  kind_podman get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}" || return 1
  all="$(podman ps -aq --filter "label=${CLUSTER_LABEL}" | wc -l)"
  running="$(podman ps -q --filter "label=${CLUSTER_LABEL}" | wc -l)"
  ((all > 0 && running == all))
}

# Every node's main process is alive: podman's record says "running" also for containers
# whose processes were killed from outside (a host whose processes were all stopped, say),
# because conmon, which would have recorded the exit, died with them.
podman_nodes_alive() {
  local id pid
  for id in $(podman ps -q --filter "label=${CLUSTER_LABEL}"); do
    pid="$(podman inspect "${id}" --format '{{.State.Pid}}')"
    [[ "${pid}" =~ ^[1-9][0-9]*$ && -d "/proc/${pid}" ]] || return 1
  done
}

# The control plane answers: anonymous /readyz is allowed by kubeadm's default RBAC.
podman_apiserver_answers() {
  local ip
  ip="$(node_ip "${CLUSTER_NAME}-control-plane")"
  [[ -n "${ip}" ]] && curl -sfk --max-time 2 "https://${ip}:6443/readyz" >/dev/null
}

podman_create_cluster() {
  if podman_cluster_running && podman_nodes_alive \
    && wait_for "apiserver" 20 podman_apiserver_answers; then
    log "kind cluster ${CLUSTER_NAME} already running; reusing it"
    return
  fi
  if kind_podman get clusters 2>/dev/null | grep -qx "${CLUSTER_NAME}"; then
    log "kind cluster ${CLUSTER_NAME} exists but is not healthy (a node or its apiserver is down); recreating it"
    podman_delete_cluster
  fi
  mkdir -p "${KIND_STATE}" "$(dirname "${KIND_KUBECONFIG}")"
  kind_config podman >"${KIND_STATE}/kind-config.yaml"
  kind_podman create cluster --name "${CLUSTER_NAME}" --image "$(kind_node_image)" \
    --config "${KIND_STATE}/kind-config.yaml" --kubeconfig "${KIND_KUBECONFIG}" --wait 4m
}

node_ip() {
  podman inspect "$1" --format "{{(index .NetworkSettings.Networks \"${KIND_NETWORK}\").IPAddress}}"
}

gateway_ip() {
  podman network inspect "${KIND_NETWORK}" --format '{{range .Subnets}}{{.Gateway}}{{end}}'
}

# kind writes https://127.0.0.1:<port>, a port forward that an internal network does not
# have; the apiserver's certificate also covers the node's own address.
podman_kubeconfig() {
  local ip
  ip="$(node_ip "${CLUSTER_NAME}-control-plane")"
  [[ -n "${ip}" ]] || die "no address for ${CLUSTER_NAME}-control-plane on network ${KIND_NETWORK}"
  kubectl_kind config set-cluster "kind-${CLUSTER_NAME}" --server "https://${ip}:6443" >/dev/null
  wait_for "apiserver" 30 kubectl_kind get --raw /readyz || die "cannot reach the apiserver at https://${ip}:6443"
}

# The test registry, for the nodes: a docker-registry of our own on the network's gateway
# (the host's address on the bridge), serving the local registry's storage. It runs
# whether the local cluster runs or not, and stops with the kind cluster.
podman_registry() {
  local gateway
  gateway="$(gateway_ip)"
  PID_DIR="${KIND_STATE}/pids" LOG_DIR="${KIND_STATE}/logs"
  if ! daemon_pid registry >/dev/null; then
    mkdir -p "${REGISTRY_STORAGE}/data"
    registry_config "${gateway}:5000" >"${KIND_STATE}/registry.yml"
    log "starting docker-registry on ${gateway}:5000 for the nodes"
    start_daemon registry docker-registry serve "${KIND_STATE}/registry.yml"
  fi
  REGISTRY="${gateway}:5000" wait_for registry 30 registry_serving \
    || die "the registry on ${gateway}:5000 did not start; see ${LOG_DIR}/registry.log"
  # Missing images are built and pushed through this registry into the shared storage.
  local image
  for image in "${TEST_IMAGES[@]}"; do
    if ! skopeo inspect --tls-verify=false --raw "docker://${gateway}:5000/${image}" >/dev/null 2>&1; then
      REGISTRY="${gateway}:5000" bash hack/build-images.sh
      break
    fi
  done
  local node
  for node in $(kind_podman get nodes --name "${CLUSTER_NAME}"); do
    write_hosts_toml podman "${node}" "http://${gateway}:5000"
  done
}

podman_up() {
  require_root
  step "host set-up (podman)" podman_host_setup
  step "kind ${KIND_VERSION} and the node image" bash hack/build-kind-node.sh
  step "podman network" podman_network
  step "create cluster" podman_create_cluster
  step "kubeconfig" podman_kubeconfig
  step "test registry for the nodes" podman_registry
  step "nodes Ready" wait_cluster_ready
  print_step_times
  print_usage podman
}

# --- podman teardown ------------------------------------------------------------------

# The nodes' container IDs, recorded before they go: their cgroups must go with them.
NODE_IDS=()

# The /var volumes kind makes for the nodes: it labels each with the node's name.
node_volumes() {
  local volume
  for volume in $(podman volume ls -q); do
    podman volume inspect "${volume}" --format '{{range $k, $v := .Labels}}{{$k}} {{end}}' \
      | grep -qE "(^| )${CLUSTER_NAME}-(control-plane|worker)[0-9]*( |$)" && echo "${volume}"
  done
  return 0
}

# Node containers podman no longer knows whose cgroups still stand: a teardown that could
# not empty them once (processes of a frozen cgroup do not die of SIGKILL), after which
# podman had already forgotten the container. A kind node's cgroup holds the kubelet's.
orphaned_node_ids() {
  local dir id
  for dir in /sys/fs/cgroup/*/libpod_parent/libpod-* /sys/fs/cgroup/libpod_parent/libpod-*; do
    [[ -d "${dir}" ]] || continue
    id="${dir##*/libpod-}"
    [[ "${id}" =~ ^[0-9a-f]{64}$ ]] || continue
    podman container exists "${id}" 2>/dev/null && continue
    compgen -G "${dir}/kubelet*" >/dev/null && echo "${id}"
  done | sort -u
}

podman_delete_cluster() {
  local ids
  mapfile -t NODE_IDS < <(podman ps -aq --no-trunc --filter "label=${CLUSTER_LABEL}"; orphaned_node_ids)
  # kind stops each node gracefully, which waits up to 10 s for its systemd to shut down.
  # The cluster is thrown away: kill the nodes, and kind deletes them and their volumes at once.
  ((${#NODE_IDS[@]} == 0)) || podman kill --signal KILL "${NODE_IDS[@]}" >/dev/null 2>&1 || true
  if [[ -x "${KIND_BIN}" ]]; then
    kind_podman delete cluster --name "${CLUSTER_NAME}" --kubeconfig "${KIND_KUBECONFIG}"
  fi
  # Whatever kind did not know of, say after a create that stopped half-way.
  mapfile -t ids < <(podman ps -aq --filter "label=${CLUSTER_LABEL}")
  ((${#ids[@]} == 0)) || podman rm --force --time 0 --volumes "${ids[@]}" >/dev/null
  mapfile -t ids < <(node_volumes)
  ((${#ids[@]} == 0)) || podman volume rm --force "${ids[@]}" >/dev/null
  remove_node_cgroups
  # podman's parent cgroup and its conmons' cgroup, unless other containers still use them
  # (rmdir refuses a cgroup with processes or children).
  rmdir /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true
}

# podman removes a container's cgroups when conmon reports its exit; nodes whose conmon
# was killed from outside leave them, with the cgroups their systemd and kubelet made
# inside. Whatever still runs in them is the node's and goes; then the empty trees go,
# innermost first.
remove_node_cgroups() {
  local id dir pids f
  for id in "${NODE_IDS[@]}"; do
    for dir in $(find /sys/fs/cgroup -maxdepth 3 -type d -name "*${id}*" 2>/dev/null); do
      # Thawed first: runc freezes a container's cgroup to kill all of it, and one that died
      # half-way (a node out of pids) leaves it frozen, its processes deaf to SIGKILL.
      for f in $(find "${dir}" \( -name freezer.state -o -name cgroup.freeze \) 2>/dev/null); do
        if [[ "${f}" == */freezer.state ]]; then echo THAWED >"${f}"; else echo 0 >"${f}"; fi 2>/dev/null || true
      done
      pids="$(find "${dir}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
      [[ -z "${pids}" ]] || kill -KILL ${pids} 2>/dev/null || true
    done
  done
  for id in "${NODE_IDS[@]}"; do
    for dir in $(find /sys/fs/cgroup -maxdepth 3 -type d -name "*${id}*" 2>/dev/null); do
      # Killed processes leave their cgroup a moment after the signal.
      wait_for "cgroup ${dir} to empty" 5 rmdir_tree "${dir}" || true
    done
  done
}

rmdir_tree() { find "$1" -depth -type d -exec rmdir {} + 2>/dev/null; [[ ! -d "$1" ]]; }

# Processes pgrep finds, less zombies (gone, only not reaped yet by their parent).
live_pids() {
  local pid
  for pid in $(pgrep "$@" || true); do
    [[ "$(awk '/^State:/ {print $2}' "/proc/${pid}/status" 2>/dev/null)" =~ ^[^Z] ]] && echo "${pid}"
  done
  return 0
}

# aardvark-dns serves every podman network with DNS: it is ours when no other is left.
our_aardvark_dns() {
  [[ -z "$(ls /run/containers/networks/aardvark-dns 2>/dev/null | grep -v '^aardvark.pid$' || true)" ]] || return 0
  live_pids -x aardvark-dns
}

no_aardvark_dns() { [[ -z "$(our_aardvark_dns)" ]]; }

podman_remove_network() {
  if podman network exists "${KIND_NETWORK}"; then
    podman network rm "${KIND_NETWORK}" >/dev/null
  fi
  # netavark stops aardvark-dns with the network's last container; it takes a moment.
  wait_for "aardvark-dns to exit" 10 no_aardvark_dns || true
}

podman_remove_files() {
  rm -f "${KIND_KUBECONFIG}"
  rm -rf "${KIND_STATE}"
}

# What up made and down must have removed: reported one by one; non-zero if any remains.
podman_verify() {
  local problems=() out
  out="$(podman ps -a --filter "label=${CLUSTER_LABEL}" --format '{{.Names}}')"
  [[ -z "${out}" ]] || problems+=("podman containers: ${out//$'\n'/ }")
  out="$(node_volumes)"
  [[ -z "${out}" ]] || problems+=("podman volumes: ${out//$'\n'/ }")
  ! podman network exists "${KIND_NETWORK}" || problems+=("podman network ${KIND_NETWORK}")
  out="$(orphaned_node_ids)"
  [[ -z "${out}" ]] || problems+=("cgroups of node containers podman no longer knows: ${out//$'\n'/ }")
  local id
  for id in "${NODE_IDS[@]}"; do
    out="$(find /sys/fs/cgroup -maxdepth 3 -type d -name "*${id}*" 2>/dev/null)"
    [[ -z "${out}" ]] || problems+=("cgroups of node container ${id:0:12}: ${out//$'\n'/ }")
    out="$(live_pids -f -- "${id}")"
    [[ -z "${out}" ]] || problems+=("processes of node container ${id:0:12} (conmon): ${out//$'\n'/ }")
  done
  out="$(ip -4 -o addr show 2>/dev/null | awk -v gw="$(cut -d/ -f1 <<<"${KIND_SUBNET}" | sed 's/\.0$/.1/')" 'index($4, gw "/") == 1 {print $2}')"
  [[ -z "${out}" ]] || problems+=("bridge ${out} with the network's gateway address")
  out="$(iptables-save 2>/dev/null | grep -E -- "NETAVARK|${KIND_SUBNET}" || true)"
  [[ -z "${out}" ]] || problems+=("iptables rules: ${out//$'\n'/; }")
  out="$(our_aardvark_dns)"
  [[ -z "${out}" ]] || problems+=("aardvark-dns processes: ${out//$'\n'/ }")
  out="$(live_pids -f "docker-registry serve ${KIND_STATE}/")"
  [[ -z "${out}" ]] || problems+=("registry processes: ${out//$'\n'/ }")
  [[ ! -e "${KIND_STATE}" ]] || problems+=("${KIND_STATE}")
  [[ ! -e "${KIND_KUBECONFIG}" ]] || problems+=("${KIND_KUBECONFIG}")

  if ((${#problems[@]} > 0)); then
    local p
    for p in "${problems[@]}"; do printf 'ERROR: kind teardown left behind: %s\n' "${p}" >&2; done
    return 1
  fi
  log "verified: no podman container, volume or network, bridge, iptables rule, listener or state of the kind cluster remains"
}

podman_down() {
  require_root
  command -v podman >/dev/null || { log "podman is not installed: nothing to tear down"; return 0; }
  # Each step is best effort; podman_verify decides the exit code.
  PID_DIR="${KIND_STATE}/pids" LOG_DIR="${KIND_STATE}/logs"
  step "stop the nodes' registry" stop_daemon registry || true
  step "delete cluster" podman_delete_cluster || true
  step "remove network" podman_remove_network || true
  step "remove state" podman_remove_files || true
  print_step_times
  podman_verify
}

case "${1:-up}" in
  up | down)
    PROVIDER="$(provider)"
    "${PROVIDER}_${1:-up}"
    ;;
  config)
    [[ "${2:-docker}" == docker || "${2:-}" == podman ]] || die "usage: $0 config [docker|podman]"
    kind_config "${2:-docker}"
    ;;
  *) die "usage: $0 up|down|config [docker|podman]" ;;
esac
