"""finbert_sentiment and sentiment_features: per-tweet FinBERT probabilities and daily aggregates (ticker x day)."""

import time

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, Failure, asset
from pydantic import Field

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.features.market_calendar import is_trading_day
from finpulse_assets.models.store import ModelStore
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY
from finpulse_assets.assets.schemas import FinbertSentiment, SentimentFeatures
from finpulse_assets.sentiment import daily

ENGAGEMENT_COLUMNS = ["retweet_num", "like_num", "comment_num"]
PROBABILITY_COLUMNS = ["p_positive", "p_negative", "p_neutral"]


class SentimentScoringConfig(Config):
    """Measured on the 2-core development machine (idle), int8 MiniLM, one ticker-day per batch group:
    batch 8 with 2 threads 430 tweets/s, with 1 thread 233/s; batch 64 with 2 threads 297/s (more padding).
    While other work ran, 2 threads were slower than 1 (95/s vs 147/s at batch 64): set 1 on a busy machine."""

    intra_op_num_threads: int = Field(default=0, description="ONNX Runtime intra-op threads; 0: all cores.")
    batch_size: int = Field(default=8, description="Tweets per ONNX call, length-sorted within the day and padded "
                                                   "to the batch's longest tweet.")


def score_by_day(scorer, tweets: pd.DataFrame) -> np.ndarray:
    """Probabilities [n, 3] (SENTIMENT_LABELS order) for the rows of `tweets` (text, ticker, trading_day).

    One (ticker, day) at a time: dynamic int8 quantization scales activations by the range of the whole
    batch, so a tweet's probabilities depend on the tweets batched with it. Scoring each day on its own
    keeps a partition's values a function of that day's tweets only, whatever range a run covers (no
    leak from later days, the same values in a backfill and in a one-day run).
    """
    texts = tweets["text"].astype(str).to_numpy()
    scores = np.zeros((len(tweets), len(PROBABILITY_COLUMNS)), dtype=np.float64)
    keys = pd.DataFrame({"t": tweets["ticker"].to_numpy(), "d": pd.to_datetime(tweets["trading_day"]).to_numpy()})
    for rows in keys.groupby(["t", "d"], sort=False).indices.values():
        scores[rows] = scorer.score(texts[rows].tolist())
    return scores


def score_tweets(tweets: pd.DataFrame, onnx_dir: str, model_file: str, model_version: str,
                 batch_size: int = 8, intra_op_num_threads: int = 0) -> pd.DataFrame:
    """Per-tweet probabilities (SENTIMENT_LABELS order) and label from the int8 ONNX scorer."""
    from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer, labels

    base = tweets[["tweet_id", "ticker", "trading_day", "posted_at", "is_retweet", *ENGAGEMENT_COLUMNS]]
    base = base.reset_index(drop=True)
    if tweets.empty:
        probs = pd.DataFrame({c: pd.Series(dtype="float64") for c in PROBABILITY_COLUMNS})
        return pd.concat([base, probs], axis=1).assign(label=pd.Series(dtype=str), model_version=pd.Series(dtype=str))
    scorer = OnnxSentimentScorer(onnx_dir, model_file=model_file, batch_size=batch_size,
                                 intra_op_num_threads=intra_op_num_threads)
    scores = score_by_day(scorer, tweets)
    out = base.assign(**{c: scores[:, i] for i, c in enumerate(PROBABILITY_COLUMNS)})
    return out.assign(label=labels(scores).astype(str), model_version=model_version)

def build_sentiment_assets(partitions_def):
    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"raw_tweets": AssetIn(), "finbert_onnx": AssetIn()},
        check_specs=[schema_check_spec("finbert_sentiment")],
        group_name="sentiment_data",
        kinds={"onnx", "pandas", "parquet"},
    )
    def finbert_sentiment(context: AssetExecutionContext, config: SentimentScoringConfig, raw_tweets: pd.DataFrame,
                          finbert_onnx: dict, model_store: ModelStore):
        """Positive/negative/neutral probabilities and the label of every tweet of the day, from the int8 ONNX
        FinBERT (fast tokenizer, length-sorted batches padded to their own longest tweet, no torch).

        Each day is scored on its own: int8 activations are quantized per batch, so batching days together
        would make a day's scores depend on other (later) days' tweets."""
        if not finbert_onnx["parity"]["passed"]:
            raise Failure(f"finbert_onnx {finbert_onnx['version']} failed its ONNX parity check (label agreement "
                          f"{finbert_onnx['parity']['agreement']:.4f}); refusing to score with it")
        from finpulse_assets.models.finbert.scoring import METADATA_FILE, TOKENIZER_FILE
        from finpulse_assets.models.integrity import ModelIntegrityError, verify_files

        model_store.ensure_local(finbert_onnx["onnx_dir"])  # exported elsewhere: fetched from object storage
        try:
            verify_files(finbert_onnx["onnx_dir"], finbert_onnx.get("sha256"),
                         [finbert_onnx["int8_file"], TOKENIZER_FILE, METADATA_FILE],
                         what=f"finbert_onnx {finbert_onnx['version']}")
        except ModelIntegrityError as exc:
            raise Failure(f"finbert_sentiment: {exc}") from exc
        parts = run_partitions(context)
        tweets = raw_tweets if len(raw_tweets) else pd.DataFrame(columns=["tweet_id", "ticker", "trading_day",
                                                                          "posted_at", "is_retweet", "text",
                                                                          *ENGAGEMENT_COLUMNS])
        started = time.perf_counter()
        scored = score_tweets(tweets, finbert_onnx["onnx_dir"], finbert_onnx["int8_file"], finbert_onnx["version"],
                              config.batch_size, config.intra_op_num_threads)
        seconds = time.perf_counter() - started
        if len(scored):
            context.log.info(f"scored {len(scored)} tweets in {seconds:.1f} s ({len(scored) / seconds:,.0f}/s) "
                             f"with {finbert_onnx['version']} int8")
        frames = split_by_partition(scored, parts, "trading_day")
        yield from emit(context, frames, FinbertSentiment)

    @asset(
        partitions_def=partitions_def,
        backfill_policy=TICKER_DAY_BACKFILL_POLICY,
        ins={"finbert_sentiment": AssetIn()},
        check_specs=[schema_check_spec("sentiment_features")],
        group_name="sentiment_data",
        kinds={"pandas", "parquet"},
    )
    def sentiment_features(context: AssetExecutionContext, finbert_sentiment: pd.DataFrame):
        """The day's sentiment from its tweets: mean(p_positive - p_negative), shares positive and negative,
        tweet count, engagement-weighted score and dispersion. A trading day without tweets gets the neutral
        values and count 0 (never NaN); closed days are empty."""
        parts = run_partitions(context)
        scored = finbert_sentiment if len(finbert_sentiment) else pd.DataFrame(
            columns=[*daily.KEY_COLUMNS, *daily.PROBABILITY_COLUMNS, "like_num", "retweet_num"])
        per_day = daily.daily_sentiment(scored)
        open_days = [p for p in parts if is_trading_day(p.day)]
        # Every trading day of the run gets a row (neutral values, count 0, when it had no tweets);
        # closed days get none, so their partitions are empty.
        filled = [daily.fill_missing_days(per_day[per_day["ticker"] == ticker], [ticker],
                                          [p.day for p in open_days if p.ticker == ticker])
                  for ticker in sorted({p.ticker for p in open_days})]
        features = pd.concat(filled, ignore_index=True) if filled else per_day.iloc[0:0]
        frames = split_by_partition(features, parts, "trading_day")
        yield from emit(context, frames, SentimentFeatures)

    return finbert_sentiment, sentiment_features
