#!/bin/sh
# Build and push the images of images/ without a Docker daemon, then write their digests.
#
# Usage: build-images.sh [IMAGE...]   (default: components serving training-gpu)
#
# Runs in moby/buildkit:rootless: buildctl-daemonless.sh starts a rootless buildkitd for
# the duration of each build. The registry login comes from the job's CI_REGISTRY,
# CI_REGISTRY_USER and CI_REGISTRY_PASSWORD (GitLab's job token), written to a Docker
# config that only this job sees. The digests land in build/images.env (a dotenv
# artifact; see image-digests.sh). BUILDCTL (default buildctl-daemonless.sh) lets a
# laptop with a running buildkitd use plain `buildctl` instead.
set -eu

cd "$(dirname "$0")/../.."
here="scripts/ci"
images="${*:-components serving training-gpu}"
BUILDCTL="${BUILDCTL:-buildctl-daemonless.sh}"
export METADATA_DIR="${METADATA_DIR:-build/images}"
mkdir -p build "$METADATA_DIR"

if [ -n "${CI_REGISTRY:-}" ] && [ -n "${CI_REGISTRY_PASSWORD:-}" ]; then
    DOCKER_CONFIG="${DOCKER_CONFIG:-$(mktemp -d)}"
    export DOCKER_CONFIG
    auth="$(printf '%s:%s' "$CI_REGISTRY_USER" "$CI_REGISTRY_PASSWORD" | base64 | tr -d '\n')"
    printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$CI_REGISTRY" "$auth" >"$DOCKER_CONFIG/config.json"
fi

for image in $images; do
    echo "build-images: $image" >&2
    args="$(sh "$here/buildctl-args.sh" "$image")"
    # One argument per line, none with a space: split on newlines only.
    old_ifs="$IFS"
    IFS='
'
    # shellcheck disable=SC2086 # word splitting on newlines is the point
    set -- $args
    IFS="$old_ifs"
    "$BUILDCTL" build "$@"
done
sh "$here/image-digests.sh" "$METADATA_DIR" build/images.env
