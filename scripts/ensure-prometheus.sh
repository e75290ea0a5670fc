#!/usr/bin/env bash
# Makes sure the `prometheus` and `promtool` binaries are on PATH (the ops tests run a real
# Prometheus server and check metrics and alert rules with promtool). Installs the Debian package
# `prometheus` if either is missing; quiet when both are present. Never starts a server: the tests
# start their own on a free loopback port.
set -euo pipefail

have_both() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "ensure-prometheus: need root to run: $*" >&2
    return 1
  fi
}

if have_both; then
  exit 0
fi

echo "ensure-prometheus: prometheus or promtool not found; installing the prometheus package"
as_root apt-get update
# Where an init system runs, the package also starts its own server on :9090; the tests never use
# that port (they pick a free one), so it cannot disturb them.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

if ! have_both; then
  echo "ensure-prometheus: prometheus and promtool are still missing after the install" >&2
  exit 1
fi
echo "ensure-prometheus: $(prometheus --version 2>&1 | head -n 1)"
