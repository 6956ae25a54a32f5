#!/usr/bin/env bash
# Starts the local image registry on ${REGISTRY} (loopback only) and builds the test images
# into it from Debian packages alone: no Docker, nothing pulled from the internet.
#
#   ${REGISTRY}/pause:3.10    the pod sandbox image (containerd's sandbox_image)
#   ${REGISTRY}/busybox:1     busybox with all applets: `httpd -f -p 8080 -h /www` serves a
#                             page for readiness probes, `sh -c` runs test scripts
#   ${REGISTRY}/bigimage:1    busybox plus a ~40 MiB incompressible layer, so that pulling
#                             it takes measurable time
#
# Images are assembled with umoci (an OCI layout on disk) from busybox-static and pushed
# with skopeo. An image already in the registry is not rebuilt (PODTRACE_REBUILD_IMAGES=1
# forces it); the registry's storage lives in ${PODTRACE_CACHE}, so it survives teardown.
set -o errexit -o nounset -o pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${REPO_ROOT}"

IMAGES=(pause:3.10 busybox:1 bigimage:1)
BIG_LAYER_MIB="${BIG_LAYER_MIB:-40}"
IMAGE_PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ensure_registry() {
  if registry_serving; then
    if daemon_pid registry >/dev/null; then
      log "registry already serving on ${REGISTRY}"
    else
      log "something already serves a registry on ${REGISTRY}; using it"
    fi
    return
  fi
  mkdir -p "${REGISTRY_STORAGE}/data"
  # Our own config rather than /etc/docker/registry: loopback only, our storage, no auth.
  registry_config "${REGISTRY}" >"${REGISTRY_STORAGE}/config.yml"
  log "starting docker-registry on ${REGISTRY} (storage ${REGISTRY_STORAGE}/data)"
  start_daemon registry docker-registry serve "${REGISTRY_STORAGE}/config.yml"
  wait_for "registry" 30 registry_serving \
    || die "the registry did not start; see ${LOG_DIR}/registry.log"
}

image_in_registry() {
  skopeo inspect --tls-verify=false --raw "docker://${REGISTRY}/$1" >/dev/null 2>&1
}

build_images() {
  local work="$1" layout="$1/oci"
  umoci init --layout "${layout}"

  log "building busybox:1 from busybox-static"
  "${REPO_ROOT}/hack/images/make-rootfs.sh" "${work}/busybox-rootfs"
  umoci new --image "${layout}:busybox"
  umoci insert --image "${layout}:busybox" "${work}/busybox-rootfs" /
  umoci config --image "${layout}:busybox" --author podtrace \
    --config.env "${IMAGE_PATH_ENV}" --config.workingdir / --config.cmd sh \
    --config.exposedports 8080/tcp

  log "building pause:3.10"
  umoci tag --image "${layout}:busybox" pause
  umoci insert --image "${layout}:pause" "${REPO_ROOT}/hack/images/pause.sh" /pause
  umoci config --image "${layout}:pause" --clear config.cmd --clear config.exposedports \
    --config.entrypoint /pause --config.stopsignal SIGTERM

  log "building bigimage:1 (busybox plus a ${BIG_LAYER_MIB} MiB random layer)"
  mkdir -p "${work}/big"
  head -c "$((BIG_LAYER_MIB * 1024 * 1024))" /dev/urandom >"${work}/big/random.bin"
  umoci tag --image "${layout}:busybox" bigimage
  umoci insert --image "${layout}:bigimage" "${work}/big/random.bin" /data/random.bin
}

push_image() {
  local layout="$1" name="$2" tag="$3"
  log "pushing ${REGISTRY}/${name}:${tag}"
  skopeo copy --quiet --dest-tls-verify=false "oci:${layout}:${name}" "docker://${REGISTRY}/${name}:${tag}"
}

print_images() {
  local image digest
  log "images in ${REGISTRY}:"
  for image in "${IMAGES[@]}"; do
    digest="$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://${REGISTRY}/${image}")"
    printf '  %s/%s@%s\n' "${REGISTRY}" "${image}" "${digest}" >&2
  done
}

main() {
  require_root
  ensure_registry

  local image missing=()
  for image in "${IMAGES[@]}"; do
    if [[ "${PODTRACE_REBUILD_IMAGES:-}" == 1 ]] || ! image_in_registry "${image}"; then
      missing+=("${image}")
    fi
  done
  if ((${#missing[@]} > 0)); then
    # All three share the busybox layer, so build them together and push what is missing.
    mkdir -p "${PODTRACE_CACHE}/build"
    local work
    work="$(mktemp -d "${PODTRACE_CACHE}/build/images.XXXXXX")"
    # shellcheck disable=SC2064 # expand now: work is local to main
    trap "rm -rf '${work}'" EXIT
    build_images "${work}"
    for image in "${missing[@]}"; do
      push_image "${work}/oci" "${image%%:*}" "${image#*:}"
    done
  else
    log "test images already in the registry"
  fi
  print_images
}

main "$@"
