#!/usr/bin/env bash
# The test command: type check, build, unit tests and end-to-end tests against the local
# cluster (brought up first if it is not running). The output ends with "N passed, N failed".
#
#   bash hack/test.sh                 everything
#   bash hack/test.sh --unit          unit tests only (no cluster needed)
#   bash hack/test.sh test/e2e/F...   these end-to-end test files only (after a build)
#
# With KUBECONFIG set, the end-to-end tests run against that cluster instead (a kind
# cluster of hack/kind.sh, say).
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

use_node
[[ -d node_modules ]] || npm ci --no-audit --no-fund

if [[ "${1:-}" == --unit ]]; then
  npm run --silent typecheck
  npm run --silent build
  exec npx vitest run --project unit
fi

if [[ -z "${KUBECONFIG:-}" ]]; then
  export KUBECONFIG="${ADMIN_KUBECONFIG}"
  # The local cluster: bring it up when it is not running (quick when it is).
  if ! kubectl --kubeconfig "${KUBECONFIG}" get --raw /readyz >/dev/null 2>&1; then
    require_root
    bash hack/local-up-cluster.sh
  fi
fi
if (($# > 0)); then
  npm run --silent build
  exec npx vitest run --project e2e "$@"
fi
npm test
