#!/usr/bin/env bash
# Build (and push) the pipeline images:  ./images/build.sh REGISTRY TAG   (make images, make images-local)
#   REGISTRY/reasoning-cpu:TAG  from images/cpu/Dockerfile
#   REGISTRY/reasoning-gpu:TAG  from images/gpu/Dockerfile
# Settings (environment):
#   PUSH=0            build only (make images-local); PUSH=1 (default) pushes after building
#   FLAVOURS="cpu"    which images (default "cpu gpu")
#   BUILDER=...       docker, podman or buildah (default: the first one found)
#   PLATFORM          target platform (default linux/amd64)
#   BASE_IMAGE        the CPU image's base (default: the digest pinned in images/cpu/Dockerfile).
#                     When the engine has no copy and cannot pull it, STANDIN_BASE=auto (default)
#                     builds a stand-in from Debian packages (images/base/debian-python.sh);
#                     STANDIN_BASE=0 fails instead.
#   TORCH_INDEX_URL   where the CPU torch wheel comes from (default: PyTorch's CPU index)
#   TORCH_WHEEL_DIR   a folder holding torch-2.13.0*.whl to use instead (default: pip's find-links,
#                     from PIP_FIND_LINKS or `pip config`)
set -euo pipefail

if [[ $# -ne 2 || -z "$1" || -z "$2" ]]; then
    echo "usage: $0 REGISTRY TAG   (e.g. $0 ghcr.io/acme 0.1.0)" >&2
    exit 2
fi
registry="${1%/}"
tag="$2"
push="${PUSH:-1}"
flavours="${FLAVOURS:-cpu gpu}"
platform="${PLATFORM:-linux/amd64}"
standin="${STANDIN_BASE:-auto}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STANDIN_IMAGE="reasoning-base:3.11-bookworm"

find_builder() {
    if [[ -n "${BUILDER:-}" ]]; then echo "$BUILDER"; return; fi
    if command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then echo docker; return; fi
    if command -v podman >/dev/null 2>&1; then echo podman; return; fi
    if command -v buildah >/dev/null 2>&1; then echo buildah; return; fi
    echo ""
}
builder="$(find_builder)"
if [[ -z "$builder" ]]; then
    echo "error: no image builder found: install docker (with a running daemon: images/engine.sh start), podman or buildah" >&2
    exit 1
fi

for configs in configs/accelerate configs/deepspeed; do
    [[ -d "$root/$configs" ]] || { echo "error: $root/$configs is missing (the images ship it)" >&2; exit 1; }
done

has_image() { "$builder" image inspect "$1" >/dev/null 2>&1; }

# The base image: the pinned official one if the engine has it or can pull it, else the stand-in.
cpu_base() {
    local pinned
    pinned="$(sed -nE 's/^ARG BASE_IMAGE=(.+)$/\1/p' "$root/images/cpu/Dockerfile")"
    local base="${BASE_IMAGE:-$pinned}"
    if has_image "$base" || "$builder" pull "$base" >/dev/null 2>&1; then echo "$base"; return; fi
    if [[ "$standin" == 0 || -n "${BASE_IMAGE:-}" ]]; then
        echo "error: cannot pull the base image $base (set BASE_IMAGE to one your engine has)" >&2
        return 1
    fi
    if ! has_image "$STANDIN_IMAGE"; then
        echo "==> $base cannot be pulled: building the stand-in $STANDIN_IMAGE from Debian packages" >&2
        ENGINE="$builder" "$root/images/base/debian-python.sh" "$STANDIN_IMAGE" >&2
    fi
    echo "$STANDIN_IMAGE"
}

# A local torch wheel (pip's find-links) into the build context's .whl/, when one is there.
stage_torch_wheel() {
    local dirs="${TORCH_WHEEL_DIR:-${PIP_FIND_LINKS:-$(pip config get global.find-links 2>/dev/null || true)}}"
    rm -rf "$root/.whl" && mkdir -p "$root/.whl"
    local dir wheel
    for dir in $dirs; do
        for wheel in "$dir"/torch-2.13.0*-cp311-*linux*x86_64.whl; do
            [[ -f "$wheel" ]] || continue
            ln "$wheel" "$root/.whl/" 2>/dev/null || cp "$wheel" "$root/.whl/"
            echo "==> torch from $wheel" >&2
            return
        done
    done
}

build_one() {
    local flavour="$1" image="$registry/reasoning-$1:$tag"
    local dockerfile="$root/images/$flavour/Dockerfile"
    local args=()
    if [[ "$flavour" == cpu ]]; then
        local base
        base="$(cpu_base)"
        args+=(--build-arg "BASE_IMAGE=$base")
        stage_torch_wheel
        [[ -n "${TORCH_INDEX_URL:-}" ]] && args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
    fi
    echo "==> building $image with $builder"
    local started=$SECONDS
    case "$builder" in
        docker)
            # --network=host: pip in RUN reaches the registries the way the host does (no bridge needed).
            if docker buildx version >/dev/null 2>&1; then
                local output="--load"
                [[ "$push" == 1 ]] && output="--push"
                docker buildx build --platform "$platform" --network=host "${args[@]}" -f "$dockerfile" \
                    -t "$image" "$output" "$root"
            else
                DOCKER_BUILDKIT=0 docker build --platform "$platform" --network=host "${args[@]}" \
                    -f "$dockerfile" -t "$image" "$root"
                if [[ "$push" == 1 ]]; then docker push "$image"; fi
            fi
            ;;
        podman | buildah)
            "$builder" build --platform "$platform" --network=host "${args[@]}" -f "$dockerfile" -t "$image" "$root"
            if [[ "$push" == 1 ]]; then "$builder" push "$image"; fi
            ;;
        *)
            echo "error: unknown BUILDER '$builder' (docker, podman or buildah)" >&2
            exit 1
            ;;
    esac
    echo "==> built $image in $((SECONDS - started)) s"
}

for flavour in $flavours; do
    build_one "$flavour"
done
echo "built: $(for f in $flavours; do printf '%s ' "$registry/reasoning-$f:$tag"; done)(pushed: $push)"
