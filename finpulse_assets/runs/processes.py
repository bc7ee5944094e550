"""Whether a process id still names a running process (same host): stale temporaries, dead CLI runs, metrics dirs.

Torch- and dagster-free: the serving image imports it too.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
