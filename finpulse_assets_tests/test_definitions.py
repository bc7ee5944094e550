"""The Definitions object loads, with the demo sources by default and the file sources by configuration."""

import pytest

from finpulse_assets.definitions import DATA_ASSETS_JOB, JOB_ORDER, build_definitions, defs
from finpulse_assets.settings import Settings

DATA_ASSETS = {"raw_tweets", "vader_labels", "raw_prices", "price_features"}
MODEL_ASSETS = {"finbert_model", "finbert_onnx", "finbert_sentiment", "sentiment_features", "training_set",
                "lstm_model", "lstm_onnx", "predictions"}
MONITORING_ASSETS = {"drift_report", "prediction_errors"}
SERVING_ASSETS = {"bento"}
EVALUATION_ASSETS = {"evaluation"}
TEXT_ASSETS = {"embedding_onnx", "tweet_embeddings", "tweet_embedding_features"}
SENSORS = {"new_data_sensor", "drift_retrain_sensor", "packaging_sensor", "storage_reconciliation"}


def test_definitions_load_with_demo_sources():
    graph = defs.resolve_asset_graph()
    assert DATA_ASSETS | MODEL_ASSETS | MONITORING_ASSETS | SERVING_ASSETS | EVALUATION_ASSETS | TEXT_ASSETS == \
        {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert defs.resolve_job_def(DATA_ASSETS_JOB) and all(defs.resolve_job_def(job) for job in JOB_ORDER)
    assert {check.name for check in graph.asset_check_keys} == {"schema_valid", "onnx_parity", "every_trading_day_has_a_bar",
                                                                  "daily_moves_are_plausible"}
    assert {key.asset_key.to_user_string() for key in graph.asset_check_keys if key.name == "onnx_parity"} == \
        {"finbert_onnx", "lstm_onnx", "embedding_onnx"}
    assert {"mlflow", "model_store"} <= set(defs.resources)
    assert SENSORS == {sensor.name for sensor in defs.sensors}


def test_file_sources_are_chosen_by_configuration(tmp_path):
    settings = Settings(tweet_source="kaggle_csv", tweets_dir=str(tmp_path), price_source="yahoo_csv",
                        prices_dir=str(tmp_path))
    resources = build_definitions(settings).resources
    assert type(resources["tweet_source"]).__name__ == "KaggleCsvTweetSource"
    assert type(resources["price_source"]).__name__ == "YahooCsvPriceSource"


def test_unknown_source_names_the_variable():
    with pytest.raises(ValueError, match="FINPULSE_PRICE_SOURCE='bloomberg'"):
        build_definitions(Settings(price_source="bloomberg"))


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("FINPULSE_DATA", "/data/stocknet")
    monkeypatch.setenv("FINPULSE_TICKERS", "aapl, msft")
    settings = Settings.from_env()
    assert settings.tweet_source == "kaggle_csv" and settings.prices_dir == "/data/stocknet/prices"
    assert settings.tickers == ("AAPL", "MSFT")
