"""`make evaluate`: tickers come from the dataset, the days cover the protocol plus price history, bad folders are named."""

import pytest

from finpulse_assets.definitions import EVALUATION_JOB, JOB_ORDER, build_definitions
from finpulse_assets.evaluation.cli import dataset_tickers, evaluation_settings
from finpulse_assets.evaluation.protocol import Protocol


def _dataset(tmp_path, tickers=("msft", "AAPL")):
    (tmp_path / "tweets").mkdir()
    (tmp_path / "prices").mkdir()
    for t in tickers:
        (tmp_path / "prices" / f"{t}.csv").write_text("Date,Open,High,Low,Close,Adj Close,Volume\n")
    return tmp_path


def test_tickers_are_the_price_files_and_days_start_before_the_train_split(tmp_path):
    data = _dataset(tmp_path)
    assert dataset_tickers(data) == ["AAPL", "MSFT"]
    settings = evaluation_settings(data, ["AAPL"], tmp_path / "store", Protocol())
    assert settings.start == "2013-11-17" and settings.end == "2016-01-01"
    assert settings.tweet_source == "kaggle_csv" and settings.price_source == "yahoo_csv"


def test_a_folder_without_the_layout_is_named(tmp_path):
    with pytest.raises(SystemExit, match="prices"):
        dataset_tickers(tmp_path)
    (tmp_path / "prices").mkdir()
    with pytest.raises(SystemExit, match="tweets"):
        evaluation_settings(tmp_path, ["AAPL"], tmp_path / "store", Protocol())


def test_evaluation_job_is_defined_but_not_part_of_make_demo():
    assert EVALUATION_JOB not in JOB_ORDER
    job = build_definitions().resolve_job_def(EVALUATION_JOB)
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"evaluation"}


def test_make_ui_evaluation_reads_the_evaluations_settings_and_instance(tmp_path):
    from finpulse_assets.evaluation.cli import write_ui_env

    settings = evaluation_settings(_dataset(tmp_path), ["AAPL"], tmp_path / "store", Protocol())
    lines = dict(line.split("=", 1) for line in write_ui_env(tmp_path / "store", settings).read_text().splitlines())
    assert lines["DAGSTER_HOME"] == str(tmp_path / "store" / "dagster_home")
    assert lines["FINPULSE_TICKERS"] == "AAPL" and lines["FINPULSE_START"] == settings.start
    assert lines["FINPULSE_PRICES_DIR"] == settings.prices_dir and lines["FINPULSE_TWEET_SOURCE"] == "kaggle_csv"


def test_a_negative_search_budget_is_refused_before_anything_runs(tmp_path, capsys):
    from finpulse_assets.evaluation.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path), "--n-trials", "-1"])
    assert exit_info.value.code == 2 and "--n-trials, --seeds" in capsys.readouterr().err
    assert not (tmp_path / "storage").exists()
