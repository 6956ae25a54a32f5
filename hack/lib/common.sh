#!/usr/bin/env bash
# Shared settings and helpers for the hack/ scripts. Sourced, never run.
#
# Everything the local cluster needs lives in two places outside the work tree:
#   PODTRACE_CACHE  build outputs that survive teardown (binaries, images), keyed by version
#   PODTRACE_STATE  one cluster's state (certs, etcd data, containerd root, logs, pids);
#                   removed by hack/local-down-cluster.sh

# Pinned versions. Changing one rebuilds only what depends on it.
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
NODE_MAJOR="${NODE_MAJOR:-24}"
# The OpenTelemetry collector (core components) and the confmap providers of the same release.
OTELCOL_VERSION="${OTELCOL_VERSION:-v0.162.0}"
OTELCOL_CONFMAP_VERSION="${OTELCOL_CONFMAP_VERSION:-v1.68.0}"
# kind without Docker (hack/kind.sh, hack/build-kind-node.sh). kind v0.33.0 still runs
# on cgroup v1 hosts like these (with a deprecation warning); Kubernetes 1.35 and later
# refuse cgroup v1 by default, so the node image stays at KUBE_VERSION.
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"

PODTRACE_CACHE="${PODTRACE_CACHE:-/var/cache/podtrace}"
PODTRACE_STATE="${PODTRACE_STATE:-/var/lib/podtrace-cluster}"

KUBE_BIN_DIR="${PODTRACE_CACHE}/kube-${KUBE_VERSION}/bin"
ETCD_BIN_DIR="${PODTRACE_CACHE}/etcd-${ETCD_VERSION}/bin"
KIND_BIN="${PODTRACE_CACHE}/kind-${KIND_VERSION}/bin/kind"
COREDNS_BIN="${PODTRACE_CACHE}/coredns-${COREDNS_VERSION}/bin/coredns"
NODE_PREFIX="${PODTRACE_CACHE}/node${NODE_MAJOR}"
NODE_BIN_DIR="${NODE_PREFIX}/node_modules/.bin"
OTELCOL_BIN_DIR="${PODTRACE_CACHE}/otelcol-${OTELCOL_VERSION}/bin"

# 1: the local cluster's kubelet and apiserver send OpenTelemetry spans to a collector that
# hack/local-up-cluster.sh builds and starts (the benchmark's ground truth); 0: no tracing
# at all (CI, which runs no benchmark, saves the collector's build).
PODTRACE_TRACING="${PODTRACE_TRACING:-1}"
# Where the cluster's components send their spans (OTLP/gRPC), and where the collector's
# exporter hands them to the file sink (OTLP/HTTP); both loopback only (hack/otel-collector.sh).
OTLP_GRPC_ENDPOINT="${OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}"
OTLP_SINK_ADDRESS="${OTLP_SINK_ADDRESS:-127.0.0.1:4319}"

# The local registry that serves the test images; loopback only.
REGISTRY="${REGISTRY:-127.0.0.1:5000}"

# Pod and service networks of the local cluster. The bridge only exists on this host.
POD_CIDR="${POD_CIDR:-10.88.0.0/16}"
SERVICE_CIDR="${SERVICE_CIDR:-10.96.0.0/16}"
# The IPv6 halves of a dual-stack cluster (unique local addresses, on no interface but our
# bridge): pods get an address of each family, Services may ask for either or both.
POD_CIDR6="${POD_CIDR6:-fd10:88::/64}"
SERVICE_CIDR6="${SERVICE_CIDR6:-fd10:96::/112}"
# 1: dual-stack (IPv4 first) when this host has IPv6 and ip6tables for the guard; 0: IPv4 only.
PODTRACE_DUAL_STACK="${PODTRACE_DUAL_STACK:-1}"
CNI_BRIDGE="${CNI_BRIDGE:-podtrace0}"
NODE_NAME="${NODE_NAME:-podtrace-node}"
APISERVER_PORT="${APISERVER_PORT:-6443}"
# The apiserver with added latency (hack/api-latency.sh).
API_DELAY_PORT="${API_DELAY_PORT:-6444}"
# The kubelet's way to the apiserver when its clock is skewed (hack/kubelet-skew.sh).
KUBELET_SKEW_PORT="${KUBELET_SKEW_PORT:-6445}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# step NAME CMD...: run one step and print how long it took, so slow start-ups explain themselves.
STEP_TIMES=()
step() {
  local name="$1"; shift
  local start end
  start=$(date +%s.%N)
  log "==> ${name}"
  "$@"
  end=$(date +%s.%N)
  local took
  took=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
  STEP_TIMES+=("${name}: ${took}s")
  log "    ${name} done in ${took}s"
}

