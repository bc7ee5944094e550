"""The suite's process starts with SIGINT and SIGTERM at their defaults, whatever shell started it.

A shell that runs `make test` in the background starts it with SIGINT ignored. Dagster's in-process execution
then maps SIGTERM to SIGINT's handler, so SIGTERM becomes ignored too, and every process a test spawns
inherits that: servers and pool workers a test stops with SIGTERM would keep running.
"""

import signal


def pytest_configure(config):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
