"""`python -m finpulse_assets.runs.cli materialize`: what `make demo` runs.

Registers the configured tickers as dynamic partitions and materializes the
whole asset graph into the Dagster instance in $DAGSTER_HOME, in five stages
(each a job of `definitions.JOB_ORDER`):

  1. data_assets_job          raw_tweets, vader_labels, raw_prices, price_features   one run per ticker
  2. sentiment_model_job      finbert_model, finbert_onnx                             one run
  3. sentiment_features_job   finbert_sentiment, sentiment_features                   one run per ticker
  4. forecast_model_job       training_set, lstm_model, lstm_onnx                     one run
  5. predictions_job          predictions                                             one run per ticker
  6. packaging_job            bento (the BentoML service with the champion models)    one run
  6. monitoring_job           drift_report, prediction_errors (last DEMO_RECENT_DAYS)  one run per ticker

The per-ticker runs cover the ticker's whole range of days, batched as a
backfill would be. A stage whose run fails (a blocking check included) stops
the later stages. Then it prints a summary with the models' key figures.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pandas as pd
from dagster import DagsterInstance
from sqlalchemy.exc import DBAPIError

from finpulse_assets.assets.run_inputs import input_failure, input_problems
from finpulse_assets.definitions import (
    DATA_ASSETS_JOB,
    JOB_ORDER,
    MONITORING_JOB,
    PARTITIONED_JOBS,
    RUN_ORDER,
    build_definitions,
)
from finpulse_assets.engine.executor import CELERY, DEFAULT, executor_name
from finpulse_assets.runs.dead_runs import mark_dead_cli_runs, process_tags
from finpulse_assets.partitions import TICKER_RUN_TAG, range_tags, ticker_partitions
from finpulse_assets.runs.progress import Progress
from finpulse_assets.runs.ticker_queue import writer_tags
from finpulse_assets.runs.launch import Stopped, execute_job, exit_process, stop_on_signals, stop_requested
from finpulse_assets.settings import Settings
from finpulse_assets.runs.ticker_runs import RunOutcome, TickerRunPool, default_workers, outcome_of
from finpulse_assets.runs.celery_runs import check_shared_storage, runs_in_flight

# Jobs run over only the last N days of the window: a drift report costs 2-3 s (Evidently renders its HTML
# while it computes), so the demo reports its last six weeks, where the regime shift shows; a UI backfill
# of monitoring_job covers any other range.
DEMO_RECENT_DAYS = {MONITORING_JOB: 42}
# Dagster's per-event lines (thousands per backfill) would bury the progress line and the summary; warnings and
# errors still print, and the UI keeps every event.
CONSOLE_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

# Figures of the unpartitioned assets shown in the summary (metadata keys).
SUMMARY_KEYS = {
    "finbert_model": ["accuracy_vs_vader", "macro_f1_vs_vader", "train_tweets", "val_tweets", "train_seconds",
                      "model_version", "mlflow_run"],
    "finbert_onnx": ["label_agreement_int8_vs_torch", "max_prob_diff_int8_vs_torch", "registry"],
    "training_set": ["rows", "tickers", "first_date", "last_date", "tweet_free_trading_days"],
    "lstm_model": ["pooling_reason", "sentiment_ablation", "beats_random_walk_on_val", "train_seconds",
                   "model_version", "mlflow_run"],
    "lstm_onnx": ["kept", "parity_max_abs_diff", "registry"],
    "bento": ["bento_tag", "bento_mib", "model_versions", "containerize"],
}
TABLE_KEYS = {"lstm_model": "test_metrics", "finbert_model": "confusion_matrix"}


def register_tickers(instance: DagsterInstance, tickers) -> list[str]:
    known = set(instance.get_dynamic_partitions(ticker_partitions.name))
    new = [t for t in tickers if t not in known]
    if new:
        instance.add_dynamic_partitions(ticker_partitions.name, new)
    return new


def materialize(settings: Settings, instance: DagsterInstance, jobs: Sequence[str] = tuple(JOB_ORDER),
                run_config: Mapping[str, Mapping] | None = None, resources: Mapping[str, object] | None = None,
                progress: Progress | None = None, workers: int = 1, executor: str | None = None,
                days: tuple[date, date] | None = None) -> dict:
    """Run `jobs` (in JOB_ORDER) for every configured ticker; returns the summary `print_summary` prints.

    run_config: {asset name: its config dict}; each job gets the entries of its own assets.
    progress: shown per stage as asset partitions materialize (default: on stderr).
    workers: processes for a partitioned stage's per-ticker runs (ticker_runs.py); they load the instance of
    $DAGSTER_HOME and the definitions of `settings`, so more than 1 needs a persistent instance and no
    `resources` override. 1: every run in this process, one after another.
    executor: "celery" sends the partitioned stages' steps to Celery workers instead (runs/celery_runs.py;
    default: FINPULSE_EXECUTOR), FINPULSE_CELERY_RUNS runs at a time; the unpartitioned stages still run in
    this process.
    days: (first, last) inside the window: the partitioned stages' runs cover only these days (a new day landing,
    as the sensor's runs do), reading the window's earlier days as stored; default: the whole window.
    """
    executor = executor or executor_name()
    if (workers > 1 or executor == CELERY) and (resources is not None or not instance.is_persistent):
        raise ValueError("materialize: worker processes (workers > 1, or the celery executor) need the persistent "
                         "instance of $DAGSTER_HOME and the definitions' own resources (they load both themselves)")
    progress = progress or Progress()
    # The runs of this process execute in it: the Celery executor only where celery_runs.py orchestrates.
    defs = build_definitions(settings, resources, executor=DEFAULT)
    register_tickers(instance, settings.tickers)
    first = pd.Timestamp(settings.start).date()
    last = (pd.Timestamp(settings.end) - pd.Timedelta(days=1)).date()
    if days is not None:
        if not first <= days[0] <= days[1] <= last:
            raise ValueError(f"materialize: days {days[0]}..{days[1]} are not inside the window {first}..{last}")
        first, last = days
    started = time.perf_counter()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"partitions": 0, "rows": 0, "rows_rejected": 0})
    models: dict[str, dict] = {}
    failed_checks: list[str] = []
    checks: list[dict] = []
    stage_seconds: dict[str, float] = {}
    failure = None
    if DATA_ASSETS_JOB in jobs:  # every input is read before any run writes (assets/run_inputs.py)
        problems = input_problems(defs.resources["tweet_source"], defs.resources["price_source"], settings.tickers,
                                  first, last, tweets_may_lack=bool((run_config or {}).get("raw_tweets", {})
                                                                    .get("allow_shrink")))
        failure = f"{DATA_ASSETS_JOB}: {input_failure(problems)}" if problems else None
    if executor == CELERY:
        check_shared_storage(instance)
    pool: TickerRunPool | None = None
    # Every run of this command carries it: a stop cancels the runs a killed worker left open.
    session = {"finpulse/cli_session": uuid.uuid4().hex}
    stages = [j for j in RUN_ORDER if j in jobs]
    progress.plan([(job_name, _units(defs, job_name, first, last, len(settings.tickers))) for job_name in stages])
    try:
        for index, job_name in enumerate(stages, 1):
            if failure is not None:  # a failed stage ends the command: later stages would read its inputs
                break
            job = defs.resolve_job_def(job_name)
            asset_names = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
            ops = {name: {"config": dict(cfg)} for name, cfg in (run_config or {}).items() if name in asset_names}
            stage_started = time.perf_counter()
            if job_name in PARTITIONED_JOBS:  # one run per ticker over its whole range of days, as a backfill would
                runs = [(t, range_tags(t, _first_day(job_name, first, last), last)) for t in settings.tickers]
            else:
                runs = [(None, {})]
            progress.stage(job_name, _units(defs, job_name, first, last, len(settings.tickers)),
                           "asset partitions" if job_name in PARTITIONED_JOBS else "assets", index=(index, len(stages)),
                           parts=len(runs) if job_name in PARTITIONED_JOBS else 0)
            run_config_of_job = {**CONSOLE_LOGS, "ops": ops}
            # The ticker tags the deployment's queue counts (runs/ticker_queue.py): it starts no run of these
            # tickers while this one is in progress.
            runs = [(t, {**tags, **process_tags(), **session, **({TICKER_RUN_TAG: t, **writer_tags([t])} if t else {})})
                    for t, tags in runs]
            pooled = job_name in PARTITIONED_JOBS and (executor == CELERY or (workers > 1 and len(runs) > 1))
            if pool is None and pooled:
                # With Celery, the pool's processes orchestrate runs whose steps execute on the Celery workers.
                pool = TickerRunPool(settings, min(runs_in_flight() if executor == CELERY else workers,
                                                   len(settings.tickers)), executor)
            if pooled:
                outcomes = pool.run_all(job_name, runs, run_config_of_job, progress.advance, progress.part_done)
            else:
                outcomes = []
                for ticker, tags in runs:
                    result = execute_job(job, instance, run_config_of_job, tags=tags, on_event=progress.listener())
                    outcomes.append(outcome_of(result, ticker))
                    progress.part_done()
                    if not result.success:
                        break
            if any(outcome.stopped for outcome in outcomes):  # a worker got the signal, this process did not
                raise Stopped(stop_requested() or signal.SIGINT)
            for outcome in outcomes:
                _add_outcome(outcome, totals, models, checks, failed_checks)
                if not outcome.success and failure is None:
                    where = f" ({outcome.ticker})" if outcome.ticker else ""
                    failure = f"{job_name}{where}: {outcome.failure}"
            stage_seconds[job_name] = time.perf_counter() - stage_started
            progress.end("FAILED" if failure else "")
            if failure:
                break
    except KeyboardInterrupt:
        progress.end("STOPPED")
        if pool is not None:
            pool.stop(lambda: bool(open_runs(instance, session)))
            pool = None
        cancel_open_runs(instance, session)
        raise
    finally:
        if pool is not None:
            pool.close()
    return {"assets": dict(totals), "models": models, "seconds": time.perf_counter() - started,
            "stage_seconds": stage_seconds, "checks": checks, "failed_checks": failed_checks, "failure": failure}


def _first_day(job_name: str, first, last):
    """A partitioned stage's first day: the window's, or the last DEMO_RECENT_DAYS of it."""
    return max(first, last - timedelta(days=DEMO_RECENT_DAYS[job_name] - 1)) if job_name in DEMO_RECENT_DAYS else first


def _units(defs, job_name: str, first, last, tickers: int) -> int:
    """What a stage's progress counts: asset partitions of a partitioned stage, else assets."""
    job = defs.resolve_job_def(job_name)
    assets = len(job.asset_layer.executable_asset_keys)
    if job_name not in PARTITIONED_JOBS:
        return assets
    return assets * ((last - _first_day(job_name, first, last)).days + 1) * tickers


