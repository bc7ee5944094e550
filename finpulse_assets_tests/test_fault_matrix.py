"""The reliability fault matrix (issue 12, docs/reliability.md): each case of bad input, bad model file or bad
timing with its expected outcome (counted / flagged / refused / clean error) over small generated Kaggle and
Yahoo files, the data assets of build_definitions, and whether stored partitions are unchanged."""

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from finpulse_assets.runs.cli import materialize as materialize_stages
from finpulse_assets.definitions import build_definitions
from finpulse_assets.features.market_calendar import trading_days
from finpulse_assets.partitions import key_for, range_tags, ticker_partitions
from finpulse_assets.settings import Settings
from finpulse_assets.sources import kaggle_csv, yahoo_csv
from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource
from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource

FIRST, LAST = date(2024, 1, 2), date(2024, 1, 31)
TICKERS = ("AAA", "BBB")
OUTCOMES = {"counted", "read right", "flagged", "refused", "clean error", "cleaned up"}
MATRIX: list[tuple[str, str]] = []  # (case, outcome) of every case that ran, for the report


def record(case: str, outcome: str) -> None:
    assert outcome in OUTCOMES
    MATRIX.append((case, outcome))


# --- generated inputs --------------------------------------------------------------------------------------

def bars(ticker: str = "AAA") -> list[dict]:
    rows = []
    for n, day in enumerate(trading_days(date(2023, 11, 1), LAST)):
        close = 50 + n * 0.3 + (n % 5)
        rows.append({"Date": day.strftime("%Y-%m-%d"), "Open": f"{close - 0.5:.2f}", "High": f"{close + 1:.2f}",
                     "Low": f"{close - 1:.2f}", "Close": f"{close:.2f}", "Adj Close": f"{close * 0.99:.4f}",
                     "Volume": str(1000 + 37 * (n % 11))})
    return rows


def tweets(tickers=("AAA",)) -> list[dict]:
    rows = []
    for i, ticker in enumerate(tickers):
        for n, day in enumerate(pd.date_range(FIRST, LAST, freq="D")):
            for h in (14, 18):  # UTC: before and after the New York close
                stamp = int((day + pd.Timedelta(hours=h)).tz_localize("UTC").timestamp())
                rows.append({"tweet_id": f"{i}{n:03d}{h}", "writer": "w", "post_date": str(stamp),
                             "body": f"Great day for ${ticker}" if n % 2 else f"Awful news for ${ticker}",
                             "comment_num": "0", "retweet_num": "1", "like_num": "2", "ticker": ticker})
    return rows


