"""The data stage's frames computed in one process (evaluation/dataset_frames.py) against the same assets
materialized through Dagster, and their store keyed by a content hash of the dataset's files."""
# ruff: noqa: F811 (the `project` fixture is imported from test_fault_matrix and named by the tests)

from dataclasses import replace
from datetime import timedelta

import pandas as pd

from finpulse_assets.evaluation import dataset_frames as module
from finpulse_assets.evaluation.dataset_frames import FRAMES, dataset_frames, frames_key, stored_dataset_frames
from finpulse_assets.settings import Settings
from finpulse_assets_tests.test_fault_matrix import (  # noqa: F401 (project is a fixture)
    FIRST, LAST, bars, project, step_error, write_prices,
)

KEYS = {"raw_tweets": ["ticker", "tweet_id"], "vader_labels": ["ticker", "tweet_id"], "price_features": ["ticker", "date"]}


def _settings(project) -> Settings:
    return Settings(tweet_source="kaggle_csv", price_source="yahoo_csv", tweets_dir=str(project.tweets_dir),
                    prices_dir=str(project.prices_dir), tickers=("AAA",), start=str(FIRST),
                    end=str(LAST + timedelta(days=1)), storage_dir=str(project.storage))


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.sort_values(KEYS[name]).reset_index(drop=True)


def test_the_frames_are_the_assets_dagster_materializes(project):
    result = project.run(["raw_tweets", "vader_labels", "raw_prices", "price_features"])
    assert result.success, step_error(result)
    direct = dataset_frames(_settings(project))
    for name in FRAMES:
        materialized = project.load(name)
        assert len(materialized) > 0 and sorted(direct[name].columns) == sorted(materialized.columns), name
        pd.testing.assert_frame_equal(_sorted(direct[name], name), _sorted(materialized[direct[name].columns], name),
                                      check_dtype=False, obj=name)


def test_stored_frames_are_read_back_until_an_input_file_changes(project, tmp_path, monkeypatch):
    settings = _settings(project)
    first, reused = stored_dataset_frames(settings, tmp_path)
    assert not reused
    calls = []
    monkeypatch.setattr(module, "dataset_frames", lambda s: calls.append(s) or dataset_frames(s))
    again, reused = stored_dataset_frames(settings, tmp_path)
    assert reused and calls == []
    for name in FRAMES:
        pd.testing.assert_frame_equal(again[name], first[name], check_dtype=False, obj=name)
    key = frames_key(settings)
    assert frames_key(replace(settings, tickers=("AAA", "BBB"))) != key
    assert frames_key(replace(settings, end="2024-01-20")) != key
    rows = bars("AAA")
    rows[-3] = {**rows[-3], "Close": "77.00", "Adj Close": "76.2300"}
    write_prices(project.prices_dir, {"AAA": rows})
    assert frames_key(settings) != key
    changed, reused = stored_dataset_frames(settings, tmp_path)
    assert not reused and len(calls) == 1
    assert not changed["price_features"].equals(first["price_features"])
