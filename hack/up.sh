#!/usr/bin/env bash
# The one set-up command: on a fresh machine it installs what is missing (Debian packages,
# Node 24, npm packages), builds podtrace and the Kubernetes components, brings up the
# local cluster and traces the example pod. Run again, it reuses everything and is quick.
#
#   bash hack/up.sh
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"
require_root

step "install dependencies" bash hack/install-deps.sh
use_node
install_npm_packages() {
  # npm ci only when the lock file changed since the last install.
  if [[ ! -f node_modules/.package-lock.json ]] || ! cmp -s package-lock.json node_modules/.podtrace-lock; then
    npm ci --no-audit --no-fund
    cp package-lock.json node_modules/.podtrace-lock
  fi
}
step "npm packages" install_npm_packages
step "build podtrace" npm run --silent build
step "local cluster" bash hack/local-up-cluster.sh
print_step_times

export KUBECONFIG="${ADMIN_KUBECONFIG}"
log "tracing examples/web.yaml on the local cluster"
bin/podtrace.js run -f examples/web.yaml --service
cat >&2 <<MSG

The local cluster is up. To use it yourself:
  export KUBECONFIG=${ADMIN_KUBECONFIG} PATH=${NODE_BIN_DIR}:${KUBE_BIN_DIR}:\$PATH
  bin/podtrace.js run -f examples/web.yaml --service
Tests:     bash hack/test.sh
Tear down: bash hack/local-down-cluster.sh
MSG
