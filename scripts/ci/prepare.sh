#!/usr/bin/env bash
# What a CI job in the slim Python image needs before `make`: make, git, curl, and Node.js
# with npm (scripts/ensure-k8s-tools.sh fetches helm and kubectl through npm).
#
# Installs only what is missing, through scripts/apt-install.sh, so on a machine that has
# them (a developer's, gitlab-ci-local's shell executor) it changes nothing.
set -euo pipefail

declare -A package=([make]=make [git]=git [curl]=curl [npm]=npm [node]=nodejs)
missing=()
for command in "${!package[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${package[$command]}")
done
if ((${#missing[@]})); then
    bash "$(dirname "$0")/../apt-install.sh" "${missing[@]}"
fi
echo "prepare: make, git, curl, node and npm are there" >&2
