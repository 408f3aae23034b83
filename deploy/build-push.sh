#!/usr/bin/env bash
# Builds both images of the stack (chatbot, nginx) with Buildx and pushes them under the commit's tag, plus a
# moving tag. The workflow, `make deploy` and the rehearsal all build through this one script.
#
# Settings (environment):
#   REGISTRY     e.g. europe-west9-docker.pkg.dev/PROJECT/REPOSITORY, or 127.0.0.1:5000/NAME here (required)
#   TAG          the commit SHA (required)
#   MOVING_TAG   also pushed, pointing at the same images (e.g. main); empty: none
#   BUILD_CACHE  registry: layer cache kept in the registry as REGISTRY/IMAGE:buildcache (needs a
#                docker-container builder, which docker/setup-buildx-action creates); inline: cache metadata in the
#                pushed images (the only kind the engine's own builder exports); none (default)
#   PYTHON_IMAGE, NGINX_IMAGE   base images (compose.yaml's defaults: the official ones)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${REGISTRY:?set REGISTRY, e.g. REGION-docker.pkg.dev/PROJECT/REPOSITORY}"
: "${TAG:?set TAG to the commit SHA}"
MOVING_TAG=${MOVING_TAG:-}
BUILD_CACHE=${BUILD_CACHE:-none}
[[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || { echo "build-push: not a valid tag: $TAG" >&2; exit 64; }
export REGISTRY TAG

# Targets and image names: deploy/docker-bake.hcl (the names compose.yaml runs on the VM).
declare -A image=([chatbot]=chatbot [nginx]=chatbot-nginx)
args=(--file deploy/docker-bake.hcl --push --progress plain)
for target in "${!image[@]}"; do
  ref=$REGISTRY/${image[$target]}
  [ -z "$MOVING_TAG" ] || args+=(--set "$target.tags+=$ref:$MOVING_TAG")
  case $BUILD_CACHE in
    registry) args+=(--set "$target.cache-from=type=registry,ref=$ref:buildcache"
                     --set "$target.cache-to=type=registry,ref=$ref:buildcache,mode=max") ;;
    # The moving tag is the previous build: its inline metadata lets unchanged layers be skipped.
    inline) args+=(--set "$target.cache-to=type=inline")
            [ -z "$MOVING_TAG" ] || args+=(--set "$target.cache-from=$ref:$MOVING_TAG") ;;
    none) ;;
    *) echo "build-push: BUILD_CACHE must be registry, inline or none" >&2; exit 64 ;;
  esac
done

started=$SECONDS
docker buildx bake "${args[@]}" "${!image[@]}"
echo "build-push: pushed ${!image[*]} as $REGISTRY/{chatbot,chatbot-nginx}:$TAG${MOVING_TAG:+ and :$MOVING_TAG}" \
  "in $((SECONDS - started))s" >&2
