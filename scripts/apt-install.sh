#!/usr/bin/env bash
# Install Debian packages non-interactively: directly as root, else through sudo.
#
# Shared by the ensure-* scripts, which first check whether what they need is already
# there. Package lists are refreshed only when the install needs it (a fresh image has
# none). Usage: apt-install.sh PACKAGE...
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "apt-install: name at least one Debian package" >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: no apt-get to install Debian's $*; install it by other means" >&2
    exit 1
fi
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "apt-install: not root and no sudo; cannot install Debian's $*" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@" >&2
}
echo "apt-install: installing Debian's $*" >&2
if ! install "$@"; then
    "${SUDO[@]}" apt-get update >&2
    install "$@"
fi