print_step_times() {
  local t
  log "step times:"
  for t in "${STEP_TIMES[@]}"; do log "  ${t}"; done
}

require_root() {
  [[ "$(id -u)" == 0 ]] || die "this script manages containerd, mounts and iptables and must run as root (try: sudo $0)"
}

# The machine's own outward address: the apiserver must advertise a non-loopback address
# (the kubernetes Service's Endpoints reject loopback). Nothing is ever sent to it from
# outside; it is only this host's own interface.
host_ip() {
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src"){print $(i+1); exit}}' \
    || true
}

# Whether the local cluster is (to be) dual-stack: asked for, and the host can keep pods'
# IPv6 traffic on the bridge as it does their IPv4 traffic.
dual_stack() {
  [[ "${PODTRACE_DUAL_STACK}" == 1 && "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)" == 0 ]] \
    && ip6tables -w -S >/dev/null 2>&1
}

# Put Node >= 22 first on PATH: the machine's Node may be older.
use_node() {
  if [[ -x "${NODE_BIN_DIR}/node" ]]; then
    export PATH="${NODE_BIN_DIR}:${PATH}"
  fi
  npm_without_unknown_user_config
}

# npm 11 prints "npm warn Unknown user config KEY" on every command for each key of the
# user's npmrc it does not know. On the machines this project is developed on, the machine
# image's ~/.npmrc (not this repository) sets nodedir=/usr: a node-gyp setting npm no longer
# reads, pointing at the headers of the machine's older Node, and podtrace builds no native
# addons. The set-up's npm commands read a copy of the user's npmrc without those keys
# (everything else, registry and credentials included, still applies); the file itself is
# left alone.
npm_without_unknown_user_config() {
  command -v npm >/dev/null 2>&1 || return 0
  local userconfig="${NPM_CONFIG_USERCONFIG:-${npm_config_userconfig:-${HOME:-/root}/.npmrc}}"
  [[ -f "${userconfig}" ]] || return 0
  local unknown
  unknown="$(npm config get registry 2>&1 >/dev/null | sed -n 's/^npm warn Unknown user config "\([^"]*\)".*/\1/p' | sort -u)"
  [[ -n "${unknown}" ]] || return 0
  local copy="${TMPDIR:-/tmp}/podtrace-npmrc-$(id -u)" pattern
  pattern="$(sed 's/[][\.*^$/]/\\&/g' <<<"${unknown}" | paste -sd '|')"
  # Written aside and renamed: another checkout's set-up may be reading the copy right now.
  (umask 077 && { grep -Ev "^[[:space:]]*(${pattern})[[:space:]]*=" "${userconfig}" >"${copy}.$$" || true; } && mv -f "${copy}.$$" "${copy}")
  export NPM_CONFIG_USERCONFIG="${copy}"
  log "npm: reading ${userconfig} without $(paste -sd ' ' <<<"${unknown}") (settings this npm does not know, which made it warn on every command)"
}

# Runtime files of the local cluster (sockets, containerd's state): tmpfs, removed by teardown.
PODTRACE_RUN="${PODTRACE_RUN:-/run/podtrace}"
CONTAINERD_SOCK="${PODTRACE_RUN}/containerd/containerd.sock"
# One pid file and one log file per daemon we start, so teardown stops exactly those.
PID_DIR="${PODTRACE_STATE}/pids"
LOG_DIR="${PODTRACE_STATE}/logs"
ADMIN_KUBECONFIG="${PODTRACE_STATE}/admin.kubeconfig"
# The cluster's CA and every certificate it signed; the components' kubeconfigs.
PKI_DIR="${PODTRACE_STATE}/pki"
KUBECONFIG_DIR="${PODTRACE_STATE}/kubeconfigs"
# Every span the collector received, one OTLP JSON line per export request.
SPANS_FILE="${SPANS_FILE:-${PODTRACE_STATE}/otel/spans.jsonl}"
# CNI network name: it appears in the comments of any iptables rule the plugins add,
# which is how teardown recognises rules of ours.
CNI_NETWORK="${CNI_NETWORK:-podtrace}"
# The kubelet's cgroupRoot: pods live under /podtrace/kubepods in every cgroup hierarchy,
# which tells their processes apart from everything else on the machine.
KUBELET_CGROUP_ROOT="${KUBELET_CGROUP_ROOT:-podtrace}"
# The registry's storage is a build output: it survives teardown.
REGISTRY_STORAGE="${PODTRACE_CACHE}/registry"

export PATH="${KUBE_BIN_DIR}:${ETCD_BIN_DIR}:${PATH}"

# The pid recorded for daemon NAME, if that process is still alive and still NAME (a pid
# can be reused after a crash, and teardown must never signal somebody else's process).
daemon_pid() {
  local name="$1" pid argv0 state
  [[ -f "${PID_DIR}/${name}.pid" ]] || return 1
  pid="$(<"${PID_DIR}/${name}.pid")"
  [[ "${pid}" =~ ^[0-9]+$ && -r "/proc/${pid}/cmdline" ]] || return 1
  # A zombie nobody reaped yet is as good as gone.
  state="$(awk '/^State:/{print $2}' "/proc/${pid}/status" 2>/dev/null || true)"
  [[ "${state}" != Z && -n "${state}" ]] || return 1
  argv0="$(tr '\0' '\n' <"/proc/${pid}/cmdline" 2>/dev/null | head -n1 || true)"
  [[ "$(basename -- "${argv0}")" == "$(daemon_binary "${name}")" ]] || return 1
  echo "${pid}"
}

# The executable's base name for each daemon; the pid file is named after the daemon.
daemon_binary() {
  case "$1" in
    registry) echo docker-registry ;;
    # test/support/delay-proxy.ts, run by Node.
    api-delay-proxy) echo node ;;
    *) echo "$1" ;;
  esac
}

