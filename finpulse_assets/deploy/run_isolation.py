"""A step's process ends with the run worker that started it: no orphan commits a partition after its run died.

Dagster's multiprocess executor runs each step in a child process of the run worker (`spawn`). When the
run worker is killed (kill -9, OOM), those children are reparented and keep running; run monitoring
marks the run failed and the daemon retries it, while the orphans still commit their partitions. On
Linux the kernel can send a signal to a process when its parent dies (prctl PR_SET_PDEATHSIG): a step
process asks for SIGKILL, so it ends with its run worker. A Delta commit is atomic, so a step killed
mid-way leaves the table as it was and the retry writes it once.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def end_with_run_worker() -> bool:
    """In a step's subprocess: SIGKILL this process when its parent (the run worker) dies. True when set;
    False in-process (tests, `materialize`) or off Linux, where there is no separate step process."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
    if os.getppid() != parent.pid:   # the run worker died before the signal was asked for
        os.kill(os.getpid(), signal.SIGKILL)
    return True
