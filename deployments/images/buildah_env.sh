# Sourced by the image scripts: buildah's settings on a host without a container engine or cgroup
# delegation (root, vfs storage, chroot isolation). BentoML's buildah backend reads the same variables.
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
export FINPULSE_BASE_IMAGE=${FINPULSE_BASE_IMAGE:-localhost/finpulse-base:bookworm}
