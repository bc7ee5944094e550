"""The model half of the graph, materialized end to end with tiny models into a temp dir.

One module fixture runs what `make demo` runs (cli.materialize: data assets per
ticker, finbert_model + finbert_onnx, sentiment per ticker, training_set +
lstm_model + lstm_onnx, predictions per ticker, monitoring, the bento) for 2 tickers x 4 months of the
project's generated market, with a 2-layer BERT built locally and a small LSTM.
The tests then look at what each asset stored, recorded and logged to MLflow.
"""

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from finpulse_assets.runs.cli import materialize as materialize_stages, register_tickers
from finpulse_assets.definitions import build_definitions
from finpulse_assets.features.training_set import MODEL_FEATURE_COLUMNS
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.features.market_calendar import is_trading_day, next_trading_day, trading_days
from finpulse_assets.models.mlflow_tracking import CHAMPION_ALIAS, MlflowTracking
from finpulse_assets.partitions import range_tags
from finpulse_assets.sentiment.daily import NEUTRAL_VALUES, SENTIMENT_FEATURE_COLUMNS
from finpulse_assets.settings import Settings
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource
from finpulse_assets_tests.fakes import FakePriceSource, FakeTweetSource
from finpulse_assets_tests.stored import stored_partition, stored_ticker
from finpulse_assets_tests.serving_support import bentoml_home
from finpulse_assets_tests.test_finbert_support import build_tiny_model

TICKERS = ("AAA", "BBB")
START, END = "2024-01-01", "2024-05-01"
DAYS = (pd.Timestamp(END) - pd.Timestamp(START)).days
# The generated market with a strong sentiment lead and few tweets: fast, and the signal is learnable.
DEMO = dict(seed=3, tickers=list(TICKERS), start=START, end=END, tweets_per_day=6.0, sentiment_lead=0.9)
LSTM_CONFIG = {"window": 5, "hidden_size": 16, "epochs": 20, "patience": 5, "lr": 3e-3, "batch_size": 32}


def finbert_config(base_model) -> dict:
    return {"base_model": str(base_model), "epochs": 10, "lr": 1e-3, "max_train_tweets": None, "max_val_tweets": None,
            "torch_threads": 1}


