#!/usr/bin/env bash
# Kills one daemon of the local cluster and starts it again with the same command line,
# optionally after a pause: the fault the watch-resilience tests and the benchmark inject
# (a kube-apiserver restart in the middle of a traced run).
#
#   bash hack/restart-daemon.sh kube-apiserver [SECONDS_DOWN]
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

name="${1:?usage: restart-daemon.sh NAME [SECONDS_DOWN]}"
down="${2:-0}"
pid="$(daemon_pid "${name}")" || die "${name} is not running (no live pid in ${PID_DIR}/${name}.pid)"
mapfile -d '' -t argv <"/proc/${pid}/cmdline"
# SIGKILL: a crash, not a graceful shutdown, so clients see connections reset.
kill -KILL "${pid}"
for ((i = 0; i < 100; i++)); do
  daemon_pid "${name}" >/dev/null || break
  sleep 0.05
done
sleep "${down}"
start_daemon "${name}" "${argv[@]}"
log "${name} restarted (pid $(<"${PID_DIR}/${name}.pid"))"
