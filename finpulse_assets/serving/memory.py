"""Handing the memory of large requests back to the system once they are answered.

A large body (a 2 MB list of 600,000 numbers is ~30 MB of Python objects once parsed) is freed when its
request ends, but glibc keeps the freed pages for reuse, and the holes that large and small allocations
leave between each other keep it from giving them back: issue 24's hostile minute left a worker with 50 %
more memory than fresh, 1,000 bodies of bad texts alone with 79 % (`benchmarks/serving_memory.py`).
`malloc_trim(0)` returns every free page of every arena; it runs once the request holding the body is
over (trimming during validation, while the body and the parsed document were still alive, kept most of
it). Large allocations are mmapped at a fixed threshold, so they go back to the system when freed instead
of raising glibc's dynamic threshold and landing in the heap.

Small objects: Python's own allocator (pymalloc) returns a 1 MiB arena only once every object in it is
freed, so the peak of concurrent requests at the cost limit (16,000 validated bars and their parsed JSON,
tens of MB of small objects) stayed: +12 % after 1,000 hostile requests, +1.6 % with the workers on
glibc's malloc (PYTHONMALLOC=malloc), whose free pages `malloc_trim` hands back.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

# Bodies from this size on are followed by a trim (a few ms); the 5 KB of a normal request never are.
TRIM_AFTER_BYTES = 256 * 1024
# glibc's mallopt parameter number for the mmap threshold, and the threshold itself (glibc's initial one).
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (glibc has both; musl and others may not)
    except (OSError, AttributeError):  # not glibc: nothing to tune or hand back
        return None
    return libc


_LIBC = _libc()


def system_malloc_for_workers() -> None:
    """Workers started from here allocate Python objects with glibc's malloc unless PYTHONMALLOC is already set.

    PYTHONMALLOC is read when an interpreter starts: this runs in the `bentoml serve` process, which imports
    the service before it starts its workers; they inherit the environment."""
    os.environ.setdefault("PYTHONMALLOC", "malloc")


def fixed_mmap_threshold() -> bool:
    """Keep allocations from MMAP_THRESHOLD_BYTES on in their own mappings (glibc raises the threshold up to
    32 MiB after the first large free, after which large bodies fragment the heap). True when set."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim() -> None:
    """Return free heap pages to the system (a no-op without glibc)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def trim_after(size: int) -> Callable[[], None] | None:
    """`trim` for a request whose body was `size` bytes, None when it is too small to be worth one."""
    return trim if size >= TRIM_AFTER_BYTES else None
