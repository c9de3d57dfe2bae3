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
bash "$(dirname "$0")/../scripts/apt-install.sh" wrk
command -v wrk
