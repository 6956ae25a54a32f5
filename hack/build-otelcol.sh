#!/usr/bin/env bash
# Builds the OpenTelemetry collector the local cluster's traces go to, from the Go module
# proxy with the collector's own builder (ocb), into ${PODTRACE_CACHE}; a version already
# built is reused as it is. Also builds hack/tools/otlp-sink, the file sink the collector
# exports to.
#
# The collector has only core components: the OTLP receiver (gRPC on loopback), the
# otlphttp exporter (to hack/tools/otlp-sink, which writes OTLP JSON lines to a file) and
# the debug exporter. The contrib fileexporter would write the file itself but does not
# build from the module proxy here (one of its test dependencies is not served).
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
export GOMAXPROCS="${GOMAXPROCS:-2}"

build_otelcol() {
  local work="${PODTRACE_CACHE}/build/otelcol-${OTELCOL_VERSION}"
  mkdir -p "${work}" "${OTELCOL_BIN_DIR}"
  cd "${work}"
  log "building the collector builder ${OTELCOL_VERSION}"
  GOBIN="${work}/bin" go install "go.opentelemetry.io/collector/cmd/builder@${OTELCOL_VERSION}"
  cat >builder-config.yaml <<YAML
dist:
  name: otelcol
  description: OpenTelemetry collector for podtrace's local cluster (core components only)
  output_path: ${work}/dist
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver ${OTELCOL_VERSION}
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter ${OTELCOL_VERSION}
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter ${OTELCOL_VERSION}
providers:
  # Without the env provider the collector refuses to start ("DefaultScheme not found").
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider ${OTELCOL_CONFMAP_VERSION}
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider ${OTELCOL_CONFMAP_VERSION}
YAML
  log "building otelcol ${OTELCOL_VERSION} (first time: downloads its modules from the Go module proxy)"
  "${work}/bin/builder" --config builder-config.yaml
  mv "${work}/dist/otelcol" "${OTELCOL_BIN_DIR}/otelcol.tmp"
  mv "${OTELCOL_BIN_DIR}/otelcol.tmp" "${OTELCOL_BIN_DIR}/otelcol"
}

main() {
  command -v go >/dev/null || die "Go is needed to build the collector (expected at /usr/local/go/bin)"
  if [[ -x "${OTELCOL_BIN_DIR}/otelcol" ]]; then
    log "otelcol ${OTELCOL_VERSION} already built in ${OTELCOL_BIN_DIR}"
  else
    build_otelcol
  fi
  hack_tool otlp-sink >/dev/null
}

main "$@"
