#!/bin/sh
# The sandbox ("pause") container of the test images: it only has to hold the pod's
# namespaces open until it is killed, and exit promptly on SIGTERM or SIGINT.
trap 'exit 0' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
