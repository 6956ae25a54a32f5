#!/usr/bin/env bash
# Tears down the cluster of hack/local-up-cluster.sh and removes everything it created,
# then checks that nothing is left: no process, mount, network namespace, bridge,
# iptables rule or cgroup of ours, no state directory. Exits non-zero if something
# remains. Safe to run any number of times, also after a crash or a half-finished up.
#
# Build outputs in ${PODTRACE_CACHE} (binaries, the registry's storage) are kept.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

ctr_k8s() { ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io "$@"; }

# --- processes -------------------------------------------------------------------------

stop_kubernetes() {
  # The kubelet first, so that it does not restart the containers removed below.
  stop_daemon kubelet 20
  stop_daemon csi-hostpath
  stop_daemon kube-scheduler
  stop_daemon kube-controller-manager
  stop_daemon kube-apiserver 20
  stop_daemon etcd 20
}

stop_collector() {
  stop_daemon otelcol 15
  stop_daemon otlp-sink
}

# The proxies between clients (or the kubelet) and the apiserver: hack/api-latency.sh and
# hack/kubelet-skew.sh.
stop_proxies() {
  stop_daemon api-delay-proxy
  stop_daemon kubelet-skew-proxy
}

remove_pod_containers() {
  daemon_pid containerd >/dev/null || return 0
  ctr --address "${CONTAINERD_SOCK}" version >/dev/null 2>&1 || return 0
  local ids id i
  mapfile -t ids < <(ctr_k8s tasks ls -q 2>/dev/null)
  if ((${#ids[@]} > 0)); then
    log "killing ${#ids[@]} pod container(s)"
    for id in "${ids[@]}"; do ctr_k8s tasks kill --signal SIGKILL "${id}" >/dev/null 2>&1 || true; done
    # containerd's CRI plugin deletes a task itself when it sees it exit; delete the rest.
    for ((i = 0; i < 100; i++)); do
      mapfile -t ids < <(ctr_k8s tasks ls -q 2>/dev/null)
      ((${#ids[@]} > 0)) || break
      for id in "${ids[@]}"; do ctr_k8s tasks delete "${id}" >/dev/null 2>&1 || true; done
      sleep 0.1
    done
  fi
  mapfile -t ids < <(ctr_k8s containers ls -q 2>/dev/null)
  for id in "${ids[@]}"; do ctr_k8s containers delete "${id}" >/dev/null 2>&1 || true; done
}

# Processes of ours that have no pid file: containerd's shims (recognised by our socket in
# their command line) and anything still running in the pods' cgroups.
leftover_pids() {
  local p pid exe cmdline
  for p in /proc/[0-9]*; do
    pid="${p#/proc/}"
    exe="$(readlink "${p}/exe" 2>/dev/null || true)"
    case "${exe##*/}" in
      containerd-shim* | containerd | runc | etcd | kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | docker-registry \
        | otelcol | otlp-sink | kubelet-skew-proxy | csi-hostpath)
        cmdline="$(tr '\0' ' ' <"${p}/cmdline" 2>/dev/null || true)"
        if [[ "${cmdline}" == *"${CONTAINERD_SOCK}"* || "${cmdline}" == *"${PODTRACE_STATE}"* \
          || "${cmdline}" == *"${PODTRACE_RUN}"* || "${cmdline}" == *"${REGISTRY_STORAGE}"* ]]; then
          echo "${pid}"
          continue
        fi
        ;;
    esac
    # The delay proxy runs in Node; its command line names its script and our kubeconfig.
    if [[ "${exe##*/}" == node ]]; then
      cmdline="$(tr '\0' ' ' <"${p}/cmdline" 2>/dev/null || true)"
      if [[ "${cmdline}" == *delay-proxy.ts* && "${cmdline}" == *"${PODTRACE_STATE}"* ]]; then
        echo "${pid}"
        continue
      fi
    fi
    grep -qs ":/${KUBELET_CGROUP_ROOT}/" "${p}/cgroup" && echo "${pid}"
  done
  return 0
}

kill_leftovers() {
  local pids i
  mapfile -t pids < <(leftover_pids)
  ((${#pids[@]} > 0)) || return 0
  log "killing ${#pids[@]} leftover process(es): ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    mapfile -t pids < <(leftover_pids)
    ((${#pids[@]} == 0)) && return 0
    sleep 0.1
  done
}

# --- mounts ----------------------------------------------------------------------------

# Mount points under our directories, most recent first (so stacked mounts unwind).
our_mounts() {
  awk -v state="${PODTRACE_STATE}" -v run="${PODTRACE_RUN}" '
    { gsub(/\\040/, " ", $5) }
    $5 == state || index($5, state "/") == 1 || $5 == run || index($5, run "/") == 1 { print $5 }
  ' /proc/self/mountinfo | tac
}

unmount_all() {
  local pass m mounts
  for ((pass = 0; pass < 5; pass++)); do
    mapfile -t mounts < <(our_mounts)
    ((${#mounts[@]} > 0)) || return 0
    for m in "${mounts[@]}"; do
      umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || true
    done
  done
}

# --- network ---------------------------------------------------------------------------

# ip_in_cidr IP CIDR
ip_in_cidr() {
  local ip="$1" net="${2%/*}" bits="${2#*/}" a b c d
  IFS=. read -r a b c d <<<"${ip}"; local ipn=$(((a << 24) | (b << 16) | (c << 8) | d))
  IFS=. read -r a b c d <<<"${net}"; local netn=$(((a << 24) | (b << 16) | (c << 8) | d))
  local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  (((ipn & mask) == (netn & mask)))
}

# Network namespaces that containerd made for our pods: named cni-*, with an address
# from our pod network.
our_netns() {
  local ns addr
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "${ns}" == cni-* ]] || continue
    for addr in $(ip -n "${ns}" -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4}'); do
      if ip_in_cidr "${addr}" "${POD_CIDR}"; then echo "${ns}"; break; fi
    done
  done
}

remove_network() {
  local ns link
  for ns in $(our_netns); do
    log "deleting network namespace ${ns}"
    ip netns delete "${ns}" 2>/dev/null || true
  done
  # veths of pods whose namespace is already gone but still hang on the bridge.
  for link in $(ip -o link show master "${CNI_BRIDGE}" 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
    ip link delete "${link}" 2>/dev/null || true
  done
  if ip link show "${CNI_BRIDGE}" >/dev/null 2>&1; then
    log "deleting bridge ${CNI_BRIDGE}"
    ip link delete "${CNI_BRIDGE}"
  fi
}

# A rule is ours when it mentions our CNI network (the plugins' comments), pod network,
# bridge or guard chain.
rule_is_ours() {
  local rule="$1"
  [[ "${rule}" == *"\\\"${CNI_NETWORK}\\\""* || "${rule}" == *" ${POD_CIDR} "* || "${rule}" == *" ${POD_CIDR}" \
    || "${rule}" == *" ${POD_CIDR6} "* || "${rule}" == *" ${POD_CIDR6}" \
    || "${rule}" == *"-i ${CNI_BRIDGE} "* || "${rule}" == *"-o ${CNI_BRIDGE} "* \
    || "${rule}" == *"-i ${CNI_BRIDGE}" || "${rule}" == *"-o ${CNI_BRIDGE}" || "${rule}" == *PODTRACE-* ]]
}

# Chains the kubelet creates for itself. Ours to remove when no other kubelet or
# kube-proxy runs on this host.
KUBELET_CHAINS=(KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-FIREWALL)

# Another kubelet or kube-proxy in this host's network and mount namespaces, whose
# iptables chains and files would be the same as ours. Those of kind's nodes (containers,
# namespaces of their own) are visible in /proc but touch none of it.
other_kubernetes_running() {
  local p exe net mnt
  net="$(readlink /proc/self/ns/net)" mnt="$(readlink /proc/self/ns/mnt)"
  for p in /proc/[0-9]*; do
    exe="$(readlink "${p}/exe" 2>/dev/null || true)"
    case "${exe##*/}" in
      kubelet | kube-proxy)
        [[ "$(readlink "${p}/ns/net" 2>/dev/null)" == "${net}" && "$(readlink "${p}/ns/mnt" 2>/dev/null)" == "${mnt}" ]] && return 0
        ;;
    esac
  done
  return 1
}

chain_exists() { "${IPT}" -w -t "$1" -S "$2" >/dev/null 2>&1; }
chain_referenced() { "${IPT}" -w -t "$1" -S | grep -qE -- "-j $2( |\$)"; }

# remove_rules TABLE PREDICATE: delete every rule for which PREDICATE succeeds; prints
# the chains those rules jumped to.
remove_rules() {
  local table="$1" predicate="$2" chain rules i target
  for chain in $("${IPT}" -w -t "${table}" -S | awk '$1 == "-P" || $1 == "-N" {print $2}'); do
    mapfile -t rules < <("${IPT}" -w -t "${table}" -S "${chain}" | grep -- '^-A ')
    # From the last rule backwards, so the numbers of the remaining ones stay valid.
    for ((i = ${#rules[@]}; i >= 1; i--)); do
      if "${predicate}" "${rules[i - 1]}"; then
        target="$(awk '{for (j = 1; j < NF; j++) if ($j == "-j") print $(j + 1)}' <<<"${rules[i - 1]}")"
        "${IPT}" -w -t "${table}" -D "${chain}" "${i}"
        [[ "${target}" == CNI-* || "${target}" == PODTRACE-* || "${target}" == KUBE-* ]] && echo "${target}"
      fi
    done
  done
  return 0
}

delete_chain() {
  local table="$1" chain="$2"
  chain_exists "${table}" "${chain}" || return 0
  chain_referenced "${table}" "${chain}" && return 0
  "${IPT}" -w -t "${table}" -F "${chain}"
  "${IPT}" -w -t "${table}" -X "${chain}"
}

JUMP_TARGETS=()
jumps_to_targets() {
  local rule="$1" t
  for t in "${JUMP_TARGETS[@]}"; do [[ "${rule}" == *"-j ${t}" || "${rule}" == *"-j ${t} "* ]] && return 0; done
  return 1
}

# The command of the family being cleaned: iptables, then ip6tables (the kubelet makes its
# chains in both; a dual-stack cluster adds the guard and the plugins' IPv6 rules).
IPT=iptables

remove_iptables() {
  for IPT in iptables ip6tables; do
    command -v "${IPT}" >/dev/null 2>&1 && "${IPT}" -w -S >/dev/null 2>&1 || continue
    remove_family_rules
  done
  IPT=iptables
}

remove_family_rules() {
  local table chain targets
  for table in filter nat mangle raw; do
    "${IPT}" -w -t "${table}" -S >/dev/null 2>&1 || continue
    mapfile -t targets < <(remove_rules "${table}" rule_is_ours | sort -u)
    for chain in "${targets[@]}" $("${IPT}" -w -t "${table}" -S | awk '$1 == "-N" && $2 ~ /^PODTRACE-/ {print $2}'); do
      delete_chain "${table}" "${chain}"
    done
    # The portmap plugin's shared chains are useless once no port mapping is left.
    if [[ "${table}" == nat ]] && chain_exists nat CNI-HOSTPORT-DNAT \
      && [[ -z "$("${IPT}" -w -t nat -S CNI-HOSTPORT-DNAT | grep -- '^-A ' || true)" ]]; then
      JUMP_TARGETS=(CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ)
      remove_rules nat jumps_to_targets >/dev/null
      for chain in "${JUMP_TARGETS[@]}"; do delete_chain nat "${chain}"; done
    fi
    if ! other_kubernetes_running; then
      JUMP_TARGETS=("${KUBELET_CHAINS[@]}")
      remove_rules "${table}" jumps_to_targets >/dev/null
      for chain in "${KUBELET_CHAINS[@]}"; do delete_chain "${table}" "${chain}"; done
    fi
  done
}

# --- files and cgroups -----------------------------------------------------------------

# Our cgroup subtree (the kubelet's cgroupRoot) in every hierarchy, leaves first.
remove_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/"${KUBELET_CGROUP_ROOT}" /sys/fs/cgroup/"${KUBELET_CGROUP_ROOT}"; do
    [[ -d "${dir}" ]] || continue
    find "${dir}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# The few things the components put outside our directories, at paths they do not let
# us choose. Directories go only when empty, so nobody else's files are touched.
remove_files_outside() {
  local link result id
  # The kubelet links every container's log into /var/log/containers; ours point into
  # our state directory.
  for link in /var/log/containers/*.log; do
    [[ -L "${link}" && "$(readlink "${link}")" == "${PODTRACE_STATE}/"* ]] && rm -f "${link}"
  done
  rmdir /var/log/containers 2>/dev/null || true
  # libcni caches each attachment's result in /var/lib/cni/results; CNI DEL would remove
  # them, but the pods were killed without one. ${CNI_NETWORK}-<sandbox>-eth0 is ours, and
  # so is cni-loopback-<sandbox>-lo of the same sandbox.
  for result in /var/lib/cni/results/"${CNI_NETWORK}"-*-eth0; do
    [[ -e "${result}" ]] || continue
    id="${result##*/"${CNI_NETWORK}"-}"; id="${id%-eth0}"
    rm -f "${result}" "/var/lib/cni/results/cni-loopback-${id}-lo"
  done
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  # The device-plugin socket has a fixed path, whatever the kubelet's root directory.
  if ! other_kubernetes_running; then
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock
    rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
  fi
  rmdir /usr/libexec/kubernetes/kubelet-plugins/volume/exec /usr/libexec/kubernetes/kubelet-plugins/volume \
    /usr/libexec/kubernetes/kubelet-plugins /usr/libexec/kubernetes 2>/dev/null || true
  return 0
}

remove_files() {
  remove_files_outside
  if [[ -n "$(our_mounts)" ]]; then
    log "mounts remain under ${PODTRACE_STATE} or ${PODTRACE_RUN}; not removing them"
    return 0
  fi
  # --one-file-system: never follow into anything still mounted below.
  rm -rf --one-file-system "${PODTRACE_STATE}" "${PODTRACE_RUN}"
  # Volumes the controller-manager's hostPath provisioner made and nobody deleted.
  rm -rf --one-file-system /tmp/hostpath_pv
  # containerd 1.6 always puts its shims' sockets in /run/containerd/s; remove the
  # directories if they are empty (rmdir leaves them alone otherwise).
  rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null || true
}

# What a dual-stack cluster changed on the host (hack/local-up-cluster.sh saved it): IPv6
# forwarding and the interfaces' accept_ra, put back as they were.
restore_host_ipv6_settings() {
  local saved="${PODTRACE_STATE}/host-ipv6-settings" path value
  [[ -f "${saved}" ]] || return 0
  while read -r path value; do
    [[ "${path}" == /proc/sys/net/ipv6/conf/* && -w "${path}" ]] && echo "${value}" >"${path}"
  done <"${saved}"
  rm -f "${saved}"
}

# --- verification ----------------------------------------------------------------------

verify() {
  local problems=() pids mounts netns rules cgroups
  mapfile -t pids < <(leftover_pids)
  ((${#pids[@]} == 0)) || problems+=("processes still running: ${pids[*]}")
  mapfile -t mounts < <(our_mounts)
  ((${#mounts[@]} == 0)) || problems+=("mounts remain: ${mounts[*]}")
  mapfile -t netns < <(our_netns)
  ((${#netns[@]} == 0)) || problems+=("network namespaces remain: ${netns[*]}")
  ! ip link show "${CNI_BRIDGE}" >/dev/null 2>&1 || problems+=("bridge ${CNI_BRIDGE} remains")
  rules="$({ iptables-save; ip6tables-save; } 2>/dev/null | grep -E -- "\\\\\"${CNI_NETWORK}\\\\\"|${POD_CIDR}|${POD_CIDR6}|${CNI_BRIDGE}|PODTRACE-" || true)"
  [[ -z "${rules}" ]] || problems+=("iptables rules remain: ${rules//$'\n'/; }")
  cgroups="$(ls -d /sys/fs/cgroup/*/"${KUBELET_CGROUP_ROOT}" /sys/fs/cgroup/"${KUBELET_CGROUP_ROOT}" 2>/dev/null || true)"
  [[ -z "${cgroups}" ]] || problems+=("cgroups remain: ${cgroups//$'\n'/ }")
  ! compgen -G "/var/lib/cni/results/${CNI_NETWORK}-*" >/dev/null || problems+=("CNI result cache files remain in /var/lib/cni/results")
  [[ ! -e "${PODTRACE_STATE}" ]] || problems+=("${PODTRACE_STATE} remains")
  [[ ! -e "${PODTRACE_RUN}" ]] || problems+=("${PODTRACE_RUN} remains")

  if ((${#problems[@]} > 0)); then
    local p
    for p in "${problems[@]}"; do printf 'ERROR: teardown left behind: %s\n' "${p}" >&2; done
    return 1
  fi
  log "verified: no process, mount, network namespace, bridge, iptables rule, cgroup or state directory of the local cluster remains"
}

# Every step is best effort: one that fails must not keep the others from cleaning up;
# verify() decides the exit code.
cleanup_step() {
  local name="$1"
  step "$@" || log "warning: step \"${name}\" failed; continuing"
}

main() {
  require_root
  cleanup_step "stop Kubernetes components" stop_kubernetes
  cleanup_step "stop the apiserver proxies" stop_proxies
  # After the components, so it still receives the spans they flush as they stop.
  cleanup_step "stop the OpenTelemetry collector" stop_collector
  cleanup_step "remove pod containers" remove_pod_containers
  cleanup_step "stop containerd" stop_daemon containerd 15
  cleanup_step "stop the registry" stop_daemon registry
  cleanup_step "kill leftover processes" kill_leftovers
  cleanup_step "unmount" unmount_all
  cleanup_step "remove pod network" remove_network
  cleanup_step "remove iptables rules" remove_iptables
  cleanup_step "restore the host's IPv6 settings" restore_host_ipv6_settings
  cleanup_step "remove cgroups" remove_cgroups
  cleanup_step "remove state" remove_files
  print_step_times
  verify
}

main "$@"