# start_daemon NAME CMD...: start CMD in its own session (so it outlives the calling
# shell and its terminal), log to LOG_DIR/NAME.log and record its pid.
start_daemon() {
  local name="$1"; shift
  mkdir -p "${PID_DIR}" "${LOG_DIR}"
  # Not a job-control shell, so setsid execs in the forked child and $! is the daemon itself.
  # The daemon gets no descriptor but its standard ones: one inherited from the caller (a
  # flock(1) lock, a pipe of a test runner) would be held open for the daemon's whole life.
  (
    for fd in /proc/"${BASHPID}"/fd/*; do
      fd="${fd##*/}"
      if ((fd > 2)); then eval "exec ${fd}>&-"; fi
    done
    exec setsid "$@" </dev/null >>"${LOG_DIR}/${name}.log" 2>&1
  ) &
  echo "$!" >"${PID_DIR}/${name}.pid"
}

# stop_daemon NAME [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL; removes the pid file.
stop_daemon() {
  local name="$1" grace="${2:-10}" pid i
  if pid="$(daemon_pid "${name}")"; then
    log "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      daemon_pid "${name}" >/dev/null || break
      sleep 0.1
    done
    if daemon_pid "${name}" >/dev/null; then
      log "${name} did not stop within ${grace}s; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        daemon_pid "${name}" >/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "${PID_DIR}/${name}.pid"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# new_key FILE: an ECDSA P-256 key; fast to make and accepted by every component.
new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

# new_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]: a key and a certificate
# signed by the cluster CA, valid for a year.
new_cert() {
  local name="$1" subject="$2" usage="$3" sans="${4:-}"
  new_key "${PKI_DIR}/${name}.key"
  openssl req -new -key "${PKI_DIR}/${name}.key" -subj "${subject}" -out "${PKI_DIR}/${name}.csr"
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature, keyEncipherment"
    echo "extendedKeyUsage = ${usage}"
    [[ -z "${sans}" ]] || echo "subjectAltName = ${sans}"
  } >"${PKI_DIR}/${name}.ext"
  openssl x509 -req -in "${PKI_DIR}/${name}.csr" -CA "${PKI_DIR}/ca.crt" -CAkey "${PKI_DIR}/ca.key" \
    -CAcreateserial -days 365 -extfile "${PKI_DIR}/${name}.ext" -out "${PKI_DIR}/${name}.crt" 2>/dev/null
  rm -f "${PKI_DIR}/${name}.csr" "${PKI_DIR}/${name}.ext"
}