def open_runs(instance: DagsterInstance, tags: Mapping[str, str]) -> list:
    from dagster import DagsterRunStatus, RunsFilter

    return instance.get_runs(RunsFilter(tags=dict(tags), statuses=[
        DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]))


def cancel_open_runs(instance: DagsterInstance, tags: Mapping[str, str]) -> list[str]:
    """Mark CANCELED the runs with `tags` that are still open (a worker killed at the stop deadline)."""
    runs = open_runs(instance, tags)
    for run in runs:
        instance.report_run_canceled(run, "Stopped by a signal (Ctrl-C or SIGTERM); its process did not "
                                          "close the run in time.")
    return [run.run_id for run in runs]


def _add_outcome(outcome: RunOutcome, totals, models, checks, failed_checks) -> None:
    run_reasons: dict[str, dict] = {}
    for name, partition, metadata in outcome.materializations:
        if partition is None:
            models[name] = metadata
            continue
        totals[name]["partitions"] += 1
        totals[name]["rows"] += int(metadata["rows"])
        totals[name]["rows_rejected"] += int(metadata["rows_rejected"])
        run_reasons.setdefault(name, metadata.get("run_rejected_by_reason") or {})  # the run's, on each partition
    for name, reasons in run_reasons.items():
        by_reason = totals[name].setdefault("rejected_by_reason", {})
        for reason, count in reasons.items():
            by_reason[reason] = by_reason.get(reason, 0) + int(count)
    for check in outcome.checks:
        checks.append(check)
        if not check["passed"]:
            where = f" ({check['ticker']})" if check["ticker"] else ""
            failed_checks.append(f"{check['asset']}:{check['check']}{where}")


