#!/usr/bin/env bash
# Make Debian's PostgreSQL server binaries available and print their bin directory.
#
# The integration tests start their own throw-away server on loopback (initdb + pg_ctl),
# so they need the server binaries, not a running service. Nothing installed by hand
# survives to CI, hence this script: `make test` runs it first. Idempotent: when
# /usr/lib/postgresql/<version>/bin already holds initdb and pg_ctl it installs nothing.
set -euo pipefail

find_bin_dir() {
    # Newest major version first; `sort -V` orders 9.6 < 15 < 16 correctly.
    local dir
    while read -r dir; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV)
    return 1
}

if bin_dir=$(find_bin_dir); then
    echo "$bin_dir"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: no PostgreSQL under /usr/lib/postgresql and no apt-get to install" \
         "Debian's 'postgresql' package; install it (initdb, pg_ctl) by other means" >&2
    exit 1
fi

# Root installs directly; anyone else needs sudo (CI images run as root).
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "ensure-postgres: not root and no sudo; cannot install Debian's 'postgresql'" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends postgresql >&2
}

# A fresh image has empty package lists; refresh them only when the install needs it.
echo "ensure-postgres: installing Debian's 'postgresql' package" >&2
if ! apt_install; then
    "${SUDO[@]}" apt-get update >&2
    apt_install
fi

if ! bin_dir=$(find_bin_dir); then
    echo "ensure-postgres: 'postgresql' installed but no initdb/pg_ctl under" \
         "/usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "$bin_dir"
