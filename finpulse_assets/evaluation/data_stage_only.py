"""`python -m finpulse_assets.evaluation.data_stage_only --storage DIR`: the variants that need only the data stages.

When the FinBERT and embedding stages are out of reach (they cost the most on a
busy 2-core machine), the price-only LSTM and attentive LSTM and the LSTM on
VADER sentiment can still be evaluated from `raw_tweets`, `vader_labels` and
`price_features` of an evaluation storage (`make evaluate`'s data stage), with
the same search, protocol, intervals and report as the `evaluation` asset. The
report says no FinPulse (FinBERT) model was evaluated. Reads each asset's
whole Delta table directly (a measurement tool, not part of the graph), or,
with `--data DIR`, computes the three frames from the dataset in this process
(`dataset_frames`: the assets' own functions, kept in <storage>/dataset_frames).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from finpulse_assets.settings import PROJECT_ROOT


def stored(storage: Path, asset: str) -> pd.DataFrame:
    from finpulse_assets.storage.ticker_day_table import TickerDayTable

    frame = TickerDayTable(str(storage / "assets" / asset)).read_all()
    if frame.empty:
        raise SystemExit(f"{storage / 'assets' / asset} holds no partitions: run the data stage first")
    return frame


def vader_training_set(prices: pd.DataFrame, vader: pd.DataFrame, tweets: pd.DataFrame) -> pd.DataFrame:
    """The training_set join of price_features with a VADER stand-in for sentiment_features, so the join (and
    its row rules) is the graph's own; the price-only variants never read these columns, and the VADER
    variant recomputes them the same way."""
    from finpulse_assets.evaluation.vader_daily import vader_probabilities
    from finpulse_assets.features.training_set import join_features
    from finpulse_assets.sentiment.daily import daily_sentiment, fill_missing_days

    per_day = daily_sentiment(vader_probabilities(vader, tweets))
    days = pd.to_datetime(prices["date"])
    sentiment = pd.concat([fill_missing_days(per_day[per_day["ticker"] == t], [t], days[prices["ticker"] == t])
                           for t in sorted(prices["ticker"].unique())], ignore_index=True)
    training_set, _ = join_features(prices, sentiment)
    return training_set


def dataset_frames_of(data_dir: Path, tickers: str, storage: Path, seconds: dict) -> tuple[pd.DataFrame, ...]:
    """(price_features, vader_labels, raw_tweets) of the dataset, through <storage>/dataset_frames; `seconds`
    gets the time it took and whether the frames were read back."""
    from finpulse_assets.evaluation.cli import dataset_tickers, evaluation_settings
    from finpulse_assets.evaluation.dataset_frames import stored_dataset_frames
    from finpulse_assets.evaluation.protocol import Protocol

    names = [t.strip().upper() for t in tickers.split(",") if t.strip()] or dataset_tickers(data_dir)
    t0 = time.perf_counter()
    frames, reused = stored_dataset_frames(evaluation_settings(data_dir, names, storage, Protocol()),
                                           storage / "dataset_frames")
    seconds |= {"data_stage_seconds": round(time.perf_counter() - t0, 1), "data_stage_reused": reused}
    print(f"data stage ({'read back' if reused else 'computed'}): {seconds['data_stage_seconds']} s", flush=True)
    return frames["price_features"], frames["vader_labels"], frames["raw_tweets"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="finpulse-evaluate-data-stage-only")
    parser.add_argument("--storage", required=True, help="an evaluation storage (storage/evaluation/<dataset>)")
    parser.add_argument("--data", default="",
                        help="a dataset folder (tweets/, prices/): compute the data stage's frames in this process "
                             "(evaluation/dataset_frames.py, kept in <storage>/dataset_frames) instead of reading "
                             "the storage's assets")
    parser.add_argument("--report-dir", default=str(PROJECT_ROOT / "reports" / "data_stage_only"))
    parser.add_argument("--n-trials", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", default="lstm_price_only,alstm_price_only,lstm_vader")
    parser.add_argument("--wf-variants", default="lstm_price_only,lstm_price_market,lstm_vader",
                        help="variants of the walk-forward (empty: no walk-forward)")
    parser.add_argument("--wf-n-trials", type=int, default=3)
    parser.add_argument("--wf-step-months", type=int, default=1)
    parser.add_argument("--wf-workers", type=int, default=1, help="processes for the walk-forward's jobs")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per optimizer step of every network")
    parser.add_argument("--tickers", default="", help="comma-separated subset; default: every stored ticker")
    parser.add_argument("--fit-cache", default="",
                        help="folder of head outputs kept by a content hash of their inputs; default: "
                             "<storage>/fit_cache; 'none': no cache")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from finpulse_assets.assets.evaluation import EvaluationConfig, _settings, _walk_forward_settings, variant_frames
    from finpulse_assets.evaluation.experiment import evaluate_variants
    from finpulse_assets.evaluation.report import headline, write_report

    started = time.perf_counter()
    storage = Path(args.storage).resolve()
    data_seconds = {}
    if args.data:
        prices, vader, tweets = dataset_frames_of(Path(args.data).resolve(), args.tickers, storage, data_seconds)
    else:
        prices, vader, tweets = (stored(storage, "price_features"), stored(storage, "vader_labels"),
                                 stored(storage, "raw_tweets"))
    if args.tickers:
        keep = {t.strip().upper() for t in args.tickers.split(",") if t.strip()}
        prices, vader, tweets = (f[f["ticker"].isin(keep)] for f in (prices, vader, tweets))
    training_set = vader_training_set(prices, vader, tweets)
    wf_variants = [v.strip() for v in args.wf_variants.split(",") if v.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    config = EvaluationConfig(variants=list(dict.fromkeys(variants + wf_variants)),
                              n_trials=args.n_trials, seeds=args.seeds, report_dir=args.report_dir,
                              dataset=storage.name + " (data stage only)", walk_forward=bool(wf_variants),
                              wf_variants=wf_variants, wf_n_trials=args.wf_n_trials,
                              wf_step_months=args.wf_step_months, wf_workers=args.wf_workers,
                              batch_size=args.batch_size,
                              fit_cache_dir="" if args.fit_cache == "none" else args.fit_cache or str(storage / "fit_cache"))
    settings = _settings(config)
    frames, skipped = variant_frames(config, settings, training_set, vader, tweets, pd.DataFrame())
    results = evaluate_variants(frames, settings)
    print(f"StockNet split evaluated in {time.perf_counter() - started:.0f} s", flush=True)
    walk = None
    if wf_variants:
        from finpulse_assets.evaluation.walk_forward import interval_widths, walk_forward

        walk = walk_forward({v: frames[v] for v in wf_variants}, _walk_forward_settings(config, settings),
                            progress=lambda f: print(f"walk-forward fold {f['fold']} {f['test_start']}: "
                                                     f"{f['test_samples']} samples, {f['seconds']} s", flush=True))
        walk["interval_widths"] = {"walk_forward": interval_widths(walk), "stocknet_split": interval_widths(results)}
    seconds = time.perf_counter() - started
    report = {"dataset": config.dataset, "tickers": sorted(training_set["ticker"].unique()), "test": headline(results),
              "protocol": settings.protocol.as_dict(), "majority_label": results["majority_label"],
              "splits": results["splits"], "test_samples_scored": results["test_samples_scored"],
              "variants_test": results["test"], "ablations": results["ablations"], "bootstrap": results["bootstrap"],
              "variants_left_out": skipped, "dev": results["dev"], "seconds": results["seconds"],
              "walk_forward": walk,
              "runtime": {"evaluation_seconds": round(seconds, 1), "cpu_count": os.cpu_count(), **data_seconds,
                          "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
                          "n_trials": args.n_trials, "seeds": args.seeds, "wf_n_trials": args.wf_n_trials,
                          "wf_step_months": args.wf_step_months, "wf_workers": args.wf_workers,
                          "batch_size": args.batch_size,
                          **({"fit_cache": settings.fit.cache.counts()} if settings.fit.cache else {})}}
    json_path, md_path = write_report(report, Path(args.report_dir))
    print(md_path.read_text())
    print(json.dumps(report["runtime"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
