#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine from upstream components,
# like Kubernetes' own hack/local-up-cluster.sh: containerd with runc and the CNI bridge,
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet, each run
# directly on the host as a background process (no Docker, no systemd).
#
# It first installs what is missing, builds or reuses the pinned binaries and the test
# images, so one command works on a fresh machine and is fast when everything is cached.
# A healthy cluster that is already running is reused; anything else left over from an
# earlier run is torn down first (hack/local-down-cluster.sh).
#
# Network: nothing leaves this machine. Clients use https://127.0.0.1:${APISERVER_PORT};
# etcd, the controllers and the registry listen on loopback only; pods sit on the
# ${CNI_BRIDGE} bridge, and a guard rule rejects any packet a pod sends off the bridge.
#
# Usage: sudo hack/local-up-cluster.sh     then: export KUBECONFIG=${PODTRACE_STATE}/admin.kubeconfig
set -o errexit -o nounset -o pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"
cd "${REPO_ROOT}"

CONFIG_DIR="${PODTRACE_STATE}/config"
CNI_CONF_DIR="${CONFIG_DIR}/cni"
REGISTRY_HOSTS_DIR="${CONFIG_DIR}/registry-hosts"
KUBELET_ROOT="${PODTRACE_STATE}/kubelet"
PAUSE_IMAGE="${REGISTRY}/pause:3.10"

# The first addresses of the service network: the `kubernetes` Service gets .1; .10 is
# handed to pods as their DNS server, as kind does, although no DNS server runs (their
# lookups are rejected at once by the guard rule instead of leaving the host).
SERVICE_PREFIX="${SERVICE_CIDR%/*}"; SERVICE_PREFIX="${SERVICE_PREFIX%.*}"
KUBERNETES_SERVICE_IP="${SERVICE_PREFIX}.1"
CLUSTER_DNS_IP="${SERVICE_PREFIX}.10"

kubectl_admin() { kubectl --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }

# --- the state of an earlier run ----------------------------------------------------------

CLUSTER_DAEMONS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet csi-hostpath)

