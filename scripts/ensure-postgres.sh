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

bash "$(dirname "$0")/apt-install.sh" postgresql

if ! bin_dir=$(find_bin_dir); then
    echo "ensure-postgres: 'postgresql' installed but no initdb/pg_ctl under" \
         "/usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "$bin_dir"
