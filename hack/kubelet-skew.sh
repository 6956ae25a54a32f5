#!/usr/bin/env bash
# Makes the local cluster's node look as if its clock ran OFFSET_MS behind (negative) or
# ahead (positive) of the apiserver's: the kubelet is switched to reach the apiserver
# through hack/tools/kubelet-skew-proxy, which shifts every timestamp the kubelet writes
# (pod status, Events and their names, node status, its Lease). Only the kubelet is
# restarted; its pods keep running.
#
#   hack/kubelet-skew.sh on OFFSET_MS    e.g. on -2000 (a running proxy is replaced)
#   hack/kubelet-skew.sh off             the kubelet talks to the apiserver directly again
#   hack/kubelet-skew.sh status          prints the offset; exit 1 when off
#
# Stamps written before the switch keep their time; while the skew is on, the kubelet
# re-sends each pod's status every ~10 s (it differs from the apiserver's copy), which the
# proxy turns into no-op patches. Run it under the cluster lock: others' runs see a node
# whose kubelet restarts. hack/local-down-cluster.sh stops the proxy with the cluster.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SKEWED_KUBECONFIG="${KUBECONFIG_DIR}/kubelet-skewed.kubeconfig"
DIRECT_KUBECONFIG="${KUBECONFIG_DIR}/kubelet.kubeconfig"
OFFSET_FILE="${PODTRACE_STATE}/kubelet-skew-offset-ms"

kubectl_admin() { kubectl --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }

# The kubelet's command line with its --kubeconfig set to $1, into the array KUBELET_ARGV.
kubelet_argv_with() {
  local kubeconfig="$1" pid i
  pid="$(daemon_pid kubelet)" || die "the kubelet is not running (no live pid in ${PID_DIR}/kubelet.pid)"
  mapfile -d '' -t KUBELET_ARGV <"/proc/${pid}/cmdline"
  for ((i = 0; i < ${#KUBELET_ARGV[@]}; i++)); do
    case "${KUBELET_ARGV[i]}" in
      --kubeconfig) KUBELET_ARGV[i + 1]="${kubeconfig}"; return ;;
      --kubeconfig=*) KUBELET_ARGV[i]="--kubeconfig=${kubeconfig}"; return ;;
    esac
  done
  die "the kubelet has no --kubeconfig flag"
}

kubelet_uses() { [[ "$(tr '\0' '\n' <"/proc/$(daemon_pid kubelet)/cmdline")" == *"$1"* ]]; }

node_ready() {
  [[ "$(kubectl_admin get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

# Restarts the kubelet with its --kubeconfig set to $1, and waits until it is healthy and
# has renewed its node status through it.
restart_kubelet_with() {
  local kubeconfig="$1" before
  kubelet_argv_with "${kubeconfig}"
  before="$(kubectl_admin get lease -n kube-node-lease "${NODE_NAME}" -o jsonpath='{.spec.renewTime}' 2>/dev/null || true)"
  stop_daemon kubelet 20
  start_daemon kubelet "${KUBELET_ARGV[@]}"
  wait_for kubelet 60 curl -fsS --max-time 2 http://127.0.0.1:10248/healthz \
    || die "the kubelet did not become healthy; see ${LOG_DIR}/kubelet.log"
  lease_renewed() { [[ "$(kubectl_admin get lease -n kube-node-lease "${NODE_NAME}" -o jsonpath='{.spec.renewTime}')" != "${before}" ]]; }
  wait_for "lease renewed" 60 lease_renewed || die "the kubelet did not renew its lease; see ${LOG_DIR}/kubelet.log"
  wait_for "node Ready" 60 node_ready || die "node ${NODE_NAME} is not Ready; see ${LOG_DIR}/kubelet.log"
}

proxy_certificate() {
  [[ -f "${PKI_DIR}/kubelet-skew-proxy.crt" ]] && return
  new_cert kubelet-skew-proxy "/CN=kubelet-skew-proxy" serverAuth "IP:127.0.0.1,DNS:localhost"
}

on() {
  local offset="$1" proxy
  [[ "${offset}" =~ ^[+-]?[0-9]+$ ]] || die "the offset is whole milliseconds (negative: the node's clock is behind), got ${offset}"
  [[ -f "${DIRECT_KUBECONFIG}" ]] || die "no local cluster (${DIRECT_KUBECONFIG} is missing): hack/local-up-cluster.sh first"
  proxy="$(hack_tool kubelet-skew-proxy)"
  proxy_certificate
  stop_daemon kubelet-skew-proxy
  ! port_open "127.0.0.1:${KUBELET_SKEW_PORT}" || die "127.0.0.1:${KUBELET_SKEW_PORT} is already in use by another process"
  start_daemon kubelet-skew-proxy "${proxy}" -listen "127.0.0.1:${KUBELET_SKEW_PORT}" \
    -upstream "https://127.0.0.1:${APISERVER_PORT}" -offset-ms "${offset}" -ca "${PKI_DIR}/ca.crt" \
    -cert "${PKI_DIR}/kubelet-skew-proxy.crt" -key "${PKI_DIR}/kubelet-skew-proxy.key" \
    -client-cert "${PKI_DIR}/kubelet.crt" -client-key "${PKI_DIR}/kubelet.key"
  wait_for kubelet-skew-proxy 10 port_open "127.0.0.1:${KUBELET_SKEW_PORT}" \
    || die "the skew proxy did not start; see ${LOG_DIR}/kubelet-skew-proxy.log"
  echo "${offset}" >"${OFFSET_FILE}"
  # The kubelet's own kubeconfig with the proxy as its server.
  cp "${DIRECT_KUBECONFIG}" "${SKEWED_KUBECONFIG}"
  kubectl config --kubeconfig "${SKEWED_KUBECONFIG}" set-cluster podtrace --server "https://127.0.0.1:${KUBELET_SKEW_PORT}" >/dev/null
  if kubelet_uses "${SKEWED_KUBECONFIG}"; then
    # Already switched: it reconnects to the new proxy by itself.
    wait_for "node Ready" 60 node_ready || die "node ${NODE_NAME} is not Ready; see ${LOG_DIR}/kubelet.log"
  else
    restart_kubelet_with "${SKEWED_KUBECONFIG}"
  fi
  log "the kubelet's clock looks ${offset} ms off to the cluster (through 127.0.0.1:${KUBELET_SKEW_PORT})"
}

off() {
  if daemon_pid kubelet >/dev/null && kubelet_uses "${SKEWED_KUBECONFIG}"; then
    restart_kubelet_with "${DIRECT_KUBECONFIG}"
  fi
  stop_daemon kubelet-skew-proxy
  rm -f "${SKEWED_KUBECONFIG}" "${OFFSET_FILE}"
  log "the kubelet talks to the apiserver directly"
}

status() {
  daemon_pid kubelet-skew-proxy >/dev/null && kubelet_uses "${SKEWED_KUBECONFIG}" || { echo off; return 1; }
  echo "$(<"${OFFSET_FILE}") ms"
}

case "${1:-}" in
  on) on "${2:?usage: $0 on OFFSET_MS}" ;;
  off) off ;;
  status) status ;;
  *) die "usage: $0 on OFFSET_MS | off | status" ;;
esac
