"""Container images of FinPulse: which builder is configured, building the bento's image, and what it is.

FinPulse builds images with buildah (no Docker engine needed: root, vfs storage,
chroot isolation, as deployments/images/ does) or with Docker where an engine
answers. Building takes minutes, so the `bento` asset does it only when
FINPULSE_CONTAINERIZE names a builder; otherwise it records the command that would.
Every image starts FROM the local base image (FINPULSE_BASE_IMAGE, built by
`make images`), since no container registry is reachable here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

CONTAINERIZE_ENV = "FINPULSE_CONTAINERIZE"
BASE_IMAGE_ENV = "FINPULSE_BASE_IMAGE"
DEFAULT_BASE_IMAGE = "localhost/finpulse-base:bookworm"
BUILDERS = ("buildah", "docker")
# What `make images` produces, and so the only names compose.yaml, kubernetes.yaml and the Helm values may
# use (test_deployment_config.py): the code image, and the serving image under its bento version and `latest`.
CODE_IMAGE = "localhost/finpulse-code:latest"
SERVING_IMAGE_REPOSITORY = "localhost/finpulse"
SERVING_IMAGE_LATEST = f"{SERVING_IMAGE_REPOSITORY}:latest"
# buildah without a container engine or cgroup delegation; BentoML's buildah backend passes the environment on.
BUILDAH_ENV = {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}


class ImageBuildFailed(RuntimeError):
    """A configured builder is missing or the build failed; the message says which and why."""


def base_image() -> str:
    return os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE


def builder_env() -> dict[str, str]:
    """The process environment with buildah's settings for this kind of host (explicit settings win)."""
    return BUILDAH_ENV | dict(os.environ)


def builder_available(builder: str) -> tuple[bool, str]:
    """(True, "") when `builder` can build here (buildah on PATH; a Docker engine answering `docker info`)."""
    if shutil.which(builder) is None:
        return False, f"no `{builder}` executable on PATH"
    if builder == "docker":
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return False, f"`docker info` failed: {lines[-1] if lines else f'exit status {done.returncode}'}"
    return True, ""


def image_name(bento_tag: str) -> str:
    """`finpulse:abc` -> `localhost/finpulse:abc` (buildah and podman name local images so)."""
    return f"localhost/{bento_tag}"


def build_ca_bundle() -> str | None:
    """The CA bundle a build trusts (FINPULSE_BUILD_CA, else this host's): bound over the image's own while
    building so its package downloads pass a TLS-inspecting proxy; the image keeps Debian's bundle."""
    bundle = os.environ.get("FINPULSE_BUILD_CA", "/etc/ssl/certs/ca-certificates.crt")
    return bundle if bundle and os.path.isfile(bundle) else None


def containerize_command(bento_tag: str, builder: str) -> list[str]:
    command = ["bentoml", "containerize", bento_tag, "--backend", builder, "-t", image_name(bento_tag)]
    bundle = build_ca_bundle()
    if builder == "buildah" and bundle:
        command += ["--opt", f"volume={bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    return command


def inspect_image(name: str, builder: str = "buildah") -> dict:
    """{"image_id": full id, "image_mib": uncompressed size} of a local image; ImageBuildFailed when it is absent."""
    if builder == "docker":
        command = ["docker", "image", "inspect", "--format", "{{.Id}} {{.Size}}", name]
    else:
        command = ["buildah", "inspect", "--type", "image", name]
    done = subprocess.run(command, capture_output=True, text=True, env=builder_env(), timeout=120)
    if done.returncode != 0:
        raise ImageBuildFailed(f"no local image {name!r} ({' '.join(command[:3])}: {done.stderr.strip()[-500:]})")
    if builder == "docker":
        image_id, size = done.stdout.split()
        return {"image_id": image_id, "image_mib": round(int(size) / 2**20, 1)}
    image = json.loads(done.stdout)
    # buildah stores layers uncompressed: the manifest's layer sizes add up to what `buildah images` shows.
    size = sum(layer["size"] for layer in json.loads(image["Manifest"])["layers"])
    return {"image_id": image["FromImageID"], "image_mib": round(size / 2**20, 1)}


def tag_image(name: str, new_name: str, builder: str = "buildah") -> None:
    done = subprocess.run([builder, "tag", name, new_name], capture_output=True, text=True, env=builder_env(),
                          timeout=120)
    if done.returncode != 0:
        raise ImageBuildFailed(f"{builder} tag {name} {new_name} failed: {done.stderr.strip()[-500:]}")


def containerize(bento_tag: str, builder: str | None = None) -> dict:
    """Build the bento's image with `builder` (default: FINPULSE_CONTAINERIZE); when none is configured,
    record the command that would build it and which builders this host has."""
    builder = builder if builder is not None else os.environ.get(CONTAINERIZE_ENV, "").strip()
    if not builder:
        present = [name for name in BUILDERS if builder_available(name)[0]]
        command = " ".join(containerize_command(bento_tag, present[0] if present else "buildah"))
        return {"status": "not requested", "builders_here": present, "command": command,
                "message": f"containerize not requested ({CONTAINERIZE_ENV} unset; builders here: "
                           f"{', '.join(present) or 'none'}); to build: `make images` or `{command}`"}
    if builder not in BUILDERS:
        raise ImageBuildFailed(f"{CONTAINERIZE_ENV}={builder!r}: expected one of {', '.join(BUILDERS)}")
    available, why = builder_available(builder)
    if not available:
        raise ImageBuildFailed(f"{CONTAINERIZE_ENV}={builder} but {why} (apt-get install -y buildah, "
                               f"or unset {CONTAINERIZE_ENV} to skip building the image)")
    command = containerize_command(bento_tag, builder)
    command[0] = shutil.which("bentoml") or os.path.join(os.path.dirname(sys.executable), "bentoml")
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=builder_env())
    if done.returncode != 0:
        raise ImageBuildFailed(f"{' '.join(command)} failed (base image {base_image()}; `make images` builds it):\n"
                               f"{(done.stderr or done.stdout)[-4000:]}")
    image = inspect_image(image_name(bento_tag), builder)
    seconds = round(time.perf_counter() - started, 1)
    return {"status": "built", "builder": builder, "image": image_name(bento_tag), **image,
            "build_seconds": seconds,
            "message": f"image {image_name(bento_tag)} ({image['image_id'][:12]}, {image['image_mib']} MiB) "
                       f"built by {builder} in {seconds} s"}


if __name__ == "__main__":
    # `python -m finpulse_assets.deploy.images finpulse:latest [buildah|docker]` (make images): build, name it
    # localhost/finpulse:latest too (the name the deployment files use), print the record.
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m finpulse_assets.deploy.images <bento tag> [buildah|docker]")
    import bentoml

    tag = str(bentoml.bentos.get(sys.argv[1]).tag)  # finpulse:latest -> the version it stands for
    try:
        chosen = sys.argv[2] if len(sys.argv) == 3 else "buildah"
        record = containerize(tag, chosen)
        tag_image(record["image"], SERVING_IMAGE_LATEST, chosen)
        print(json.dumps(record | {"also_tagged": SERVING_IMAGE_LATEST}, indent=1))
    except ImageBuildFailed as failed:
        sys.exit(str(failed))
