"""Run a local image's command with buildah on a host without a container engine (tests, benchmarks, docs).

`podman run` fails here (setrlimit, then "cgroups in hybrid mode not supported"), so an image runs as a
buildah working container with chroot isolation and the host's network: the server inside listens on
a loopback port of this host. Elsewhere `podman run` / `docker run` are the way (docs/images.md).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence

from finpulse_assets.deploy.process_tree import stop_tree
from finpulse_assets.deploy.images import builder_env

# Set on every working container: the stop finds the container's processes by it, wherever they went.
CONTAINER_MARKER_ENV = "FINPULSE_CONTAINER"


def _buildah(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, env=builder_env(), timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


@contextlib.contextmanager
def running_image(image: str, command: Sequence[str], env: Mapping[str, str] | None = None,
                  log_path: str | os.PathLike | None = None) -> Iterator[subprocess.Popen]:
    """`command` running in a fresh working container of `image` (host network); stopped and removed after."""
    container = _buildah("from", "--pull=never", image)
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    marker = f"{CONTAINER_MARKER_ENV}={container}"
    try:
        settings = {**(env or {}), CONTAINER_MARKER_ENV: container}
        _buildah("config", *[arg for key, value in settings.items() for arg in ("--env", f"{key}={value}")], container)
        process = subprocess.Popen(["buildah", "run", "--isolation", "chroot", "--network", "host", container, "--",
                                    *command], env=builder_env(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            # `buildah run`, the server and its workers, also those in sessions of their own (BentoML's
            # process manager starts some) or already reparented: none may keep serving the port.
            stop_tree(process.pid, grace=30, markers=(marker,))
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
        _buildah("rm", container)
