"""Runs the CLI started whose process died (SIGKILL, power loss, a lost database connection) are marked failed.

Without a daemon nothing else notices them: the CLI's in-process runs have no launcher whose health run
monitoring could probe, so they would stay STARTED until `max_runtime_seconds`. Each CLI run carries the
CLI's process id and host (tags below); on its next start the CLI marks those of its own host whose process
is gone as FAILURE, with a message that says so.
"""

from __future__ import annotations

import os
import socket

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from finpulse_assets.runs.processes import pid_alive

LAUNCHED_BY_TAG, PID_TAG, HOST_TAG = "finpulse/launched_by", "finpulse/cli_pid", "finpulse/cli_host"
UNFINISHED = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]


def process_tags() -> dict[str, str]:
    """The tags that let a later CLI tell whether this process still runs the run."""
    return {LAUNCHED_BY_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def mark_dead_cli_runs(instance: DagsterInstance) -> list[str]:
    """Mark FAILURE every unfinished CLI run of this host whose process is gone; returns their run ids."""
    host = socket.gethostname()
    marked = []
    for run in instance.get_runs(RunsFilter(statuses=UNFINISHED, tags={LAUNCHED_BY_TAG: "cli", HOST_TAG: host})):
        pid = run.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the CLI process {pid} that ran this run on {host} is gone (killed, or it "
                                        "lost its database connection); marked failed by the next CLI start. What "
                                        "its steps committed stays; rerun the same command to finish the job.")
        marked.append(run.run_id)
    return marked
