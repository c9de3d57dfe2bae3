#!/bin/sh
# Turn BuildKit's metadata files into the build job's dotenv artifact.
#
# Usage: image-digests.sh METADATA_DIR OUTPUT   (e.g. build/images build/images.env)
#
# For every METADATA_DIR/IMAGE.json it reads "containerimage.digest" and writes, for
# IMAGE=training-gpu say:
#   IMAGE_DIGEST_TRAINING_GPU=sha256:...
#   CC_IMAGES__TRAINING_GPU=$CI_REGISTRY_IMAGE/training-gpu@sha256:...
# The CC_IMAGES__* lines are the settings the compile job pins the pipelines' images with;
# the serving image's repository and digest are what the deploy jobs pass to the chart.
# A file without a digest (a build that did not push) is an error: later jobs would run
# an image nobody can pull. POSIX sh, like buildctl-args.sh.
set -eu

if [ "$#" -ne 2 ]; then
    echo "image-digests: usage: image-digests.sh METADATA_DIR OUTPUT" >&2
    exit 2
fi
dir="$1"
output="$2"
: "${CI_REGISTRY_IMAGE:?image-digests: set CI_REGISTRY_IMAGE (the project registry path)}"
tmp="$output.tmp"
: >"$tmp"
found=0
for metadata in "$dir"/*.json; do
    [ -f "$metadata" ] || continue
    image="$(basename "$metadata" .json)"
    # One line or pretty-printed: the key and its value are on the same line either way.
    digest="$(sed -n 's/.*"containerimage\.digest"[[:space:]]*:[[:space:]]*"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' "$metadata" | head -n 1)"
    if [ -z "$digest" ]; then
        echo "image-digests: $metadata has no containerimage.digest; was the image pushed" \
            "(BUILD_PUSH=true)?" >&2
        rm -f "$tmp"
        exit 1
    fi
    key="$(echo "$image" | tr 'a-z-' 'A-Z_')"
    echo "IMAGE_DIGEST_$key=$digest" >>"$tmp"
    echo "CC_IMAGES__$key=$CI_REGISTRY_IMAGE/$image@$digest" >>"$tmp"
    found=$((found + 1))
done
if [ "$found" -eq 0 ]; then
    echo "image-digests: no metadata file in $dir; run the builds first" >&2
    rm -f "$tmp"
    exit 1
fi
mv "$tmp" "$output"
cat "$output"
