"""What a run leaves and says (issue 22): the completeness guard reads the truth from storage, failures say
why, exit codes tell stored-with-warnings from failed, and the CLI marks its own dead runs failed."""
# ruff: noqa: F811 (the `project` fixture is imported from test_fault_matrix and named by the tests)

import os
import signal
import subprocess
import sys
import textwrap
import time

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from finpulse_assets.runs.cli import EXIT_FAILED, EXIT_OK, EXIT_STORED_WITH_FAILED_CHECKS, exit_code
from finpulse_assets.partitions import ticker_partitions
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    TICKERS, Project, bars, project, record, step_error, tweets, write_prices, write_tweets,
)
from finpulse_assets_tests.test_misread_inputs import table_hash


def test_the_guard_counts_stored_rows_in_storage_under_a_new_dagster_home(project):
    """A new instance over old storage: the instance knows nothing, the tables know what is stored."""
    assert project.run(["raw_tweets", "raw_prices"]).success
    before, tweets_before = project.stored_tree(), table_hash(project, "raw_tweets")
    write_tweets(project.tweets_dir, [r for r in tweets() if not r["post_date"].startswith("17043")])  # Jan 2-4 gone
    with DagsterInstance.ephemeral() as fresh:
        fresh.add_dynamic_partitions(ticker_partitions.name, list(TICKERS))
        project.instance = fresh
        result = project.run(["raw_tweets"])
    error = step_error(result)
    assert not result.success and "would replace" in error and "AAA 2024-01-04: 2 -> 0" in error
    assert "No row of those days was rejected" in error
    assert project.stored_tree() == before and table_hash(project, "raw_tweets") == tweets_before
    record("shrinking source under a new DAGSTER_HOME over old storage", "refused")


def test_the_guard_says_why_the_rows_were_rejected(project):
    assert project.run(["raw_prices"]).success
    before = project.stored_tree()
    write_prices(project.prices_dir, {"AAA": [{**r, "Close": "-1"} if r["Date"] >= "2024-01-02" else r for r in bars()]})
    result = project.run(["raw_prices"])
    error = step_error(result)
    assert not result.success and "Rows of those days rejected by reason: non_positive_price 21" in error
    assert project.stored_tree() == before
    record("every bar of the run rejected (the guard names the reasons)", "refused")


def test_exit_codes():
    assert exit_code({"failure": None, "failed_checks": []}) == EXIT_OK == 0
    assert exit_code({"failure": "data_assets_job (AAA): ...", "failed_checks": ["x"]}) == EXIT_FAILED == 1
    assert exit_code({"failure": None, "failed_checks": ["raw_prices:daily_moves_are_plausible (AAA)"]}) == 3
    assert EXIT_STORED_WITH_FAILED_CHECKS == 3


def test_the_cli_exits_3_when_everything_is_stored_but_a_warning_check_failed(tmp_path):
    data = tmp_path / "data"
    rows = [{**r, "Volume": "1"} if r["Date"] == "2024-01-17" else r for r in bars()]  # a cut volume
    rows.append({**rows[-1], "Date": "2024-01-31", "Close": "-3"})  # a second bar of a day, and a bad one
    write_prices(data / "prices", {"AAA": rows})
    future = {**tweets()[0], "tweet_id": "77", "post_date": "4070908800"}  # 2099
    write_tweets(data / "tweets", tweets() + [future])
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "FINPULSE_DATA": str(data), "FINPULSE_TICKERS": "AAA",
           "FINPULSE_START": "2024-01-02", "FINPULSE_END": "2024-02-01", "FINPULSE_STORAGE_DIR": str(tmp_path / "st"),
           "FINPULSE_WORKERS": "1"}
    (tmp_path / "home").mkdir()
    done = subprocess.run([sys.executable, "-m", "finpulse_assets.runs.cli", "materialize", "--jobs", "data_assets_job"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == EXIT_STORED_WITH_FAILED_CHECKS, done.stdout[-3000:] + done.stderr[-3000:]
    assert "FAILED checks: raw_prices:daily_moves_are_plausible (AAA)" in done.stdout
    assert "everything was stored; exit code 3" in done.stdout
    assert "raw_prices rows dropped, by reason: non_positive_price 1" in done.stdout
    assert "raw_tweets rows dropped, by reason: post_date_in_future 1" in done.stdout
    from finpulse_assets_tests.stored import stored_table
    assert len(stored_table(tmp_path / "st" / "assets", "raw_prices")) == 21
    assert len(stored_table(tmp_path / "st" / "assets", "price_features")) == 21
    record("a warning check fails (CLI exit code)", "flagged")


KILLED_CLI_RUN = textwrap.dedent("""
    import time
    from dagster import DagsterInstance, asset, materialize
    from finpulse_assets.runs.dead_runs import process_tags
    @asset
    def slow():
        time.sleep(120)
    with DagsterInstance.get() as instance:
        materialize([slow], instance=instance, tags=process_tags())
""")


def test_a_killed_cli_run_is_marked_failed_at_the_next_start(tmp_path):
    from finpulse_assets.runs.dead_runs import mark_dead_cli_runs

    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    worker = subprocess.Popen([sys.executable, "-c", KILLED_CLI_RUN], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    with DagsterInstance.from_config(str(home)) as instance:
        deadline = time.time() + 120
        while time.time() < deadline and not instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            time.sleep(0.5)
        (run,) = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        assert mark_dead_cli_runs(instance) == []  # still alive: left alone
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert mark_dead_cli_runs(instance) == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert mark_dead_cli_runs(instance) == []
    record("CLI process killed mid-run (no daemon)", "cleaned up")


def test_a_lost_instance_database_is_one_line_and_exit_1(monkeypatch, capsys):
    import psycopg2
    from sqlalchemy.exc import OperationalError

    from finpulse_assets.runs import cli

    def lost(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, psycopg2.OperationalError(
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally"))

    monkeypatch.setattr(cli, "materialize", lost)
    monkeypatch.setenv("DAGSTER_HOME", str(__import__("tempfile").mkdtemp()))
    assert cli.main(["materialize", "--jobs", "data_assets_job"]) == EXIT_FAILED
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("FAILED: lost the connection to the Dagster instance's database "
                              "(server closed the connection unexpectedly). ")
    assert "Traceback" not in "\n".join(err)
    record("Postgres connection lost (CLI summary)", "clean error")
