#!/usr/bin/env bash
# Build and push the pipeline images:  ./images/build.sh REGISTRY TAG   (make images)
#   REGISTRY/reasoning-cpu:TAG  from images/cpu/Dockerfile
#   REGISTRY/reasoning-gpu:TAG  from images/gpu/Dockerfile
# Uses docker buildx, podman or buildah, whichever is found first (BUILDER=... picks one).
# PUSH=0 builds without pushing; PLATFORM (default linux/amd64) sets the target platform.
set -euo pipefail

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
    echo "usage: $0 REGISTRY TAG   (e.g. $0 ghcr.io/acme 0.1.0)" >&2
    exit 2
fi
registry="${1%/}"
tag="$2"
push="${PUSH:-1}"
platform="${PLATFORM:-linux/amd64}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

find_builder() {
    if [[ -n "${BUILDER:-}" ]]; then echo "$BUILDER"; return; fi
    if command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then echo docker; return; fi
    if command -v podman >/dev/null 2>&1; then echo podman; return; fi
    if command -v buildah >/dev/null 2>&1; then echo buildah; return; fi
    echo ""
}
builder="$(find_builder)"
if [[ -z "$builder" ]]; then
    echo "error: no image builder found: install docker (with buildx), podman or buildah" >&2
    exit 1
fi

for configs in configs/accelerate configs/deepspeed; do
    [[ -d "$root/$configs" ]] || { echo "error: $root/$configs is missing (the images ship it)" >&2; exit 1; }
done

build_one() {
    local flavour="$1" image="$registry/reasoning-$1:$tag"
    local dockerfile="$root/images/$flavour/Dockerfile"
    echo "==> building $image with $builder"
    case "$builder" in
        docker)
            # BuildKit reads images/$flavour/Dockerfile.dockerignore next to the Dockerfile.
            local output="--load"
            [[ "$push" == 1 ]] && output="--push"
            docker buildx build --platform "$platform" -f "$dockerfile" -t "$image" "$output" "$root"
            ;;
        podman | buildah)
            "$builder" build --platform "$platform" -f "$dockerfile" \
                --ignorefile "$dockerfile.dockerignore" -t "$image" "$root"
            if [[ "$push" == 1 ]]; then "$builder" push "$image"; fi
            ;;
        *)
            echo "error: unknown BUILDER '$builder' (docker, podman or buildah)" >&2
            exit 1
            ;;
    esac
}

build_one cpu
build_one gpu
echo "built: $registry/reasoning-cpu:$tag $registry/reasoning-gpu:$tag (pushed: $push)"
