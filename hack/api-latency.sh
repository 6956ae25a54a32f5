#!/usr/bin/env bash
# Adds network latency between a client and the local cluster's apiserver, as a remote
# cluster would have: a TCP proxy on loopback (test/support/delay-proxy.ts) that forwards
# 127.0.0.1:${API_DELAY_PORT} to the apiserver with a delay each way, TLS end to end, and a
# kubeconfig that goes through it. Only clients given that kubeconfig are slowed; the
# cluster's own components are not.
#
#   hack/api-latency.sh up [DELAY_MS]   start (default 25 ms each way; a running proxy is replaced)
#   hack/api-latency.sh down            stop
#   hack/api-latency.sh status          exit 0 when running
#
# then: KUBECONFIG=${PODTRACE_STATE}/admin-delayed.kubeconfig bin/podtrace.js run ...
# hack/local-down-cluster.sh stops it with the cluster.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"
use_node

DELAYED_KUBECONFIG="${PODTRACE_STATE}/admin-delayed.kubeconfig"

up() {
  local delay="${1:-25}"
  [[ "${delay}" =~ ^[0-9]+$ ]] || die "the delay is whole milliseconds, got ${delay}"
  [[ -f "${ADMIN_KUBECONFIG}" ]] || die "no local cluster (${ADMIN_KUBECONFIG} is missing): hack/local-up-cluster.sh first"
  stop_daemon api-delay-proxy
  ! port_open "127.0.0.1:${API_DELAY_PORT}" || die "127.0.0.1:${API_DELAY_PORT} is already in use by another process"
  start_daemon api-delay-proxy node "${REPO_ROOT}/test/support/delay-proxy.ts" \
    --listen "127.0.0.1:${API_DELAY_PORT}" --upstream "127.0.0.1:${APISERVER_PORT}" --delay-ms "${delay}" \
    --kubeconfig "${ADMIN_KUBECONFIG}" --kubeconfig-out "${DELAYED_KUBECONFIG}"
  wait_for api-delay-proxy 10 port_open "127.0.0.1:${API_DELAY_PORT}" \
    || die "the delay proxy did not start; see ${LOG_DIR}/api-delay-proxy.log"
  kubectl --kubeconfig "${DELAYED_KUBECONFIG}" get --raw /readyz >/dev/null \
    || die "the apiserver is not reachable through the delay proxy; see ${LOG_DIR}/api-delay-proxy.log"
  log "apiserver +${delay} ms each way at https://127.0.0.1:${API_DELAY_PORT}: export KUBECONFIG=${DELAYED_KUBECONFIG}"
}

down() {
  stop_daemon api-delay-proxy
  rm -f "${DELAYED_KUBECONFIG}"
}

case "${1:-}" in
  up) up "${2:-25}" ;;
  down) down ;;
  status) daemon_pid api-delay-proxy >/dev/null ;;
  *) die "usage: $0 up [DELAY_MS] | down | status" ;;
esac
