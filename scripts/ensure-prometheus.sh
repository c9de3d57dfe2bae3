#!/usr/bin/env bash
# Make Debian's Prometheus server, promtool and Pushgateway available.
#
# The tests start their own Prometheus and Pushgateway on loopback and run
# `promtool test rules` over the chart's PrometheusRule; they need the binaries, not a
# running service (Debian's package enables one only where systemd runs). Idempotent:
# installs nothing when all three are on PATH. `make test` runs it first.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
if [[ ${#missing[@]} -gt 0 ]]; then
    bash "$(dirname "$0")/apt-install.sh" $(printf '%s\n' "${missing[@]}" | sort -u)
fi
for tool in prometheus promtool prometheus-pushgateway; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ensure-prometheus: '$tool' is still not on PATH after installing Debian's" \
             "prometheus and prometheus-pushgateway" >&2
        exit 1
    fi
done
