#!/usr/bin/env bash
# Runs an OpenTelemetry collector next to the local cluster, so the spans that the
# kubelet and kube-apiserver emit (hack/local-up-cluster.sh turns their tracing on) are
# kept: OTLP/gRPC on ${OTLP_GRPC_ENDPOINT} (loopback only) -> the collector's otlphttp
# exporter (JSON) -> hack/tools/otlp-sink -> one OTLP JSON line per export request in
# ${SPANS_FILE} (read it with test/support/otel-spans.ts).
#
# hack/local-up-cluster.sh starts it (unless PODTRACE_TRACING=0) before the apiserver, and
# hack/local-down-cluster.sh stops it; this script restarts it on its own, e.g. after a
# crash or to start a fresh span file. While it is down, the kubelet and the apiserver log
# a failed export every 10-15 s and drop their spans.
#
#   hack/otel-collector.sh up       build if needed, start (a running one is reused)
#   hack/otel-collector.sh down     stop (the collector first, so it flushes into the sink)
#   hack/otel-collector.sh status   exit 0 when both are running
#
# The span file lives in the cluster's state directory: hack/local-down-cluster.sh stops
# both daemons and removes it.
set -o errexit -o nounset -o pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"

OTEL_DIR="$(dirname "${SPANS_FILE}")"

running() { daemon_pid otelcol >/dev/null && daemon_pid otlp-sink >/dev/null; }

write_config() {
  cat >"${OTEL_DIR}/otelcol.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${OTLP_GRPC_ENDPOINT}
exporters:
  otlp_http:
    traces_endpoint: http://${OTLP_SINK_ADDRESS}/v1/traces
    # OTLP JSON, uncompressed: the sink writes each request body as one line.
    encoding: json
    compression: none
    retry_on_failure:
      enabled: true
service:
  telemetry:
    # No metrics endpoint of its own (it would listen on :8888).
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http]
YAML
}

up() {
  if running; then
    log "the collector is already running (spans in ${SPANS_FILE})"
    return
  fi
  # Half of it running: start over.
  down
  "${HACK_DIR}/build-otelcol.sh"
  local endpoint sink
  sink="$(hack_tool otlp-sink)"
  for endpoint in "${OTLP_GRPC_ENDPOINT}" "${OTLP_SINK_ADDRESS}"; do
    ! port_open "${endpoint}" || die "${endpoint} is already in use by another process"
  done
  mkdir -p "${OTEL_DIR}"
  write_config
  start_daemon otlp-sink "${sink}" -listen "${OTLP_SINK_ADDRESS}" -out "${SPANS_FILE}"
  wait_for otlp-sink 10 port_open "${OTLP_SINK_ADDRESS}" || die "otlp-sink did not start; see ${LOG_DIR}/otlp-sink.log"
  start_daemon otelcol "${OTELCOL_BIN_DIR}/otelcol" --config "file:${OTEL_DIR}/otelcol.yaml"
  wait_for otelcol 30 port_open "${OTLP_GRPC_ENDPOINT}" || die "otelcol did not start; see ${LOG_DIR}/otelcol.log"
  log "collector up: OTLP/gRPC on ${OTLP_GRPC_ENDPOINT}, spans appended to ${SPANS_FILE}"
}

down() {
  # The collector drains its queue into the sink when it stops; then the sink.
  stop_daemon otelcol 15
  stop_daemon otlp-sink
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running ;;
  *) die "usage: $0 up|down|status" ;;
esac