# port_open HOST:PORT: something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# registry_config ADDRESS: a docker-registry config serving the registry's storage on
# ADDRESS: the local registry on loopback, and hack/kind.sh's for the kind nodes.
registry_config() {
  cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${REGISTRY_STORAGE}/data
  delete:
    enabled: true
http:
  addr: $1
  # A fixed secret silences the warning about a generated one; it signs upload state only.
  secret: podtrace-local-registry
EOF
}

registry_serving() {
  curl -fsS --max-time 2 "http://${REGISTRY}/v2/" >/dev/null 2>&1
}

# hack_tool NAME: the path of hack/tools/NAME (Go) built for this machine, building it first
# when needed. Cached by a hash of the module's files, the shared internal packages and the
# tool's sources, so that
# worktrees with different versions do not rebuild each other's.
hack_tool() {
  local name="$1" tools="${REPO_ROOT}/hack/tools" hash dir
  [[ -d "${tools}/${name}" ]] || die "no hack/tools/${name}"
  hash="$(cd "${tools}" && find "${name}" internal go.mod go.sum -type f -print0 2>/dev/null \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
  dir="${PODTRACE_CACHE}/tools/${name}-${hash}"
  if [[ ! -x "${dir}/${name}" ]]; then
    command -v go >/dev/null || die "Go is needed to build hack/tools/${name} (expected at /usr/local/go/bin)"
    log "building hack/tools/${name}"
    mkdir -p "${dir}"
    (cd "${tools}" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags "-s -w" -o "${dir}/${name}.tmp" "./${name}") >&2 \
      || die "building hack/tools/${name} failed"
    mv "${dir}/${name}.tmp" "${dir}/${name}"
  fi
  echo "${dir}/${name}"
}

# The kind node image hack/build-kind-node.sh builds into podman's storage, named after the
# Kubernetes version and a digest of everything that goes into it (versions, the build
# script, hack/kind/), so that changing any of them builds a new image.
kind_node_image() {
  local digest
  digest="$(
    cd "${REPO_ROOT}"
    {
      echo "${KIND_VERSION} ${KUBE_VERSION} ${ETCD_VERSION} ${COREDNS_VERSION} ${DEBIAN_SUITE}"
      find hack/build-kind-node.sh hack/images/pause.sh hack/images/make-rootfs.sh hack/kind -type f -print0 \
        | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-12
  )"
  echo "localhost/podtrace-kind-node:${KUBE_VERSION}-${digest}"
}
