#!/usr/bin/env bash
# Records ground-truth fixtures: for each manifest test/fixtures/spans/NAME.yaml, traces it
# with podtrace on the local cluster (--record NAME.ndjson, the raw observed stream) and
# saves every span the OpenTelemetry collector received meanwhile (NAME.spans.jsonl.gz:
# the OTLP JSON lines as the collector's sink wrote them, nothing removed, gzipped as the
# apiserver's spans of a few seconds take megabytes). Needs the cluster up
# with tracing (the default; hack/otel-collector.sh status). Never hand-edit the outputs.
#
#   bash hack/record-spans.sh [name ...]     (default: every manifest in test/fixtures/spans/)
#
# A manifest's first line "# podtrace-args: ..." gives the flags it is run with. Run it
# under the cluster lock: flock /tmp/podtrace-cluster.lock bash hack/record-spans.sh
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"
use_node

export KUBECONFIG="${KUBECONFIG:-${ADMIN_KUBECONFIG}}"
DIR=test/fixtures/spans
"${REPO_ROOT}/hack/otel-collector.sh" status || die "the OpenTelemetry collector is not running (hack/otel-collector.sh up)"
[[ -f dist/podtrace.js ]] || npm run build >/dev/null

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for f in "${DIR}"/*.yaml; do names+=("$(basename "${f}" .yaml)"); done
fi

for name in "${names[@]}"; do
  manifest="${DIR}/${name}.yaml"
  [[ -f "${manifest}" ]] || die "no manifest ${manifest}"
  read -r -a args <<<"$(sed -n '1s/^# podtrace-args://p' "${manifest}")"
  # Where the span file ends now (and which file it is: the sink rotates it).
  inode="$(stat -c %i "${SPANS_FILE}")"
  offset="$(stat -c %s "${SPANS_FILE}")"
  log "recording ${name} ${args[*]:-}"
  status=0
  bin/podtrace.js run "${manifest}" "${args[@]}" --no-color --record "${DIR}/${name}.ndjson" >/dev/null || status=$?
  log "  exit ${status}"
  # The kubelet and the apiserver export every 5 s; the collector forwards at once.
  sleep 7
  [[ "$(stat -c %i "${SPANS_FILE}")" == "${inode}" ]] || die "the span file was rotated during the run; run again"
  # Whole lines only: the sink may be writing the last one.
  tail -c "+$((offset + 1))" "${SPANS_FILE}" >"${DIR}/${name}.spans.jsonl.tmp"
  [[ -z "$(tail -c 1 "${DIR}/${name}.spans.jsonl.tmp")" ]] || sed -i '$d' "${DIR}/${name}.spans.jsonl.tmp"
  log "  $(wc -l <"${DIR}/${name}.spans.jsonl.tmp") export requests, $(du -h "${DIR}/${name}.spans.jsonl.tmp" | cut -f1)"
  gzip -9 -n -c "${DIR}/${name}.spans.jsonl.tmp" >"${DIR}/${name}.spans.jsonl.gz"
  rm -f "${DIR}/${name}.spans.jsonl.tmp"
done