def print_summary(summary: dict, settings: Settings) -> None:
    print(f"\nFinPulse: {len(settings.tickers)} tickers x {settings.start} .. {settings.end} (end exclusive)")
    print(f"{'asset':<20}{'partitions':>12}{'rows':>12}{'rejected':>10}")
    for name, s in summary["assets"].items():
        print(f"{name:<20}{s['partitions']:>12}{s['rows']:>12}{s['rows_rejected']:>10}")
    for name, s in summary["assets"].items():
        if s.get("rejected_by_reason"):  # rows without a usable date belong to no partition: counted here only
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(s["rejected_by_reason"].items(), key=lambda i: -i[1]))
            print(f"{name} rows dropped, by reason: {reasons}")
    for name, metadata in summary.get("models", {}).items():
        print(f"\n{name}")
        for key in SUMMARY_KEYS.get(name, []):
            if key in metadata:
                value = metadata[key]
                print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
        table = TABLE_KEYS.get(name)
        if table and table in metadata:
            print("  " + str(metadata[table]).replace("\n", "\n  "))
    if summary.get("checks"):
        passed = sum(c["passed"] for c in summary["checks"])
        print(f"\nasset checks: {passed} of {len(summary['checks'])} passed")
    if summary.get("stage_seconds"):
        print("\nstage times: " + ", ".join(f"{job} {s:.1f} s" for job, s in summary["stage_seconds"].items()))
    print(f"time taken: {summary['seconds']:.1f} s")
    if summary["failed_checks"]:
        print("FAILED checks: " + ", ".join(summary["failed_checks"]) +
              f"\n(everything was stored; exit code {EXIT_STORED_WITH_FAILED_CHECKS}: read the checks' metadata)")
    if summary.get("failure"):
        print("FAILED: " + summary["failure"] + "\n(later stages were not run)")
    print(next_steps())


