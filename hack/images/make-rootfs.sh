#!/usr/bin/env bash
# make-rootfs.sh DIR: the root filesystem shared by the test images: Debian's static
# busybox with a link for each of its applets, where a distribution would put them, plus
# the little that programs expect in /etc and a page for `httpd -h /www`.
# Used by hack/build-images.sh (umoci, no Docker) and hack/images/Dockerfile (kind).
set -o errexit -o nounset -o pipefail

root="${1:?usage: make-rootfs.sh DIR}"
mkdir -p "${root}"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,www,root}
chmod 1777 "${root}/tmp"
cp /bin/busybox "${root}/bin/busybox"
while read -r applet; do
  [[ "${applet}" == bin/busybox || "${applet}" == linuxrc ]] && continue
  [[ -e "${root}/${applet}" ]] || ln -s /bin/busybox "${root}/${applet}"
done < <(/bin/busybox --list-full)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"${root}/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"${root}/etc/group"
echo "podtrace test page" >"${root}/www/index.html"
