#!/bin/sh
# Print the arguments of `buildctl build` for one image of images/, one per line.
#
# Usage: buildctl-args.sh IMAGE   (IMAGE: components, serving or training-gpu)
#
# POSIX sh on purpose: the build job runs in moby/buildkit:rootless (BusyBox, no bash).
# The image is built from the repository root with images/IMAGE.Dockerfile, tagged with the
# commit and pushed to the project's registry; the layer cache lives in the same registry
# under the tag BUILD_CACHE_TAG, so a branch reuses the layers the default branch built.
# BuildKit writes what it pushed (the digest among it) to METADATA_DIR/IMAGE.json, which
# image-digests.sh turns into the dotenv artifact. No argument holds a space or a newline.
#
# From the environment (GitLab sets the CI_* ones):
#   CI_REGISTRY_IMAGE   registry path of the project, e.g. registry.example.com/group/project
#   CI_COMMIT_SHA       the commit; the image tag and CC_RUN__CODE_VERSION of the image
#   BUILD_CACHE_TAG     tag of the registry layer cache (default: buildcache)
#   BUILD_PUSH          true (default) pushes; false builds only (a local check)
#   METADATA_DIR        where the metadata files go (default: build/images)
set -eu

if [ "$#" -ne 1 ]; then
    echo "buildctl-args: name one image of images/ (components, serving, training-gpu)" >&2
    exit 2
fi
image="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ ! -f "$root/images/$image.Dockerfile" ]; then
    known=""
    for file in "$root"/images/*.Dockerfile; do
        known="$known $(basename "$file" .Dockerfile)"
    done
    echo "buildctl-args: images/$image.Dockerfile does not exist; name one of:$known" >&2
    exit 2
fi
: "${CI_REGISTRY_IMAGE:?buildctl-args: set CI_REGISTRY_IMAGE (the project registry path)}"
: "${CI_COMMIT_SHA:?buildctl-args: set CI_COMMIT_SHA (the commit being built)}"
cache="$CI_REGISTRY_IMAGE/$image:${BUILD_CACHE_TAG:-buildcache}"
push="${BUILD_PUSH:-true}"
case "$push" in
    true | false) ;;
    *)
        echo "buildctl-args: BUILD_PUSH is '$push'; use true or false" >&2
        exit 2
        ;;
esac

echo "--frontend"
echo "dockerfile.v0"
echo "--local"
echo "context=."
echo "--local"
echo "dockerfile=images"
echo "--opt"
echo "filename=$image.Dockerfile"
echo "--opt"
echo "build-arg:CC_RUN__CODE_VERSION=$CI_COMMIT_SHA"
echo "--output"
echo "type=image,name=$CI_REGISTRY_IMAGE/$image:$CI_COMMIT_SHA,push=$push"
echo "--export-cache"
echo "type=registry,ref=$cache,mode=max"
echo "--import-cache"
echo "type=registry,ref=$cache"
echo "--metadata-file"
echo "${METADATA_DIR:-build/images}/$image.json"
