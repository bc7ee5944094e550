"""The suite's process starts with SIGINT and SIGTERM at their defaults, whatever shell started it; the longest
modules are collected first.

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


# `make test` and `make test-fast` run the modules on parallel pytest-xdist workers, each module whole on one worker
# (--dist loadfile: its module fixtures are built once) and in collection order (--no-loadscope-reorder). This
# order puts the modules measured longest first, so that none of them starts last and runs alone while the other
# workers sit idle (docs/testing.md has the measurement). Any module not listed follows, in pytest's own order.
LONGEST_FIRST = (
    "test_ui_browser.py", "test_deployment_e2e.py", "test_deployment_one_writer.py", "test_monitoring_chain.py",
    "test_model_assets.py", "test_serving_image.py", "test_deployment_idempotent.py", "test_cli.py",
    "test_bento_package.py", "test_cli_progress.py", "test_evaluation_walk_forward.py", "test_celery_engine.py",
    "test_s3_landing.py", "test_concurrent_ticker_writes.py", "test_run_outcomes.py", "test_fault_matrix.py",
    "test_deployment_supervision.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1], len(rank)))
