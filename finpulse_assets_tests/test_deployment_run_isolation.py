"""A killed run worker leaves no step process behind (run_isolation.end_with_run_worker via the Delta IO manager)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from finpulse_assets.deploy.process_tree import alive, wait_gone

# A run on Dagster's multiprocess executor whose one step writes its pid and then sleeps; a second asset
# runs to completion first, so a normal step is not killed by the parent-death signal.
RUN = textwrap.dedent("""
    import os, sys, time
    from dagster import DagsterInstance, Definitions, asset, define_asset_job, execute_job, reconstructable, multiprocess_executor
    from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager

    @asset
    def quick():
        return {"pid": os.getpid()}

    @asset(deps=[quick])
    def slow():
        open(os.environ["STEP_PID_FILE"], "w").write(str(os.getpid()))
        time.sleep(600)
        return {"done": True}

    def job():
        return Definitions(assets=[quick, slow], jobs=[define_asset_job("j")], executor=multiprocess_executor,
                           resources={"io_manager": PartitionedDeltaIOManager(base_dir=os.environ["BASE"])}
                           ).resolve_job_def("j")

    if __name__ == "__main__":
        os.makedirs(os.environ["HOME_DIR"], exist_ok=True)
        with DagsterInstance.local_temp(os.environ["HOME_DIR"]) as instance:
            execute_job(reconstructable(job), instance=instance)
""")


def test_killing_the_run_worker_ends_its_step_processes(tmp_path):
    script = tmp_path / "run_worker.py"
    script.write_text(RUN)
    pid_file = tmp_path / "step.pid"
    env = dict(os.environ, STEP_PID_FILE=str(pid_file), BASE=str(tmp_path / "assets"), HOME_DIR=str(tmp_path / "home"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH", "")])))
    worker = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path, start_new_session=True)
    step = None
    try:
        deadline = time.monotonic() + 240
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            assert worker.poll() is None, "the run ended before its slow step started"
            time.sleep(0.2)
        step = int(pid_file.read_text())
        assert (tmp_path / "assets" / "quick.json").exists()   # a step that finished was not killed
        assert alive([step])
        worker.send_signal(signal.SIGKILL)   # the run worker alone, as a crash would; not its group
        worker.wait(timeout=30)
        killed = time.monotonic()
        assert wait_gone([step], 10) == [], "the step process outlived its run worker"
        print(f"\nstep process gone {time.monotonic() - killed:.2f}s after its run worker was killed")
    finally:
        for pid in [worker.pid, *([step] if step else [])]:
            if alive([pid]):
                os.kill(pid, signal.SIGKILL)