def next_steps() -> str:
    """Where to look next; the URLs follow the Makefile's ports (UI_PORT, MLFLOW_PORT)."""
    import os

    ui = os.environ.get("FINPULSE_UI_URL", "").strip() or "http://127.0.0.1:3000"
    mlflow = os.environ.get("FINPULSE_MLFLOW_URL", "").strip() or "http://127.0.0.1:5000"
    return (f"\nnext: make ui      {ui}  (runs, assets, checks, plots; drift reports linked)\n"
            f"      make mlflow  {mlflow}  (training runs, metrics, registered models)\n"
            f"      make dashboard  (drift and prediction errors over time, per ticker)")


# Library chatter a user cannot act on: transformers' load reports and advisories, tqdm bars, the hub's
# download bars, MLflow's artifact download bars and its INFO lines (creating its SQLite tables on the first
# run). Environment variables, so the worker processes (spawned later) inherit them; `-v` keeps them.
QUIET_LIBRARIES = {"TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "TQDM_DISABLE": "1",
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                   "MLFLOW_LOGGING_LEVEL": "WARNING"}


def quiet_libraries(verbose: bool) -> None:
    import os

    if not verbose:
        for name, value in QUIET_LIBRARIES.items():
            os.environ.setdefault(name, value)


def stopped_status(stop: KeyboardInterrupt) -> int:
    """Say what a stop signal left and return the shell's status for it (128 + the signal's number)."""
    signum = getattr(stop, "signum", signal.SIGINT)
    print(f"\nStopped ({signal.Signals(signum).name}): the runs in progress are canceled, what they had "
          f"committed is kept; the next command redoes the rest.", file=sys.stderr)
    return 128 + signum


# Exit codes (docs/reliability.md): everything stored; a run failed (what failed stored nothing); everything
# stored, but asset checks failed (warnings a person should read).
EXIT_OK, EXIT_FAILED, EXIT_STORED_WITH_FAILED_CHECKS = 0, 1, 3


def exit_code(summary: dict) -> int:
    if summary.get("failure"):
        return EXIT_FAILED
    return EXIT_STORED_WITH_FAILED_CHECKS if summary["failed_checks"] else EXIT_OK


def database_lost(exc: DBAPIError) -> str:
    cause = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
    return (f"FAILED: lost the connection to the Dagster instance's database ({cause}). What the finished "
            "steps committed stays; the unfinished runs are marked failed at the next start. Check the "
            "database, then run the same command again.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="finpulse")
    parser.add_argument("command", choices=["materialize"])
    parser.add_argument("--jobs", default=",".join(JOB_ORDER),
                        help="comma-separated subset of the jobs to run, in this order: " + ", ".join(JOB_ORDER))
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="keep the libraries' own output (transformers' load reports, progress bars)")
    args = parser.parse_args(argv)
    quiet_libraries(args.verbose)
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = sorted(set(jobs) - set(JOB_ORDER))
    if unknown:
        parser.error(f"unknown jobs {unknown}; expected some of {JOB_ORDER}")
    settings = Settings.from_env()
    try:
        with stop_on_signals(), DagsterInstance.get() as instance:
            for run_id in mark_dead_cli_runs(instance):
                print(f"run {run_id} of an earlier CLI process that is gone: marked failed", file=sys.stderr)
            summary = materialize(settings, instance, jobs, workers=default_workers())
    except KeyboardInterrupt as stop:
        return stopped_status(stop)
    except DBAPIError as exc:  # Dagster's Postgres storage has retried; one line instead of SQLAlchemy's traceback
        print(database_lost(exc), file=sys.stderr)
        return EXIT_FAILED
    print_summary(summary, settings)
    return exit_code(summary)


if __name__ == "__main__":
    exit_process(main())
