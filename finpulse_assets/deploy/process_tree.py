"""Stopping a process and everything it started, including what left its process group.

A process group is not enough: a server's workers may start sessions of their own (BentoML's process
manager does), and a `kill -9` of a parent leaves its children running, reparented to init. So the tree
is read from the process table before any signal is sent (children, grandchildren, ...), and every process
whose environment carries a marker variable the caller set (e.g. on a container's config) is added: that
finds a worker that was reparented before we looked, and works across a chroot or mount namespace.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def marked(marker: str) -> list[psutil.Process]:
    """Processes whose environment holds the entry `marker` ("NAME=value")."""
    entry = marker.encode()
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if entry in environ:
            try:
                found.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                continue
    return found


def stop_tree(pid: int, grace: float = 15.0, markers: tuple[str, ...] = ()) -> list[int]:
    """SIGTERM to `pid`, its process group, its descendants and the processes carrying one of `markers`; SIGKILL to
    whatever is left after `grace` seconds. Returns the pids that had to be killed."""
    procs = {p.pid: p for p in descendants(pid)}
    for marker in markers:
        procs.update({p.pid: p for p in marked(marker)})
    try:
        procs[pid] = psutil.Process(pid)
    except psutil.NoSuchProcess:
        pass
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs.values():
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=grace)
    # What a SIGTERM handler started meanwhile, or a process that ignored it.
    late = {p.pid: p for p in alive}
    for proc in list(procs.values()):
        late.update({c.pid: c for c in descendants(proc.pid)})
    for marker in markers:
        late.update({p.pid: p for p in marked(marker)})
    for proc in late.values():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(late.values()), timeout=10)
    return sorted(late)


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` that still run (zombies count as gone)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)
