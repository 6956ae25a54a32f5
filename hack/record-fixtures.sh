#!/usr/bin/env bash
# Records the unit-test fixtures: runs podtrace against the local cluster for every
# manifest in test/fixtures/manifests/ and saves the raw observed stream next to it in
# test/fixtures/recordings/. Fixtures are always recordings of real runs, never written
# by hand; rerun this after a change to what podtrace observes.
#
#   bash hack/record-fixtures.sh [name ...]     (default: every manifest)
#
# A manifest's first line "# podtrace-args: ..." gives the flags it is run with. Objects a
# scenario needs to exist beforehand (a Service that already selects the pod, say) are in
# <name>.setup.yaml next to it: applied before the run and deleted after it. What another
# controller would do during the run (set a readiness gate) is <name>.during.sh, started
# beside the run with kubectl, the kubeconfig and the namespace as arguments. A line
# "# podtrace-condition: ..." makes the cluster have a condition it lacks for the run:
#   kubelet-skew OFFSET_MS   the node's clock OFFSET_MS off (hack/kubelet-skew.sh)
#   api-latency DELAY_MS     podtrace DELAY_MS away from the apiserver (hack/api-latency.sh)
# The refusals (rejected-*.ndjson) need the cluster set up to refuse (PodSecurity labels, a
# LimitRange, a policy, a webhook, a limited ServiceAccount): their e2e test records them:
#   PODTRACE_RECORD_FIXTURES=1 npx vitest run --project e2e test/e2e/rejections.test.ts
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"
use_node

export KUBECONFIG="${KUBECONFIG:-${PODTRACE_STATE}/admin.kubeconfig}"
[[ -f dist/podtrace.js ]] || npm run build >/dev/null

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for f in test/fixtures/manifests/*.yaml; do [[ "${f}" == *.setup.yaml ]] || names+=("$(basename "${f}" .yaml)"); done
fi

for name in "${names[@]}"; do
  manifest="test/fixtures/manifests/${name}.yaml"
  [[ -f "${manifest}" ]] || die "no manifest ${manifest}"
  read -r -a args <<<"$(sed -n '1s/^# podtrace-args://p' "${manifest}")"
  if [[ "${name}" == image-pulled ]]; then
    # A real pull needs the image gone from the node first.
    ctr --address "${CONTAINERD_SOCK}" --namespace k8s.io images rm "${REGISTRY}/bigimage:1" >/dev/null 2>&1 || true
  fi
  setup="test/fixtures/manifests/${name}.setup.yaml"
  if [[ -f "${setup}" ]]; then "${KUBE_BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG}" apply -f "${setup}" >/dev/null; fi
  log "recording ${name} ${args[*]:-}"
  during="test/fixtures/manifests/${name}.during.sh"
  if [[ -x "${during}" ]]; then "${during}" "${KUBE_BIN_DIR}/kubectl" "${KUBECONFIG}" default & fi
  read -r -a condition <<<"$(sed -n 's/^# podtrace-condition://p' "${manifest}")"
  kubeconfig="${KUBECONFIG}"
  case "${condition[0]:-}" in
    "") ;;
    kubelet-skew) bash hack/kubelet-skew.sh on "${condition[1]}" >/dev/null ;;
    api-latency)
      bash hack/api-latency.sh up "${condition[1]}" >/dev/null
      kubeconfig="${PODTRACE_STATE}/admin-delayed.kubeconfig"
      ;;
    *) die "${manifest}: unknown podtrace-condition ${condition[0]}" ;;
  esac
  status=0
  KUBECONFIG="${kubeconfig}" bin/podtrace.js run "${manifest}" "${args[@]}" --no-color --record "test/fixtures/recordings/${name}.ndjson" >/dev/null || status=$?
  log "  exit ${status}"
  case "${condition[0]:-}" in
    kubelet-skew) bash hack/kubelet-skew.sh off >/dev/null ;;
    api-latency) bash hack/api-latency.sh down >/dev/null ;;
  esac
  wait
  if [[ -f "${setup}" ]]; then "${KUBE_BIN_DIR}/kubectl" --kubeconfig "${KUBECONFIG}" delete --wait=false -f "${setup}" >/dev/null; fi
done
