"""Tweet embedding throughput next to FinBERT sentiment scoring, on the same real tweets, side by side.

    python benchmarks/embedding_throughput.py --storage storage/evaluation/stocknet-dev --n 2000

Both paths run as their assets run them: int8 ONNX, torch-free, one ticker-day
per group of length-sorted batches of 8, one ONNX Runtime thread (what a busy
machine wants). The sentiment model is the offline MiniLM with a (random)
three-label head exported as `make evaluate` exports FinBERT (first 4 encoder
layers fp32): the same shape and graph as the fine-tuned one, so the same speed.
The encoder is `embedding_onnx`'s export. Rounds are interleaved so other load
hits both alike; the best round of each counts.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from finpulse_assets.assets.embeddings import embed_by_day
from finpulse_assets.assets.sentiment import score_by_day
from finpulse_assets.evaluation.data_stage_only import stored
from finpulse_assets.models.embeddings.encoder import OnnxTweetEncoder
from finpulse_assets.models.embeddings.onnx_export import export_encoder, load_encoder
from finpulse_assets.models.finbert.base_model import OFFLINE_DEFAULT, load_classifier, offline_default_dir
from finpulse_assets.models.finbert.onnx_export import export_onnx
from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True, help="an evaluation storage holding raw_tweets")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tweets = stored(Path(args.storage), "raw_tweets").sort_values(["ticker", "trading_day", "tweet_id"])
    tweets = tweets.head(args.n).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_classifier(OFFLINE_DEFAULT)
        export_onnx(model, tokenizer, Path(tmp) / "sentiment", max_length=64, fp32_layers=4)
        encoder, enc_tokenizer = load_encoder(offline_default_dir())
        export_encoder(encoder, enc_tokenizer, Path(tmp) / "encoder", max_length=64)
        paths = {"finbert_sentiment (int8 MiniLM classifier)": OnnxSentimentScorer(
                     Path(tmp) / "sentiment", batch_size=8, intra_op_num_threads=args.threads),
                 "tweet_embeddings (int8 MiniLM encoder)": OnnxTweetEncoder(
                     Path(tmp) / "encoder", batch_size=8, intra_op_num_threads=args.threads)}
        run = {name: (lambda s=s: score_by_day(s, tweets)) if isinstance(s, OnnxSentimentScorer)
               else (lambda s=s: embed_by_day(s, tweets)) for name, s in paths.items()}
        best = {name: float("inf") for name in run}
        for r in range(args.rounds):
            for name in (list(run) if r % 2 == 0 else list(run)[::-1]):
                started = time.perf_counter()
                run[name]()
                best[name] = min(best[name], time.perf_counter() - started)
    result = {"tweets": len(tweets), "ticker_days": int(tweets.groupby(["ticker", "trading_day"]).ngroups),
              "threads": args.threads, "rounds": args.rounds, "load_average_1_5_15": list(os.getloadavg()),
              "tweets_per_s": {name: round(len(tweets) / s, 1) for name, s in best.items()}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
