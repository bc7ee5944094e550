#!/usr/bin/env bash
# localhost/finpulse-base: a Debian 12 (bookworm) root with Python 3.11, venv, pip and CA certificates,
# built from Debian's packages by debootstrap and committed by buildah from scratch. No container
# registry is needed (none is reachable here), so every FinPulse image starts FROM this one.
#
# Usage: deployments/images/build_base.sh [image-name]
#   FINPULSE_DEBIAN_MIRROR  Debian mirror (default: the first bookworm URI in /etc/apt/sources.list.d/)
#   FINPULSE_REBUILD_BASE=1 rebuild even when the image already exists
set -euo pipefail
source "$(dirname "$0")/buildah_env.sh"

image=${1:-$FINPULSE_BASE_IMAGE}
if [[ ${FINPULSE_REBUILD_BASE:-0} != 1 ]] && buildah inspect --type image "$image" >/dev/null 2>&1; then
    echo "$image exists (FINPULSE_REBUILD_BASE=1 rebuilds it)"
    exit 0
fi
for tool in debootstrap buildah; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y buildah debootstrap" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "debootstrap and buildah's vfs storage need root" >&2; exit 1; }

UV_VERSION=0.13.9
mirror=${FINPULSE_DEBIAN_MIRROR:-$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/finpulse-base.XXXXXX)
ctr=""
cleanup() { [[ -n $ctr ]] && buildah rm "$ctr" >/dev/null 2>&1; rm -rf "$root"; }
trap cleanup EXIT

started=$(date +%s)
debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-pip,ca-certificates \
    bookworm "$root" "$mirror"
# BentoML's generated Containerfile installs the bento's requirements with uv (and would otherwise
# `pip install uv` into Debian's externally managed system Python, which pip refuses): ship a pinned uv.
python3 -m pip download -q --no-deps --only-binary=:all: -d "$root/tmp/uv" "uv==$UV_VERSION"
python3 -m zipfile -e "$root"/tmp/uv/uv-*.whl "$root/tmp/uv/x"
install -m 0755 "$root"/tmp/uv/x/uv-*.data/scripts/uv "$root/usr/local/bin/uv"
rm -rf "$root/tmp/uv"
# A smaller image: no apt lists or caches, no docs or man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*

ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$root"/. "$mnt"/
buildah umount "$ctr" >/dev/null
# uv (which builds the bento's environment) trusts the system store, like Debian's pip, so a site CA added
# to /etc/ssl/certs (or mounted there at build time, as build_images.sh does) is honoured.
buildah config --env UV_SYSTEM_CERTS=1 --env LANG=C.UTF-8 --env PYTHONDONTWRITEBYTECODE=1 --env PIP_DISABLE_PIP_VERSION_CHECK=1 \
    --cmd /usr/bin/python3.11 --label org.opencontainers.image.title=finpulse-base \
    --label org.opencontainers.image.description="Debian 12 minbase + python3.11 (debootstrap)" "$ctr"
buildah commit --rm "$ctr" "$image"
ctr=""
echo "built $image in $(( $(date +%s) - started )) s"
