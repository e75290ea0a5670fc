#!/usr/bin/env bash
# Makes sure a `chromium` binary is on PATH (the report tests open the HTML reports in headless
# Chromium, take a screenshot and read the rendered DOM). Installs the Debian package `chromium`
# if it is missing, running `apt-get update` first only when the install fails without it; quiet
# when it is present.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "ensure-chromium: need root to run: $*" >&2
    return 1
  fi
}

install_chromium() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
}

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

echo "ensure-chromium: chromium not found; installing the chromium package"
if ! install_chromium; then
  echo "ensure-chromium: the install failed; updating the package lists and trying again"
  as_root apt-get update
  install_chromium
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "ensure-chromium: chromium is still missing after the install" >&2
  exit 1
fi
echo "ensure-chromium: $(chromium --version 2>/dev/null | head -n 1)"
