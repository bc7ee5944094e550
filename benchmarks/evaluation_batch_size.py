"""Evaluation fits at two batch sizes side by side: seconds and dev scores of one candidate, in one run.

`python benchmarks/evaluation_batch_size.py --data /work/shared/data/stocknet-dev-wide`
fits both heads of one candidate (LSTM + market context, window 10, hidden 32,
pooled) on the StockNet train split and scores them on dev, alternating the
batch sizes `--repeats` times so a change of machine load hits both. The data
stage's frames come from `data_stage_only`'s store (computed on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="dataset folder with tweets/ and prices/")
    parser.add_argument("--storage", default="", help="default: storage/evaluation/<dataset folder name>")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from finpulse_assets.assets.evaluation import EvaluationConfig, _settings, variant_frames
    from finpulse_assets.evaluation.candidates import PRICE_MARKET, Candidate
    from finpulse_assets.evaluation.data_stage_only import dataset_frames_of, vader_training_set
    from finpulse_assets.evaluation.protocol import Protocol
    from finpulse_assets.evaluation.selection import FitSettings, dev_scores
    from finpulse_assets.models.lstm.model import LSTMConfigParams
    from finpulse_assets.settings import PROJECT_ROOT

    data = Path(args.data).resolve()
    storage = Path(args.storage or PROJECT_ROOT / "storage" / "evaluation" / data.name).resolve()
    prices, vader, tweets = dataset_frames_of(data, "", storage, {})
    config = EvaluationConfig(variants=[PRICE_MARKET], walk_forward=False)
    frames, _ = variant_frames(config, _settings(config), vader_training_set(prices, vader, tweets), vader, tweets,
                               pd.DataFrame())
    candidate = Candidate(window=10, layout="pooled", market=True, hidden_size=32)
    for _ in range(args.repeats):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            load, started = os.getloadavg()[0], time.perf_counter()
            row = dev_scores(frames[PRICE_MARKET], candidate, Protocol(),
                             FitSettings(LSTMConfigParams(batch_size=batch), seeds=1))
            print(json.dumps({"batch_size": batch, "seconds": round(time.perf_counter() - started, 1),
                              "load_1min_before_after": [round(load, 2), round(os.getloadavg()[0], 2)],
                              "dev_mcc": {h: round(m["mcc"], 4) for h, m in row["direction"].items()},
                              "dev_mae_ratio_random_walk": round(row["price"]["mae_ratio_random_walk"], 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