class Chain:
    def __init__(self, root: Path, instance: DagsterInstance):
        self.root = root
        self.instance = instance
        self.tiny = build_tiny_model(root / "tiny")
        self.storage = root / "storage"
        self.settings = Settings(tickers=TICKERS, start=START, end=END, storage_dir=str(self.storage))
        self.resources = {"tweet_source": DemoTweetSource(**DEMO), "price_source": DemoPriceSource(**DEMO)}
        # One thread: a test machine is often busy, and spin-waiting torch/ORT threads then cost 10x.
        self.run_config = {"finbert_model": finbert_config(self.tiny), "finbert_onnx": {"torch_threads": 1},
                           "finbert_sentiment": {"intra_op_num_threads": 1}, "lstm_model": LSTM_CONFIG}
        self.defs = build_definitions(self.settings, self.resources)

    def run_all(self) -> dict:
        return materialize_stages(self.settings, self.instance, run_config=self.run_config, resources=self.resources)

    def asset_dir(self, name: str) -> Path:
        return self.storage / "assets" / name

    def stored(self, name: str):
        js = self.asset_dir(name).with_suffix(".json")
        if js.exists():
            return json.loads(js.read_text())
        return pd.read_parquet(self.asset_dir(name).with_suffix(".parquet"))

    def partitions(self, name: str, ticker: str) -> pd.DataFrame:
        return stored_ticker(self.storage / "assets", name, ticker).drop(columns=["day"])

    def metadata(self, name: str) -> dict:
        event = self.instance.get_latest_materialization_event(AssetKey(name))
        return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}

    def materialize(self, names, run_config=None, resources=None, raise_on_error=True, io_dir=None, ticker=None,
                    days=None, instance=None):
        """Materialize `names` (others are read from storage); io_dir: another IO manager folder (with
        `instance`, the one that records it); ticker + days: a partition range (first, last) for ticker x day assets."""
        resources = dict(self.defs.resources) | (resources or {})
        if io_dir is not None:
            resources["io_manager"] = PartitionedDeltaIOManager(base_dir=str(io_dir))
        tags = {}
        if ticker is not None:
            tags = range_tags(ticker, days[0], days[1])
        ops = {k: {"config": v} for k, v in (run_config or {}).items() if k in names}
        return materialize(list(self.defs.assets), selection=list(names), instance=instance or self.instance,
                           raise_on_error=raise_on_error, resources=resources, tags=tags, run_config={"ops": ops})

    def mlflow(self) -> MlflowTracking:
        return self.defs.resources["mlflow"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("chain")
    # The bento stage writes BentoML's stores: a temp home, never the demo's storage/bentoml.
    with DagsterInstance.ephemeral() as instance, bentoml_home(root / "bentoml"):
        chain = Chain(root, instance)
        chain.summary = chain.run_all()
        yield chain


def test_make_demo_stages_materialize_every_asset_and_every_check_passes(chain):
    summary = chain.summary
    assert summary["failure"] is None and summary["failed_checks"] == []
    for name in ("raw_tweets", "vader_labels", "raw_prices", "price_features", "finbert_sentiment",
                 "sentiment_features", "predictions"):
        assert summary["assets"][name]["partitions"] == len(TICKERS) * DAYS, name
    assert set(summary["models"]) == {"finbert_model", "finbert_onnx", "training_set", "lstm_model", "lstm_onnx",
                                      "bento"}
    blocking = {(c["asset"], c["check"]) for c in summary["checks"]}
    assert {("finbert_onnx", "onnx_parity"), ("lstm_onnx", "onnx_parity"), ("training_set", "schema_valid"),
            ("predictions", "schema_valid"), ("sentiment_features", "schema_valid")} <= blocking


def test_finbert_model_is_stored_as_safetensors_with_metrics_vs_vader(chain):
    value, meta = chain.stored("finbert_model"), chain.metadata("finbert_model")
    model_dir = Path(value["model_dir"])
    assert model_dir.parent == chain.storage.resolve() / "models" / "finbert"
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    assert not [p for p in model_dir.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    config = json.loads((model_dir / "config.json").read_text())
    assert set(config["id2label"].values()) == {"positive", "negative", "neutral"}
    assert 0 <= meta["accuracy_vs_vader"] <= 1 and 0 <= meta["macro_f1_vs_vader"] <= 1
    assert meta["accuracy_vs_vader"] > 0.6  # the tiny model learns the tweets' sentiment words
    assert "vader_positive" in meta["confusion_matrix"] and "model_negative" in meta["confusion_matrix"]
    assert meta["last_train_day"] < meta["first_val_day"]  # held out by time, later days only
    assert meta["mlflow_run_id"] == value["mlflow_run_id"]
    validation = pd.read_parquet(model_dir / value["validation_file"])
    assert (validation["trading_day"] >= pd.Timestamp(meta["first_val_day"])).all()


def test_finbert_onnx_passes_its_blocking_parity_check(chain):
    value, meta = chain.stored("finbert_onnx"), chain.metadata("finbert_onnx")
    (check,) = [c for c in chain.summary["checks"] if c["asset"] == "finbert_onnx"]
    assert check["passed"] and check["metadata"]["label_agreement"] >= 0.99
    assert value["parity"]["passed"] and meta["label_agreement_int8_vs_torch"] >= 0.99
    assert 0 <= meta["max_prob_diff_int8_vs_torch"] < 0.5
    onnx_dir = Path(value["onnx_dir"])
    files = {p.name for p in onnx_dir.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json", "sentiment_onnx.json"} <= files
    assert (onnx_dir / "model.int8.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size
    assert "int8" in meta["variants"] and "fp32" in meta["variants"]


def test_finbert_sentiment_scores_every_tweet_of_the_day(chain):
    for ticker in TICKERS:
        scored, tweets = chain.partitions("finbert_sentiment", ticker), chain.partitions("raw_tweets", ticker)
        assert sorted(scored["tweet_id"]) == sorted(tweets["tweet_id"])
        probs = scored[["p_positive", "p_negative", "p_neutral"]].to_numpy()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        assert (scored["label"] == np.array(["positive", "negative", "neutral"])[probs.argmax(axis=1)]).all()
        assert (scored["model_version"] == chain.stored("finbert_onnx")["version"]).all()


def test_sentiment_features_have_a_row_per_trading_day_and_empty_closed_days(chain):
    for ticker in TICKERS:
        features = chain.partitions("sentiment_features", ticker)
        open_days = trading_days(date(2024, 1, 1), date(2024, 4, 30))
        assert list(pd.to_datetime(features["trading_day"])) == list(open_days)
        assert not features[SENTIMENT_FEATURE_COLUMNS].isna().any().any()
        scored = chain.partitions("finbert_sentiment", ticker)
        day = scored["trading_day"].iloc[0]
        mine = scored[scored["trading_day"] == day]
        row = features[features["trading_day"] == day].iloc[0]
        assert row["tweet_count"] == len(mine)
        assert row["sentiment_mean"] == pytest.approx((mine["p_positive"] - mine["p_negative"]).mean())
    assert stored_partition(chain.storage / "assets", "sentiment_features", "AAA", "2024-01-06").empty


def test_a_trading_day_without_tweets_gets_neutral_features_not_nan(chain, tmp_path):
    """Tweets of one trading day removed at the source: its features are the neutral values with count 0."""
    quiet = date(2024, 1, 10)
    raw = DemoTweetSource(**DEMO).load_tweets(["AAA"], pd.Timestamp("2023-12-29", tz="UTC"),
                                              pd.Timestamp("2024-01-20", tz="UTC"))
    posted = pd.to_datetime(pd.to_numeric(raw["post_date"]), unit="s", utc=True).dt.tz_convert("America/New_York")
    # The posting window of Wednesday 10 Jan: after Tuesday's 16:00 close, up to Wednesday's.
    window = (posted > pd.Timestamp("2024-01-09 16:00", tz="America/New_York")) & \
             (posted <= pd.Timestamp("2024-01-10 16:00", tz="America/New_York"))
    io_dir = tmp_path / "assets"
    io_dir.mkdir()
    shutil.copy(chain.asset_dir("finbert_onnx").with_suffix(".json"), io_dir / "finbert_onnx.json")
    # The instance holds the chain's tweets of that day: emptying it is a deliberate shrink.
    result = chain.materialize(["raw_tweets", "finbert_sentiment", "sentiment_features"], io_dir=io_dir,
                               resources={"tweet_source": FakeTweetSource(rows=raw[~window].to_dict("records"))},
                               run_config={"raw_tweets": {"allow_shrink": True}},
                               ticker="AAA", days=(date(2024, 1, 8), date(2024, 1, 14)))
    assert result.success
    row = stored_partition(io_dir, "sentiment_features", "AAA", quiet)
    assert len(row) == 1
    assert row.iloc[0][SENTIMENT_FEATURE_COLUMNS].to_dict() == NEUTRAL_VALUES
    assert stored_partition(io_dir, "sentiment_features", "AAA", "2024-01-11")["tweet_count"].item() > 0
    assert stored_partition(io_dir, "sentiment_features", "AAA", "2024-01-13").empty  # Saturday


def test_training_set_joins_price_and_sentiment_features_per_trading_day(chain):
    frame, meta = chain.stored("training_set"), chain.metadata("training_set")
    assert not frame.duplicated(["ticker", "date"]).any() and set(frame["ticker"]) == set(TICKERS)
    assert set(MODEL_FEATURE_COLUMNS + ["target_log_return", "target_close", "target_date"]) <= set(frame.columns)
    assert not frame[SENTIMENT_FEATURE_COLUMNS].isna().any().any()
    assert meta["rows"] == len(frame) == sum(len(chain.partitions("price_features", t)) for t in TICKERS)
    assert frame["date"].map(lambda d: is_trading_day(d.date())).all()


def test_lstm_model_reports_test_metrics_next_to_baselines_with_a_plot(chain):
    value, meta = chain.stored("lstm_model"), chain.metadata("lstm_model")
    table = meta["test_metrics"]
    for model in ("lstm", "lstm_no_sentiment", "random_walk", "moving_average"):
        assert f"| {model} |" in table
    for metric in ("mae", "rmse", "mape", "directional_accuracy", "mcc"):
        assert metric in table and metric in value["test_metrics"]["lstm"]
    assert meta["forecast_plot"].startswith("![forecast vs actual](data:image/png;base64,")
    model_dir = Path(value["model_dir"])
    assert (model_dir / "forecast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert value["mode"] in ("pooled", "per_ticker") and meta["pooling"] == value["mode"]
    assert "validation MAE" in meta["pooling_reason"] and "per-ticker MAE" in meta["pooling_validation_mae"]
    manifest = json.loads((model_dir / "manifest.json").read_text())
    for sub in manifest["models"].values():
        assert {"model.safetensors", "config.json"} <= {p.name for p in (model_dir / sub).iterdir()}
    assert not [p for p in model_dir.rglob("*") if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    split = value["split"]
    train, val, test = split["train"], split["val"], split["test"]
    assert train["last_day"] < val["first_day"] <= val["last_day"] < test["first_day"]


def test_lstm_onnx_keeps_a_variant_that_passes_its_blocking_parity_check(chain):
    value, meta = chain.stored("lstm_onnx"), chain.metadata("lstm_onnx")
    (check,) = [c for c in chain.summary["checks"] if c["asset"] == "lstm_onnx"]
    assert check["passed"] and check["metadata"]["max_abs_diff"] <= check["metadata"]["tolerance"]
    for spec in value["models"].values():
        assert spec["variant"] in ("fp32", "int8") and (Path(spec["dir"]) / spec["onnx_file"]).is_file()
        if spec["variant"] == "fp32":
            assert value["parity"]["max_abs_diff"] <= 1e-4
    assert "| fp32 |" in meta["variants"] and "| int8 |" in meta["variants"]


def test_predictions_are_next_day_forecasts_from_the_onnx_model(chain):
    lstm_onnx = chain.stored("lstm_onnx")
    for ticker in TICKERS:
        preds, features = chain.partitions("predictions", ticker), chain.partitions("price_features", ticker)
        assert len(preds) > 0 and set(preds["date"]) <= set(features["date"])
        assert (preds["target_date"] == preds["date"].map(lambda d: pd.Timestamp(next_trading_day(d.date())))).all()
        np.testing.assert_allclose(preds["predicted_close"], preds["close"] * np.exp(preds["predicted_log_return"]))
        assert preds["model_version"].str.startswith(lstm_onnx["version"]).all()
        # Every trading day with a full window of complete features has a forecast, the last day included.
        assert preds["date"].max() == pd.Timestamp("2024-04-30")


def test_predictions_match_the_torch_model_on_the_same_windows(chain):
    from finpulse_assets.assets.predictions import forecast_frame
    from finpulse_assets.models.lstm.dataset import build_windows
    from finpulse_assets.models.lstm.model import load_model, predict

    lstm_onnx, frame = chain.stored("lstm_onnx"), chain.stored("training_set")
    forecasts = forecast_frame(frame, lstm_onnx)
    for key, spec in lstm_onnx["models"].items():
        rows = frame if key == "*" else frame[frame["ticker"] == key]
        windows = build_windows(rows, lstm_onnx["feature_columns"], lstm_onnx["window"], target=None)
        torch_pred = predict(load_model(spec["dir"]), windows.X)
        mine = forecasts if key == "*" else forecasts[forecasts["ticker"] == key]
        np.testing.assert_allclose(mine["predicted_log_return"].to_numpy(), torch_pred, atol=5e-4)


def test_training_runs_are_logged_to_mlflow_and_champions_get_the_alias(chain):
    client = chain.mlflow().client()
    assert chain.mlflow().resolved_tracking_uri() == f"sqlite:///{chain.storage.resolve()}/mlflow/mlflow.db"
    lstm_model, lstm_onnx = chain.stored("lstm_model"), chain.stored("lstm_onnx")
    run = client.get_run(lstm_model["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["window"] == "5"
    assert run.data.metrics["test_lstm_mae"] == pytest.approx(lstm_model["test_metrics"]["lstm"]["mae"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model", "plots", "test_metrics.md"} <= artifacts
    onnx_run = client.get_run(lstm_onnx["mlflow_run_id"])
    assert onnx_run.data.tags["mlflow.parentRunId"] == run.info.run_id
    # The UI links each model asset to its run in `make mlflow`.
    assert chain.metadata("lstm_model")["mlflow_run"] == (
        f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")
    assert chain.metadata("lstm_onnx")["mlflow_run"].endswith(f"/runs/{onnx_run.info.run_id}")
    assert str(Path(chain.storage.resolve(), "mlflow", "artifacts")) in run.info.artifact_uri

    for name, value, upstream in (("finpulse-lstm", lstm_onnx, lstm_model),
                                  ("finpulse-finbert", chain.stored("finbert_onnx"), chain.stored("finbert_model"))):
        registry = value["registry"]
        if registry["status"] == CHAMPION_ALIAS:
            version = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
            assert str(version.version) == registry["version"] and version.run_id == value["mlflow_run_id"]
            assert version.tags["model_version"] == upstream["version"]
        else:
            assert registry["status"] == "candidate" and registry["reason"]
    # The demo market has a strong sentiment lead: the LSTM beats the random walk on validation.
    assert lstm_model["beats_random_walk_on_val"] and lstm_onnx["registry"]["status"] == CHAMPION_ALIAS
    files = Path(client.get_model_version_by_alias("finpulse-lstm", CHAMPION_ALIAS).source.removeprefix("file://"))
    assert (files / "manifest.json").is_file() and list(files.rglob("model.onnx"))


def test_same_data_and_config_give_the_same_metrics(chain):
    first_finbert, first_lstm = chain.stored("finbert_model"), chain.stored("lstm_model")
    result = chain.materialize(["finbert_model", "lstm_model"], run_config=chain.run_config)
    assert result.success
    again_finbert, again_lstm = chain.stored("finbert_model"), chain.stored("lstm_model")
    assert again_finbert["version"] == first_finbert["version"]
    assert again_finbert["val_accuracy"] == first_finbert["val_accuracy"]
    assert again_finbert["val_macro_f1"] == first_finbert["val_macro_f1"]
    assert again_lstm["version"] == first_lstm["version"] and again_lstm["mode"] == first_lstm["mode"]
    assert again_lstm["test_metrics"] == first_lstm["test_metrics"]
    assert again_lstm["val_metrics"] == first_lstm["val_metrics"]
    assert again_lstm["mlflow_run_id"] != first_lstm["mlflow_run_id"]  # a new MLflow run each time


def test_a_wrong_base_model_path_fails_with_an_error_naming_it(chain, tmp_path):
    missing = tmp_path / "no-such-finbert"
    result = chain.materialize(["finbert_model"], run_config={"finbert_model": finbert_config(missing)},
                               raise_on_error=False)
    assert not result.success
    assert str(missing) in _step_error(result)

    corrupt = tmp_path / "corrupt"
    shutil.copytree(chain.tiny, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    result = chain.materialize(["finbert_model"], run_config={"finbert_model": finbert_config(corrupt)},
                               raise_on_error=False)
    assert not result.success
    assert "corrupt checkpoint" in _step_error(result) and str(weights) in _step_error(result)


def test_a_model_that_failed_parity_is_never_served(chain, tmp_path):
    failed = chain.stored("lstm_onnx") | {"parity": {"passed": False, "max_abs_diff": 0.1, "tolerance": 1e-4}}
    io_dir = tmp_path / "assets"
    shutil.copytree(chain.storage / "assets", io_dir)
    (io_dir / "lstm_onnx.json").write_text(json.dumps(failed))
    result = chain.materialize(["predictions"], io_dir=io_dir, raise_on_error=False, ticker="AAA",
                               days=(date(2024, 4, 1), date(2024, 4, 5)))
    assert not result.success and "failed its ONNX parity check" in _step_error(result)


def _flip_one_bit(path: Path, offset_fraction: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * offset_fraction)] ^= 0x01
    path.write_bytes(bytes(data))


def test_every_model_file_has_its_sha256_in_metadata_and_mlflow(chain):
    from finpulse_assets.models.integrity import file_hashes

    client = chain.mlflow().client()
    for name, directory_key in (("lstm_model", "model_dir"), ("lstm_onnx", "model_dir"),
                                ("finbert_model", "model_dir"), ("finbert_onnx", "onnx_dir")):
        value = chain.stored(name)
        assert value["sha256"] == file_hashes(value[directory_key]) and value["sha256"]
        assert chain.metadata(name)["file_sha256"] == value["sha256"]
        tags = client.get_run(value["mlflow_run_id"]).data.tags
        assert {k.removeprefix("sha256/"): v for k, v in tags.items() if k.startswith("sha256/")} == value["sha256"]


def _copy_model(chain, tmp_path, name: str, directory_key: str) -> tuple[dict, Path]:
    """The stored `name` value pointing at a copy of its model directory, in a copy of the asset storage."""
    value = chain.stored(name)
    source = Path(value[directory_key])
    copy = tmp_path / "models" / source.name
    shutil.copytree(source, copy)
    text = json.dumps(value).replace(json.dumps(str(source))[1:-1], json.dumps(str(copy))[1:-1])
    io_dir = tmp_path / "assets"
    shutil.copytree(chain.storage / "assets", io_dir)
    (io_dir / f"{name}.json").write_text(text)
    return json.loads(text), io_dir


def test_predictions_refuse_an_lstm_onnx_file_with_one_flipped_bit(chain, tmp_path):
    lstm_onnx, io_dir = _copy_model(chain, tmp_path, "lstm_onnx", "model_dir")
    spec = next(iter(lstm_onnx["models"].values()))
    onnx_file = Path(spec["dir"]) / spec["onnx_file"]
    _flip_one_bit(onnx_file)
    result = chain.materialize(["predictions"], io_dir=io_dir, raise_on_error=False, ticker="AAA",
                               days=(date(2024, 4, 1), date(2024, 4, 5)))
    error = _step_error(result)
    assert not result.success and str(onnx_file) in error and "refusing to load a changed model file" in error
    relative = onnx_file.relative_to(lstm_onnx["model_dir"]).as_posix()
    assert lstm_onnx["sha256"][relative] in error  # the recorded hash, next to the actual one
    assert not list((io_dir / "predictions").rglob("2024-04-0*.parquet")) or all(
        pd.read_parquet(p).equals(pd.read_parquet(chain.asset_dir("predictions") / p.relative_to(
            io_dir / "predictions"))) for p in (io_dir / "predictions").rglob("2024-04-0*.parquet"))


def test_finbert_sentiment_refuses_a_changed_int8_model(chain, tmp_path):
    finbert_onnx, io_dir = _copy_model(chain, tmp_path, "finbert_onnx", "onnx_dir")
    _flip_one_bit(Path(finbert_onnx["onnx_dir"]) / finbert_onnx["int8_file"])
    result = chain.materialize(["finbert_sentiment"], io_dir=io_dir, raise_on_error=False, ticker="AAA",
                               days=(date(2024, 4, 1), date(2024, 4, 5)))
    assert not result.success and "has sha256" in _step_error(result)


def test_packaging_refuses_a_changed_model_file(chain, tmp_path):
    from finpulse_assets.models.integrity import ModelIntegrityError
    from finpulse_assets.serving.bundle import stage_forecaster

    lstm_onnx, _ = _copy_model(chain, tmp_path, "lstm_onnx", "model_dir")
    spec = next(iter(lstm_onnx["models"].values()))
    _flip_one_bit(Path(spec["dir"]) / "config.json", 0.0)
    with pytest.raises(ModelIntegrityError, match="config.json has sha256"):
        stage_forecaster(lstm_onnx, TICKERS, tmp_path / "bundle")


def test_the_training_row_of_t_ignores_tweets_and_prices_after_t(chain, tmp_path):
    """Rebuild AAA's data with everything after t's close changed (and nothing after t + 10 days):
    the training row of t keeps every feature; only its next-day target moves."""
    t, last = date(2024, 3, 14), date(2024, 3, 24)
    close_t = pd.Timestamp("2024-03-14 16:00", tz="America/New_York")
    prices = DemoPriceSource(**DEMO).load_prices(["AAA"], date(2023, 12, 1), last).astype(object)
    later = pd.to_datetime(prices["date"]).dt.date > t
    for column in ("open", "high", "low", "close", "adj_close"):
        prices.loc[later, column] = (prices.loc[later, column].astype(float) * 3).round(2).astype(str)
    prices.loc[later, "volume"] = (prices.loc[later, "volume"].astype(float) * 7).astype(str)
    tweets = DemoTweetSource(**DEMO).load_tweets(["AAA"], pd.Timestamp("2023-12-20", tz="UTC"),
                                                 pd.Timestamp("2024-03-25", tz="UTC")).astype(object)
    after = pd.to_datetime(pd.to_numeric(tweets["post_date"]), unit="s", utc=True) > close_t
    assert after.any() and (~after).any()
    tweets.loc[after, "body"] = "$AAA terrible crash, awful lawsuit, horrible guidance"
    tweets.loc[after, "like_num"] = "999"

    io_dir = tmp_path / "assets"
    io_dir.mkdir()
    shutil.copy(chain.asset_dir("finbert_onnx").with_suffix(".json"), io_dir / "finbert_onnx.json")
    resources = {"tweet_source": FakeTweetSource(rows=tweets.to_dict("records")),
                 "price_source": FakePriceSource(rows=prices.to_dict("records"))}
    # The rebuild is a store of its own: its own instance records what it holds (the chain's instance records
    # the chain's storage, and a load checks that storage still holds what its instance recorded).
    with DagsterInstance.ephemeral() as rebuild:
        register_tickers(rebuild, ["AAA"])
        assert chain.materialize(["raw_tweets", "vader_labels", "raw_prices", "price_features", "finbert_sentiment",
                                  "sentiment_features"], resources=resources, io_dir=io_dir, ticker="AAA",
                                 days=(date(2024, 1, 1), last), instance=rebuild).success
        assert chain.materialize(["training_set"], io_dir=io_dir, instance=rebuild).success

    changed = pd.read_parquet(io_dir / "training_set.parquet")
    original = chain.stored("training_set")

    def row(frame):
        return frame[(frame["ticker"] == "AAA") & (frame["date"] == pd.Timestamp(t))].reset_index(drop=True)

    before, after_row = row(original), row(changed)
    assert len(before) == len(after_row) == 1 and before["history_complete"].item()
    features = [c for c in before.columns if not c.startswith("target_")]
    pd.testing.assert_frame_equal(before[features], after_row[features])
    # The label of t is the next day's close, which did change: the rebuild really saw the new data.
    assert after_row["target_close"].item() == pytest.approx(3 * before["target_close"].item(), rel=1e-3)
    # ... and so did the sentiment of the later days, whose tweets were all rewritten.
    keys = ["ticker", "date"]
    later_days = changed[changed["date"] > pd.Timestamp(t)].merge(original, on=keys, suffixes=("", "_original"))
    assert len(later_days) and (later_days["tweet_count"] > 0).any()
    assert (later_days["sentiment_mean"] != later_days["sentiment_mean_original"]).any()


def _step_error(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return "\n".join(str(e.event_specific_data.error) for e in failures)
