#!/usr/bin/env bash
# Make the HTTP load generator wrk (Debian's package) available and print its path.
#
# The serving benchmark drives the model servers with wrk from a separate process on
# loopback. Idempotent: installs nothing when wrk is already on PATH.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
    command -v wrk
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-wrk: wrk is not installed and there is no apt-get to install Debian's" \
         "'wrk' package; install wrk by other means" >&2
    exit 1
fi
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-wrk: not root and no sudo; cannot install Debian's 'wrk'" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends wrk >&2
}
echo "ensure-wrk: installing Debian's 'wrk' package" >&2
if ! install; then
    "${SUDO[@]}" apt-get update >&2
    install
fi
command -v wrk
