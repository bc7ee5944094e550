"""embedding_onnx, tweet_embeddings and tweet_embedding_features materialized with a tiny local encoder:
the parity gate, unit-length embeddings per tweet, daily means and counts, and no look-ahead."""


import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from finpulse_assets.assets.embeddings import COUNT_COLUMN, daily_embedding_features, embed_by_day, embedding_names
from finpulse_assets.runs.cli import materialize as materialize_stages
from finpulse_assets.definitions import TEXT_FEATURES_JOB, TEXT_MODEL_JOB
from finpulse_assets.features.market_calendar import is_trading_day
from finpulse_assets.models.embeddings.encoder import OnnxTweetEncoder
from finpulse_assets.partitions import TickerDay
from finpulse_assets.settings import Settings
from finpulse_assets.sources.demo import DemoPriceSource, DemoTweetSource
from finpulse_assets_tests.stored import stored_table
from finpulse_assets_tests.test_finbert_support import build_tiny_model

TICKERS = ("AAA", "BBB")
START, END = "2024-03-01", "2024-03-16"
DEMO = dict(seed=5, tickers=list(TICKERS), start=START, end=END, tweets_per_day=5.0)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("embeddings")
    tiny = build_tiny_model(root / "tiny")
    settings = Settings(tickers=TICKERS, start=START, end=END, storage_dir=str(root / "storage"))
    resources = {"tweet_source": DemoTweetSource(**DEMO), "price_source": DemoPriceSource(**DEMO)}
    run_config = {"embedding_onnx": {"base_model": str(tiny)}, "tweet_embeddings": {"intra_op_num_threads": 1}}
    with DagsterInstance.ephemeral() as instance:
        summary = materialize_stages(settings, instance, ["data_assets_job", TEXT_MODEL_JOB, TEXT_FEATURES_JOB],
                                     run_config=run_config, resources=resources)
    assets = root / "storage" / "assets"

    return (summary, stored_table(assets, "raw_tweets"), stored_table(assets, "tweet_embeddings"),
            stored_table(assets, "tweet_embedding_features"), assets)


def test_the_stages_materialize_and_the_parity_gate_passes(stored):
    summary, *_ = stored
    assert summary["failure"] is None and not summary["failed_checks"]
    assert summary["models"]["embedding_onnx"]["mean_cosine_int8_vs_torch"] >= 0.98


def test_every_tweet_gets_a_unit_length_embedding(stored):
    _, tweets, embedded, _, _ = stored
    names = [c for c in embedded.columns if c.startswith("emb_")]
    assert names == embedding_names(32)  # the tiny encoder's hidden size
    assert len(embedded) == len(tweets.drop_duplicates(["tweet_id", "ticker"]))
    np.testing.assert_allclose(np.linalg.norm(embedded[names].to_numpy(np.float64), axis=1), 1.0, atol=1e-3)


def test_daily_features_are_the_mean_and_count_of_the_day_and_zero_without_tweets(stored):
    _, _, embedded, daily, _ = stored
    names = embedding_names(32)
    assert daily["trading_day"].map(lambda d: is_trading_day(d.date())).all()
    per_day = embedded.groupby(["ticker", "trading_day"])
    check = daily.set_index(["ticker", "trading_day"])
    for key, rows in per_day:
        if key in check.index:
            assert check.loc[key, COUNT_COLUMN] == len(rows)
            np.testing.assert_allclose(check.loc[key, names].to_numpy(np.float64),
                                       rows[names].to_numpy(np.float64).mean(axis=0), atol=1e-6)
    quiet = daily[daily[COUNT_COLUMN] == 0]
    assert (quiet[names].to_numpy() == 0).all()


def test_a_day_without_tweets_gets_zeros_and_closed_days_no_row():
    embedded = pd.DataFrame({"ticker": ["AAA"], "trading_day": pd.to_datetime(["2024-03-04"]),
                             **{n: [0.5] for n in embedding_names(2)}})
    parts = [TickerDay("AAA", d) for d in pd.date_range("2024-03-02", "2024-03-05").date]  # Sat, Sun, Mon, Tue
    out = daily_embedding_features(embedded, parts, 2)
    assert list(out["trading_day"].dt.day) == [4, 5] and list(out[COUNT_COLUMN]) == [1, 0]
    assert out.loc[1, "emb_000"] == 0.0 and out.loc[0, "emb_001"] == np.float32(0.5)


def test_a_days_embeddings_ignore_later_tweets(stored):
    # int8 activations are quantized per batch: day t is embedded on its own, so tweets after t cannot move it.
    _, tweets, _, _, assets = stored
    onnx_dir = next((assets.parent / "models" / "embedding_onnx").iterdir())
    encoder = OnnxTweetEncoder(onnx_dir, intra_op_num_threads=1)
    days = sorted(tweets["trading_day"].unique())
    early = tweets[tweets["trading_day"] <= days[2]].reset_index(drop=True)
    later = tweets[tweets["trading_day"] > days[2]].assign(text=lambda f: f["text"] + " !!! crash crash crash")
    alone = embed_by_day(encoder, early)
    together = embed_by_day(encoder, pd.concat([early, later], ignore_index=True))[:len(early)]
    np.testing.assert_array_equal(alone, together)
