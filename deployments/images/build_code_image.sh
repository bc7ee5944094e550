#!/usr/bin/env bash
# localhost/finpulse-code: the finpulse_assets code location (deployments/Containerfile) FROM the local base.
#
# Usage: deployments/images/build_code_image.sh [image-name]
#   FINPULSE_TORCH_WHEEL  the CPU torch wheel to install (default: torch-2.13.0+cpu-*.whl found in pip's
#                         find-links directories, e.g. /opt/wheels); the index only has the CUDA build.
#   FINPULSE_BUILD_CA     CA bundle trusted while building (default: this host's /etc/ssl/certs bundle)
set -euo pipefail
source "$(dirname "$0")/buildah_env.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
image=${1:-localhost/finpulse-code:latest}
torch_pin=$(grep -E '^torch==' "$root/requirements.lock" | cut -d= -f3)

wheel=${FINPULSE_TORCH_WHEEL:-}
if [[ -z $wheel ]]; then
    for dir in ${PIP_FIND_LINKS:-} $(python3 -m pip config get global.find-links 2>/dev/null || true) /opt/wheels; do
        found=$(ls "$dir"/torch-"$torch_pin"-cp311-*.whl 2>/dev/null | head -1 || true)
        [[ -n $found ]] && { wheel=$found; break; }
    done
fi
[[ -f $wheel ]] || { echo "no torch-$torch_pin wheel found: set FINPULSE_TORCH_WHEEL (pip download" \
    "torch==$torch_pin --index-url https://download.pytorch.org/whl/cpu -d <dir>)" >&2; exit 1; }

context=$(mktemp -d /var/tmp/finpulse-code-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
cd "$root"
git ls-files --cached --others --exclude-standard -- finpulse_assets bentos \
    | grep -v -E '__pycache__|\.pyc$' | while read -r f; do [[ -f $f ]] && echo "$f"; done \
    | tar -cf - -T - | tar -xf - -C "$context"
cp deployments/images/requirements-runtime.lock pyproject.toml workspace.yaml deployments/images/debian-python-overrides.txt "$context"/
mkdir "$context/wheels" && ln "$wheel" "$context/wheels/" 2>/dev/null || cp "$wheel" "$context/wheels/"

ca=${FINPULSE_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
started=$(date +%s)
buildah bud --layers --build-arg BASE_IMAGE="$FINPULSE_BASE_IMAGE" \
    ${ca:+--volume "$ca:/etc/ssl/certs/ca-certificates.crt:ro"} \
    -f "$root/deployments/Containerfile" -t "$image" "$context"
echo "built $image in $(( $(date +%s) - started )) s"