cluster_healthy() {
  local d
  for d in "${CLUSTER_DAEMONS[@]}"; do daemon_pid "${d}" >/dev/null || return 1; done
  [[ -f "${ADMIN_KUBECONFIG}" ]] || return 1
  kubectl_admin get --raw /readyz >/dev/null 2>&1 || return 1
  tracing_matches || return 1
  stack_matches || return 1
  [[ "$(kubectl_admin get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

leftovers_exist() {
  [[ -e "${PODTRACE_STATE}" || -e "${PODTRACE_RUN}" ]] || ip link show "${CNI_BRIDGE}" >/dev/null 2>&1
}

# --- kernel settings -------------------------------------------------------------------

setup_kernel() {
  # The kubelet checks these tunables at start and fails when it cannot set them itself.
  local setting
  for setting in vm.overcommit_memory=1 vm.panic_on_oom=0 kernel.panic=10 kernel.panic_on_oops=1 \
    kernel.keys.root_maxkeys=1000000 kernel.keys.root_maxbytes=25000000 net.ipv4.ip_forward=1; do
    sysctl -q -w "${setting}" || die "cannot set ${setting}"
  done
  # br_netfilter is not needed without kube-proxy; there may be no modprobe either.
  if [[ ! -d /proc/sys/net/bridge ]]; then
    modprobe br_netfilter 2>/dev/null || log "br_netfilter not available; bridged pod traffic bypasses iptables (fine without kube-proxy)"
  fi
}

# --- certificates and kubeconfigs ------------------------------------------------------

generate_pki() {
  mkdir -p "${PKI_DIR}"
  chmod 700 "${PKI_DIR}"
  # One CA signs everything: serving and client certificates and the kubelet's.
  new_key "${PKI_DIR}/ca.key"
  openssl req -x509 -new -key "${PKI_DIR}/ca.key" -subj "/CN=podtrace-ca" -days 3650 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "${PKI_DIR}/ca.crt"

  new_cert kube-apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:${NODE_NAME},IP:127.0.0.1,IP:${HOST_IP},IP:${KUBERNETES_SERVICE_IP}"
  new_cert admin "/O=system:masters/CN=podtrace-admin" clientAuth
  new_cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
  new_cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
  # The kubelet's certificate is both its client identity (the Node authorizer and the
  # NodeRestriction admission plugin key on system:node:<name>) and its serving
  # certificate, so the apiserver can verify the kubelet it talks to.
  new_cert kubelet "/O=system:nodes/CN=system:node:${NODE_NAME}" "clientAuth, serverAuth" \
    "DNS:${NODE_NAME},IP:${HOST_IP},IP:127.0.0.1"
  # The apiserver's identity towards the kubelet (logs, exec, port-forward).
  new_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth

  # Service-account tokens: the apiserver signs and verifies them, the controller-manager
  # signs the legacy ones.
  new_key "${PKI_DIR}/service-account.key"
  openssl pkey -in "${PKI_DIR}/service-account.key" -pubout -out "${PKI_DIR}/service-account.pub"
}

# write_kubeconfig FILE USER CERT_NAME: a self-contained kubeconfig for https://127.0.0.1.
write_kubeconfig() {
  local file="$1" user="$2" cert="$3"
  kubectl config --kubeconfig "${file}" set-cluster podtrace --embed-certs \
    --server "https://127.0.0.1:${APISERVER_PORT}" --certificate-authority "${PKI_DIR}/ca.crt" >/dev/null
  kubectl config --kubeconfig "${file}" set-credentials "${user}" --embed-certs \
    --client-certificate "${PKI_DIR}/${cert}.crt" --client-key "${PKI_DIR}/${cert}.key" >/dev/null
  kubectl config --kubeconfig "${file}" set-context podtrace --cluster podtrace --user "${user}" >/dev/null
  kubectl config --kubeconfig "${file}" use-context podtrace >/dev/null
  chmod 600 "${file}"
}

generate_kubeconfigs() {
  mkdir -p "${KUBECONFIG_DIR}"
  write_kubeconfig "${ADMIN_KUBECONFIG}" podtrace-admin admin
  write_kubeconfig "${KUBECONFIG_DIR}/kube-controller-manager.kubeconfig" system:kube-controller-manager kube-controller-manager
  write_kubeconfig "${KUBECONFIG_DIR}/kube-scheduler.kubeconfig" system:kube-scheduler kube-scheduler
  write_kubeconfig "${KUBECONFIG_DIR}/kubelet.kubeconfig" "system:node:${NODE_NAME}" kubelet
}

# --- containerd and the pod network ----------------------------------------------------

write_containerd_config() {
  mkdir -p "${CONFIG_DIR}" "${CNI_CONF_DIR}" "${REGISTRY_HOSTS_DIR}/${REGISTRY}" "${REGISTRY_HOSTS_DIR}/_default" \
    "${PODTRACE_STATE}/containerd" "${PODTRACE_RUN}/containerd"

  # Our own root, state and socket, so a system containerd (if any) is left alone.
  cat >"${CONFIG_DIR}/containerd.toml" <<EOF
version = 2
root = "${PODTRACE_STATE}/containerd"
state = "${PODTRACE_RUN}/containerd"
# 0 leaves containerd's oom_score_adj alone: lowering it needs CAP_SYS_RESOURCE.
oom_score = 0

[grpc]
  address = "${CONTAINERD_SOCK}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # Containers may not get an oom_score_adj below containerd's own (no CAP_SYS_RESOURCE).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  # The kubelet uses the cgroupfs driver (no systemd here); both must agree.
  SystemdCgroup = false
  # runc's state next to containerd's instead of the default /run/containerd/runc.
  Root = "${PODTRACE_RUN}/runc"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${CNI_CONF_DIR}"
  max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri".registry]
  # Per-registry hosts.toml files (not the deprecated mirrors table).
  config_path = "${REGISTRY_HOSTS_DIR}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${PODTRACE_STATE}/containerd-opt"
EOF

  # The local registry speaks plain HTTP on loopback.
  cat >"${REGISTRY_HOSTS_DIR}/${REGISTRY}/hosts.toml" <<EOF
server = "http://${REGISTRY}"

[host."http://${REGISTRY}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
EOF
  # Every other registry resolves to a closed loopback port: an image reference that is
  # not local fails at once with "connection refused" instead of going to the internet.
  cat >"${REGISTRY_HOSTS_DIR}/_default/hosts.toml" <<EOF
server = "http://127.0.0.1:9"

[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF

  # Pods on one bridge, addresses from host-local IPAM (one of each family on a
  # dual-stack cluster; the IPv6 range has no default route, pods reach only the bridge).
  # No ipMasq: masquerading only matters for traffic leaving the host, which this cluster
  # never sends. The IPAM store is inside our state directory so teardown removes it with
  # everything else.
  cat >"${CNI_CONF_DIR}/10-${CNI_NETWORK}.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "${CNI_NETWORK}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${CNI_BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [$(pod_ranges)],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "${PODTRACE_STATE}/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

pod_ranges() {
  printf '[{ "subnet": "%s" }]' "${POD_CIDR}"
  if dual_stack; then printf ', [{ "subnet": "%s" }]' "${POD_CIDR6}"; fi
}

service_ranges() {
  if dual_stack; then echo "${SERVICE_CIDR},${SERVICE_CIDR6}"; else echo "${SERVICE_CIDR}"; fi
}

# Whether a running cluster has the IP families asked for now.
stack_matches() {
  if dual_stack; then
    grep -qF "${POD_CIDR6}" "${CNI_CONF_DIR}/10-${CNI_NETWORK}.conflist" 2>/dev/null
  else
    ! grep -qF "${POD_CIDR6}" "${CNI_CONF_DIR}/10-${CNI_NETWORK}.conflist" 2>/dev/null
  fi
}

# Pods may talk to each other and to this host, never through it: anything a pod sends
# that would be forwarded off the bridge is rejected (a connection fails at once), in
# both families on a dual-stack cluster.
setup_pod_network_guard() {
  local ipt
  for ipt in iptables $(dual_stack && echo ip6tables); do
    "${ipt}" -w -N PODTRACE-GUARD 2>/dev/null || "${ipt}" -w -F PODTRACE-GUARD
    "${ipt}" -w -A PODTRACE-GUARD -i "${CNI_BRIDGE}" -o "${CNI_BRIDGE}" -j RETURN
    "${ipt}" -w -A PODTRACE-GUARD -i "${CNI_BRIDGE}" -j REJECT
    "${ipt}" -w -C FORWARD -j PODTRACE-GUARD 2>/dev/null \
      || "${ipt}" -w -I FORWARD 1 -j PODTRACE-GUARD
  done
  dual_stack && keep_ipv6_host_settings
  return 0
}

# The bridge plugin turns on IPv6 forwarding for an IPv6 gateway, and a host that forwards
# IPv6 stops taking router advertisements on interfaces with accept_ra=1. What the host had
# is saved (hack/local-down-cluster.sh puts it back), and such interfaces get accept_ra=2:
# advertisements are still taken while forwarding.
keep_ipv6_host_settings() {
  local saved="${PODTRACE_STATE}/host-ipv6-settings" f
  [[ -f "${saved}" ]] && return 0
  {
    echo "/proc/sys/net/ipv6/conf/all/forwarding $(cat /proc/sys/net/ipv6/conf/all/forwarding)"
    for f in /proc/sys/net/ipv6/conf/*/accept_ra; do
      [[ "${f}" == */all/* || "${f}" == */default/* || "${f}" == */lo/* ]] && continue
      [[ "$(cat "${f}")" == 1 ]] && echo "${f} 1"
    done
  } >"${saved}.tmp"
  mv "${saved}.tmp" "${saved}"
  awk '$2 == 1 && $1 ~ /accept_ra$/ {print $1}' "${saved}" | while read -r f; do echo 2 >"${f}"; done
}

start_containerd() {
  write_containerd_config
  setup_pod_network_guard
  start_daemon containerd containerd --config "${CONFIG_DIR}/containerd.toml"
  wait_for containerd 30 ctr --address "${CONTAINERD_SOCK}" version \
    || die "containerd did not start; see ${LOG_DIR}/containerd.log"
  # Pre-pull the sandbox image as kind's node image has it, so the first pod's trace is
  # not skewed by it. Only its own image is ever pulled: from the local registry.
  ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io images pull --hosts-dir "${REGISTRY_HOSTS_DIR}" \
    "${PAUSE_IMAGE}" >/dev/null
}

# --- tracing ---------------------------------------------------------------------------

tracing_on() { [[ "${PODTRACE_TRACING}" == 1 ]]; }

# The collector runs before the components that send to it, so no span is lost and nothing
# logs failed exports.
start_collector() {
  "${HACK_DIR}/otel-collector.sh" up
}

# The apiserver's spans: every request, its admission webhooks and its etcd calls.
apiserver_tracing_flags() {
  tracing_on || return 0
  cat >"${CONFIG_DIR}/apiserver-tracing.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: TracingConfiguration
endpoint: ${OTLP_GRPC_ENDPOINT}
samplingRatePerMillion: 1000000
EOF
  echo "--tracing-config-file=${CONFIG_DIR}/apiserver-tracing.yaml"
}

# The kubelet's spans: every pod sync (syncPod, with the pod's name and uid), the CRI calls
# made in it (RunPodSandbox, PullImage, CreateContainer, StartContainer, ExecSync for exec
# hooks and probes) and its API requests (status patches, events).
kubelet_tracing_config() {
  tracing_on || return 0
  cat <<EOF
tracing:
  endpoint: ${OTLP_GRPC_ENDPOINT}
  samplingRatePerMillion: 1000000
EOF
}

# Whether a running cluster was started with the tracing asked for now.
tracing_matches() {
  if tracing_on; then
    "${HACK_DIR}/otel-collector.sh" status && grep -q '^tracing:' "${CONFIG_DIR}/kubelet.yaml" 2>/dev/null
  else
    ! grep -q '^tracing:' "${CONFIG_DIR}/kubelet.yaml" 2>/dev/null
  fi
}

# --- control plane ---------------------------------------------------------------------

start_etcd() {
  mkdir -p "${PODTRACE_STATE}/etcd"
  chmod 700 "${PODTRACE_STATE}/etcd"
  # Loopback only; plain HTTP like upstream's local-up-cluster. --unsafe-no-fsync: the data
  # lives as long as this throw-away cluster, and fsyncs make every API write slow.
  start_daemon etcd etcd --name podtrace --data-dir "${PODTRACE_STATE}/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster podtrace=http://127.0.0.1:2380 --initial-cluster-state new \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -fsS --max-time 2 http://127.0.0.1:2379/health \
    || die "etcd did not start; see ${LOG_DIR}/etcd.log"
}

start_apiserver() {
  local tracing_flags
  tracing_flags="$(apiserver_tracing_flags)"
  # The advertise address is this host's own interface address: the `kubernetes`
  # Endpoints reject loopback. It listens on loopback only; nothing in the cluster needs
  # to reach it through the advertised address (no kube-proxy, no in-cluster clients).
  start_daemon kube-apiserver kube-apiserver \
    --advertise-address "${HOST_IP}" --bind-address 127.0.0.1 --secure-port "${APISERVER_PORT}" \
    --etcd-servers http://127.0.0.1:2379 \
    --tls-cert-file "${PKI_DIR}/kube-apiserver.crt" --tls-private-key-file "${PKI_DIR}/kube-apiserver.key" \
    --client-ca-file "${PKI_DIR}/ca.crt" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --service-cluster-ip-range "$(service_ranges)" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "${PKI_DIR}/service-account.pub" \
    --service-account-signing-key-file "${PKI_DIR}/service-account.key" \
    --kubelet-client-certificate "${PKI_DIR}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${PKI_DIR}/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "${PKI_DIR}/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    ${tracing_flags} \
    --v 1
  wait_for kube-apiserver 90 kubectl_admin get --raw /readyz \
    || die "kube-apiserver did not become ready; see ${LOG_DIR}/kube-apiserver.log"
}

start_controllers() {
  local kc="${KUBECONFIG_DIR}/kube-controller-manager.kubeconfig"
  # --root-ca-file publishes the kube-root-ca.crt ConfigMap that every pod's projected
  # service-account volume needs; --use-service-account-credentials gives each controller
  # its own identity, as in kubeadm clusters.
  start_daemon kube-controller-manager kube-controller-manager \
    --kubeconfig "${kc}" --authentication-kubeconfig "${kc}" --authorization-kubeconfig "${kc}" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --root-ca-file "${PKI_DIR}/ca.crt" \
    --service-account-private-key-file "${PKI_DIR}/service-account.key" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "${PKI_DIR}/ca.crt" --cluster-signing-key-file "${PKI_DIR}/ca.key" \
    --service-cluster-ip-range "$(service_ranges)" \
    --flex-volume-plugin-dir "${PODTRACE_STATE}/kubelet-plugins" \
    --enable-hostpath-provisioner=true \
    --v 1
  kc="${KUBECONFIG_DIR}/kube-scheduler.kubeconfig"
  start_daemon kube-scheduler kube-scheduler \
    --kubeconfig "${kc}" --authentication-kubeconfig "${kc}" --authorization-kubeconfig "${kc}" \
    --bind-address 127.0.0.1 --leader-elect=false --v 1
  wait_for kube-controller-manager 60 curl -kfsS --max-time 2 https://127.0.0.1:10257/healthz \
    || die "kube-controller-manager did not become healthy; see ${LOG_DIR}/kube-controller-manager.log"
  wait_for kube-scheduler 60 curl -kfsS --max-time 2 https://127.0.0.1:10259/healthz \
    || die "kube-scheduler did not become healthy; see ${LOG_DIR}/kube-scheduler.log"
}

# --- the node --------------------------------------------------------------------------

# The kubelet's cgroupRoot must exist in every hierarchy before it starts.
create_cgroup_root() {
  local hierarchy
  if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
    mkdir -p "/sys/fs/cgroup/${KUBELET_CGROUP_ROOT}"
    return
  fi
  # cgroup v1: one directory per mounted hierarchy (and the unified one, if mounted).
  for hierarchy in /sys/fs/cgroup/*/; do
    mkdir -p "${hierarchy}${KUBELET_CGROUP_ROOT}"
  done
}

start_kubelet() {
  create_cgroup_root
  mkdir -p "${KUBELET_ROOT}" "${PODTRACE_STATE}/pod-logs" "${PODTRACE_STATE}/kubelet-plugins"
  cat >"${CONFIG_DIR}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
# cgroup v1 hierarchies and no systemd on this machine.
cgroupDriver: cgroupfs
cgroupRoot: /${KUBELET_CGROUP_ROOT}
failCgroupV1: false
failSwapOn: false
# Lowering the kubelet's own score needs CAP_SYS_RESOURCE, which root lacks here.
oomScoreAdj: 0
address: ${HOST_IP}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${PKI_DIR}/kubelet.crt
tlsPrivateKeyFile: ${PKI_DIR}/kubelet.key
rotateCertificates: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${PKI_DIR}/ca.crt
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS:
  - ${CLUSTER_DNS_IP}
# A nearly full disk must not evict test pods or delete the images they use.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Everything the kubelet writes stays in our state directory.
podLogsDir: ${PODTRACE_STATE}/pod-logs
volumePluginDir: ${PODTRACE_STATE}/kubelet-plugins
$(kubelet_tracing_config)
EOF
  start_daemon kubelet kubelet --config "${CONFIG_DIR}/kubelet.yaml" \
    --kubeconfig "${KUBECONFIG_DIR}/kubelet.kubeconfig" \
    --root-dir "${KUBELET_ROOT}" --cert-dir "${KUBELET_ROOT}/pki" \
    --hostname-override "${NODE_NAME}" --node-ip "${HOST_IP}" \
    --v 2
  wait_for kubelet 60 curl -fsS --max-time 2 http://127.0.0.1:10248/healthz \
    || die "the kubelet did not become healthy; see ${LOG_DIR}/kubelet.log"
}

node_schedulable() {
  [[ "$(kubectl_admin get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]] || return 1
  # The node lifecycle controller removes the not-ready taint shortly after Ready; until
  # then new pods would wait in the scheduler.
  [[ -z "$(kubectl_admin get node "${NODE_NAME}" -o jsonpath='{.spec.taints}')" ]]
}

wait_node_ready() {
  wait_for "node Ready" 120 node_schedulable \
    || die "node ${NODE_NAME} did not become Ready; see ${LOG_DIR}/kubelet.log"
}

wait_default_service_account() {
  # Pods in `default` need its ServiceAccount (admission) and the kube-root-ca.crt ConfigMap
  # (their projected token volume).
  wait_for "default ServiceAccount" 60 kubectl_admin -n default get serviceaccount default \
    || die "the default ServiceAccount was not created; see ${LOG_DIR}/kube-controller-manager.log"
  wait_for "kube-root-ca.crt" 60 kubectl_admin -n default get configmap kube-root-ca.crt \
    || die "the kube-root-ca.crt ConfigMap was not published; see ${LOG_DIR}/kube-controller-manager.log"
}

# Dynamic provisioning as on real clusters: the controller-manager's hostPath provisioner
# (directories under /tmp/hostpath_pv, removed when their claim goes) behind a default
# StorageClass that binds on first use (WaitForFirstConsumer), so claims are provisioned
# while their pod is being scheduled, with the PersistentVolume controller's own events.
apply_storage_class() {
  kubectl_admin apply -f - >/dev/null <<'EOF'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: podtrace-hostpath
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
}

# Volumes that are attached, as on clouds: hack/tools/csi-hostpath is the CSI driver and
# plays the parts of its sidecars (provisioner, attacher, the kubelet's registration), with
# a StorageClass that binds on first use. Its CSIDriver says attachRequired, so the
# attach/detach controller attaches each volume (a VolumeAttachment, SuccessfulAttachVolume)
# before the kubelet mounts it.
start_csi_driver() {
  local tool
  tool="$(hack_tool csi-hostpath)"
  start_daemon csi-hostpath "${tool}" -kubeconfig "${ADMIN_KUBECONFIG}" -node "${NODE_NAME}" \
    -kubelet-root "${KUBELET_ROOT}" -data "${PODTRACE_STATE}/csi-hostpath"
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: hostpath.csi.podtrace.dev
spec:
  attachRequired: true
  podInfoOnMount: false
  volumeLifecycleModes: [Persistent]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: podtrace-csi
provisioner: hostpath.csi.podtrace.dev
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
---
# Volumes a cloud will not attach (quota, zone): every attach fails, for tests.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: podtrace-csi-unattachable
provisioner: hostpath.csi.podtrace.dev
parameters:
  failAttach: the disk quota of the zone is exhausted
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
  wait_for "the CSI driver registered with the kubelet" 60 csi_driver_registered \
    || die "the CSI driver did not register; see ${LOG_DIR}/csi-hostpath.log and ${LOG_DIR}/kubelet.log"
}

csi_driver_registered() {
  [[ "$(kubectl_admin get csinode "${NODE_NAME}" -o jsonpath='{.spec.drivers[*].name}' 2>/dev/null)" == *hostpath.csi.podtrace.dev* ]]
}

print_usage() {
  local total="$1"
  cat >&2 <<EOF

Local cluster is up (${total}s in all): $(kubectl_admin get node "${NODE_NAME}" --no-headers 2>/dev/null)

  kubeconfig:  ${ADMIN_KUBECONFIG}
  kubectl:     ${KUBE_BIN_DIR}/kubectl
  images:      ${REGISTRY}/pause:3.10 ${REGISTRY}/busybox:1 ${REGISTRY}/bigimage:1
  logs:        ${LOG_DIR}

  export KUBECONFIG=${ADMIN_KUBECONFIG} PATH=${KUBE_BIN_DIR}:\$PATH
  kubectl get nodes

Tear it down with: hack/local-down-cluster.sh
EOF
}

on_exit() {
  local status=$?
  ((status == 0)) && return
  print_step_times
  log "bringing the cluster up failed; component logs are in ${LOG_DIR}"
  log "tear down what was started with: hack/local-down-cluster.sh"
}

main() {
  require_root
  trap on_exit EXIT
  local started=${SECONDS}
  HOST_IP="${HOST_IP:-$(host_ip)}"
  [[ -n "${HOST_IP}" ]] || HOST_IP="$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')"
  [[ -n "${HOST_IP}" ]] || die "this host has no non-loopback IPv4 address for the apiserver to advertise"

  step "install dependencies" "${HACK_DIR}/install-deps.sh"
  step "build Kubernetes ${KUBE_VERSION} and etcd ${ETCD_VERSION}" "${HACK_DIR}/build-kube.sh"
  if tracing_on; then
    step "build the OpenTelemetry collector ${OTELCOL_VERSION}" "${HACK_DIR}/build-otelcol.sh"
  fi

  if cluster_healthy; then
    log "a healthy cluster is already running; reusing it"
    step "test images" "${HACK_DIR}/build-images.sh"
    step "storage class" apply_storage_class
    print_step_times
    print_usage "$((SECONDS - started))"
    return
  fi
  if leftovers_exist; then
    step "tear down the previous cluster" "${HACK_DIR}/local-down-cluster.sh"
  fi

  step "test images" "${HACK_DIR}/build-images.sh"
  step "kernel settings" setup_kernel
  step "certificates" generate_pki
  step "kubeconfigs" generate_kubeconfigs
  step "containerd" start_containerd
  step "etcd" start_etcd
  if tracing_on; then
    step "OpenTelemetry collector" start_collector
  fi
  step "kube-apiserver" start_apiserver
  step "kube-controller-manager and kube-scheduler" start_controllers
  step "kubelet" start_kubelet
  step "node Ready" wait_node_ready
  step "default ServiceAccount" wait_default_service_account
  step "storage class" apply_storage_class
  step "CSI driver" start_csi_driver
  print_step_times
  print_usage "$((SECONDS - started))"
}

main "$@"