def write_prices(directory: Path, rows_by_ticker: dict[str, list[dict]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for ticker, rows in rows_by_ticker.items():
        pd.DataFrame(rows, columns=list(yahoo_csv.YAHOO_COLUMNS)).to_csv(directory / f"{ticker}.csv", index=False)
    yahoo_csv._CACHE.clear()


def write_tweets(directory: Path, rows: list[dict]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "Tweet.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(kaggle_csv.TWEET_FILE_COLUMNS)
        w.writerows([[r[c] for c in kaggle_csv.TWEET_FILE_COLUMNS] for r in rows])
    with open(directory / "Company_Tweet.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(kaggle_csv.COMPANY_FILE_COLUMNS)
        w.writerows(dict.fromkeys((r["tweet_id"], r["ticker"]) for r in rows))  # one row per (tweet, ticker)
    kaggle_csv._CACHE.clear()


def cut_mid_row(path: Path, keep_share: float) -> None:
    """Truncate the file inside a row, as a copy interrupted mid-way would."""
    data = path.read_bytes()
    cut = int(len(data) * keep_share)
    while data[cut - 1:cut] in (b"\n", b","):
        cut -= 1
    path.write_bytes(data[:cut])
    kaggle_csv._CACHE.clear()
    yahoo_csv._CACHE.clear()


# --- the project ---------------------------------------------------------------------------------------------

class Project:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root, self.instance = root, instance
        self.prices_dir, self.tweets_dir = root / "prices", root / "tweets"
        self.storage = root / "storage"
        write_prices(self.prices_dir, {"AAA": bars("AAA"), "BBB": bars("BBB")})
        write_tweets(self.tweets_dir, tweets())
        self.settings = Settings(tickers=TICKERS, start=str(FIRST), end="2024-02-01", storage_dir=str(self.storage))
        self.resources = {"tweet_source": KaggleCsvTweetSource(directory=str(self.tweets_dir)),
                          "price_source": YahooCsvPriceSource(directory=str(self.prices_dir))}
        self.defs = build_definitions(self.settings, self.resources)

    def run(self, names, ticker="AAA", config=None):
        ops = {name: {"config": cfg} for name, cfg in (config or {}).items()}
        return materialize(list(self.defs.assets), selection=list(names),
                           instance=self.instance, raise_on_error=False, resources=dict(self.defs.resources),
                           run_config={"ops": ops},
                           tags=range_tags(ticker, FIRST, LAST))

    def load(self, asset: str, ticker: str = "AAA") -> pd.DataFrame:
        """Every stored partition of `asset` for `ticker` in the window, through the IO manager."""
        frames = [self.defs.load_asset_value(AssetKey(asset), instance=self.instance, partition_key=key_for(ticker, d))
                  for d in pd.date_range(FIRST, LAST).date]
        return pd.concat([f for f in frames if len(f)], ignore_index=True)

    def stored_tree(self) -> dict[str, str]:
        """sha256 of every stored file: storage-independent evidence that a refused run changed nothing."""
        root = self.storage / "assets"
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    def metadata(self, result, asset: str, day: date, ticker="AAA") -> dict:
        key = key_for(ticker, day)
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            if mat.asset_key.to_user_string() == asset and mat.partition == key:
                return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        raise KeyError((asset, key))

    def run_metadata(self, result, asset: str) -> dict:
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            if mat.asset_key.to_user_string() == asset:
                return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        raise KeyError(asset)


def step_error(result) -> str:
    return "\n".join(str(e.event_specific_data.error) for e in result.all_events
                     if e.event_type_value == "STEP_FAILURE")


@pytest.fixture
def project(tmp_path):
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, list(TICKERS))
        yield Project(tmp_path, instance)


def rejected_total(result, asset: str) -> int:
    return sum(int(e.materialization.metadata["rows_rejected"].value) for e in result.get_asset_materialization_events()
               if e.materialization.asset_key.to_user_string() == asset and e.materialization.partition)


# --- counted: bad values are rejected rows, never crashes ----------------------------------------------------

TWEET_FAULTS = [("post_date", "inf"), ("post_date", "1704207600000"), ("post_date", "-1"), ("post_date", "1e30"),
                ("like_num", "inf"), ("like_num", "1e30")]


def test_bad_tweet_values_are_counted(project):
    """One file with every case (one run): each bad row is counted, rows in = kept + rejected."""
    rows = tweets()
    for n, (column, value) in enumerate(TWEET_FAULTS):
        rows[5 + 4 * n] = {**rows[5 + 4 * n], column: value}
    write_tweets(project.tweets_dir, rows)
    result = project.run(["raw_tweets"])
    assert result.success, step_error(result)
    stored = sum(int(e.materialization.metadata["rows"].value) for e in result.get_asset_materialization_events()
                 if e.materialization.partition)
    run = project.run_metadata(result, "raw_tweets")
    # rows in = rows kept + rows rejected, in a partition's counts or the run's (a row with no usable time)
    assert stored + rejected_total(result, "raw_tweets") + sum(run["run_rejected_without_date"].values()) == len(rows)
    assert run["run_rejected_without_date"] == {"post_date_out_of_range": 4}
    assert rejected_total(result, "raw_tweets") == 2  # the like_num rows, in their own day's partition
    for column, value in TWEET_FAULTS:
        record(f"tweet {column} = {value}", "counted")


def test_a_duplicate_id_with_an_earlier_post_date_is_counted_not_kept(project):
    rows = tweets()
    genuine = rows[10]
    rows.append({**genuine, "post_date": str(int(genuine["post_date"]) - 86400), "body": "impostor $AAA"})
    write_tweets(project.tweets_dir, rows)
    result = project.run(["raw_tweets"])
    assert result.success
    assert rejected_total(result, "raw_tweets") == 1
    stored = project.load("raw_tweets")
    assert "impostor $AAA" not in set(stored["text"]) and genuine["body"] in set(stored["text"])
    record("duplicate tweet id with an earlier post_date", "counted")


PRICE_FAULTS = {"2024-01-09": "inf", "2024-01-10": "1e30", "2024-01-11": "nan", "2024-01-12": "-3"}


def test_bad_price_values_are_counted(project):
    rows = [{**r, "Close": PRICE_FAULTS.get(r["Date"], r["Close"])} for r in bars()]
    write_prices(project.prices_dir, {"AAA": rows})
    result = project.run(["raw_prices"])
    assert result.success, step_error(result)
    for day, value in PRICE_FAULTS.items():
        assert project.metadata(result, "raw_prices", date.fromisoformat(day))["rows_rejected"] == 1
        record(f"price Close = {value}", "counted")


# --- refused: a run that would replace stored rows with fewer -----------------------------------------------

def test_a_header_only_prices_file_is_refused_and_allow_shrink_overrides(project):
    assert project.run(["raw_prices", "price_features"]).success
    before = project.stored_tree()
    write_prices(project.prices_dir, {"AAA": []})
    result = project.run(["raw_prices", "price_features"])
    error = step_error(result)
    assert not result.success and str(project.prices_dir / "AAA.csv") in error
    assert "AAA 2024-01-02: 1 -> 0" in error and "allow_shrink" in error
    assert project.stored_tree() == before
    record("header-only prices file over stored bars", "refused")
    forced = project.run(["raw_prices"], config={"raw_prices": {"allow_shrink": True}})
    assert forced.success and project.metadata(forced, "raw_prices", date(2024, 1, 2))["rows"] == 0


def test_a_prices_file_cut_mid_row_is_refused(project):
    assert project.run(["raw_prices"]).success
    before = project.stored_tree()
    cut_mid_row(project.prices_dir / "AAA.csv", 0.8)
    result = project.run(["raw_prices"])
    assert not result.success and "AAA.csv: the file ends inside line" in step_error(result)
    assert project.stored_tree() == before
    record("prices file cut mid-row", "refused")
    # Cut exactly at a line end, the file reads as complete; the guard refuses the emptied partitions.
    data = (project.prices_dir / "AAA.csv").read_bytes()
    (project.prices_dir / "AAA.csv").write_bytes(data[:data.rindex(b"\n", 0, int(len(data) * 0.8)) + 1])
    yahoo_csv._CACHE.clear()
    result = project.run(["raw_prices"])
    assert not result.success and "would replace" in step_error(result)
    assert project.stored_tree() == before


def test_a_tweet_file_cut_mid_row_is_refused(project):
    assert project.run(["raw_tweets"]).success
    before = project.stored_tree()
    cut_mid_row(project.tweets_dir / "Tweet.csv", 0.5)
    result = project.run(["raw_tweets"])
    error = step_error(result)
    assert not result.success and str(project.tweets_dir / "Tweet.csv") in error and "without a final newline" in error
    assert project.stored_tree() == before
    record("Tweet.csv cut mid-row", "refused")


def test_a_ticker_with_prices_but_no_tweets_is_refused(project):
    result = project.run(["raw_tweets"], ticker="BBB")
    error = step_error(result)
    assert not result.success and "holds no rows for BBB" in error and str(project.tweets_dir / "Tweet.csv") in error
    assert not project.instance.get_materialized_partitions(AssetKey("raw_tweets"))
    record("ticker with prices but no tweets", "refused")


# --- flagged: a missing bar is said in the data -----------------------------------------------------------

def test_a_missing_bar_is_listed_and_flagged_in_the_features(project):
    rows = [r for r in bars() if r["Date"] != "2024-01-17"]
    write_prices(project.prices_dir, {"AAA": rows})
    result = project.run(["raw_prices", "price_features"])
    assert result.success
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "every_trading_day_has_a_bar")
    assert not check.passed and check.metadata["missing_days"].value == ["AAA 2024-01-17"]
    features = project.load("price_features")
    features = features.set_index(features["date"].dt.date)
    assert features.loc[date(2024, 1, 18), "missing_bars"] == 1
    assert not features.loc[date(2024, 1, 18), "history_complete"]
    assert pd.isna(features.loc[date(2024, 1, 16), "target_return"])  # no next-day target across the gap
    record("dropped price bar (no ret_1d across the gap)", "flagged")


def test_a_listing_inside_the_range_is_not_a_gap_but_a_later_gap_is(project):
    rows = [r for r in bars() if "2024-01-10" <= r["Date"] != "2024-01-24"]  # listed on the 10th; no bar on the 24th
    write_prices(project.prices_dir, {"AAA": rows})
    result = project.run(["raw_prices"])
    assert result.success
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "every_trading_day_has_a_bar")
    assert not check.passed and check.metadata["missing_days"].value == ["AAA 2024-01-24"]
    assert check.metadata["before_first_bar_count"].value == 6  # Jan 2, 3, 4, 5, 8, 9
    assert check.metadata["first_bar"].value == {"AAA": "2024-01-10"}
    record("ticker listed inside the range (days before its first bar)", "counted")


# --- clean errors -----------------------------------------------------------------------------------------

def test_the_cli_summary_names_the_root_cause_once(project):
    (project.prices_dir / "AAA.csv").write_text("Date,Open,High\n2024-01-02,1,2\n")
    yahoo_csv._CACHE.clear()
    summary = materialize_stages(project.settings, project.instance, jobs=["data_assets_job"],
                                 resources=project.resources)
    failure = summary["failure"]
    assert "SourceFileError" in failure and "missing required column" in failure and "AAA.csv" in failure
    assert "Error occurred while executing" not in failure and failure.count("missing required column") == 1
    record("prices file missing a column (CLI summary)", "clean error")


# --- model files ------------------------------------------------------------------------------------------

def test_a_changed_bundle_file_is_refused_at_service_start(tmp_path):
    from finpulse_assets.models.integrity import ModelIntegrityError, file_hashes
    from finpulse_assets.serving.bundle import read_forecaster, stage_forecaster

    export = tmp_path / "lstm_onnx"
    (export / "pooled").mkdir(parents=True)
    (export / "pooled" / "config.json").write_text(json.dumps({"format_version": 1}))
    (export / "pooled" / "model.onnx").write_bytes(bytes(range(256)) * 4)
    lstm_onnx = {"model_dir": str(export), "version": "lstm-x", "mode": "pooled", "window": 5,
                 "feature_columns": ["a"], "sha256": file_hashes(export),
                 "models": {"*": {"dir": str(export / "pooled"), "onnx_file": "model.onnx", "variant": "fp32"}},
                 "parity": {"passed": True}, "registry": {"status": "champion"}}
    stage_forecaster(lstm_onnx, ["AAA"], tmp_path / "bundle")
    assert read_forecaster(tmp_path / "bundle")["version"] == "lstm-x"
    onnx = tmp_path / "bundle" / "pooled" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[100] ^= 0x04
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.onnx has sha256 [0-9a-f]{64}, but [0-9a-f]{64}"):
        read_forecaster(tmp_path / "bundle")
    record("one flipped bit in a served ONNX file (bundle; predictions: test_model_assets)", "refused")


# --- operations -------------------------------------------------------------------------------------------

def test_a_stale_tmp_dir_of_a_killed_writer_is_removed_at_the_next_write(tmp_path):
    from finpulse_assets.models.store import staged_dir

    final = tmp_path / "models" / "lstm" / "v1"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = final.with_name(f".v1.{int(dead.stdout)}-deadbeef.tmp")
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_bytes(b"half")
    legacy = final.with_name(".v1.0123abcd.tmp")  # an older name without a process id, hours old
    legacy.mkdir()
    os.utime(legacy, (time.time() - 7200, time.time() - 7200))
    with staged_dir(final) as out:
        (out / "model.onnx").write_bytes(b"whole")
    assert sorted(p.name for p in final.parent.iterdir()) == ["v1"]
    record("stale .tmp left by a killed writer", "cleaned up")


KILLED_RUN = textwrap.dedent("""
    import time
    from dagster import DagsterInstance, asset, materialize
    @asset
    def slow():
        time.sleep(120)
    with DagsterInstance.get() as instance:
        materialize([slow], instance=instance, tags={"dagster/max_runtime": "3"})
""")


def test_a_killed_run_is_marked_failed_by_run_monitoring(tmp_path):
    """The instance config `make` writes, a run worker SIGKILLed mid-run, one pass of the daemon's monitor."""
    import logging

    # The daemon's per-run monitoring step (private): starting the daemon itself would need a workspace server.
    from finpulse_assets.dagster_private import monitor_started_run
    from dagster import DagsterRunStatus, RunsFilter

    home = tmp_path / "dagster_home"
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("FINPULSE_PG_URL", None)
    made = subprocess.run([sys.executable, "-m", "finpulse_assets.storage.instance", "prepare"],
                          capture_output=True, text=True, env=env)
    assert made.returncode == 0, made.stderr
    worker = subprocess.Popen([sys.executable, "-c", KILLED_RUN], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 7200
        deadline = time.time() + 60
        while time.time() < deadline and not instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            time.sleep(0.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        (record_,) = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        time.sleep(3.5)
        monitor_started_run(instance, None, record_, logging.getLogger("test"))
        assert instance.get_run_by_id(record_.dagster_run.run_id).status == DagsterRunStatus.FAILURE
    record("run worker killed mid-run (stays STARTED today)", "cleaned up")


def test_zz_matrix_summary():
    """Prints the matrix (pytest -s shows it); every class is one of the four."""
    counts = pd.Series([o for _, o in MATRIX]).value_counts().to_dict() if MATRIX else {}
    for case, outcome in MATRIX:
        print(f"| {case} | {outcome} |")
    print(counts)
    assert set(counts) <= OUTCOMES
