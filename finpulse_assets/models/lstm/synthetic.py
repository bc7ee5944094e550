"""A synthetic feature frame in which day-t sentiment leads the t -> t+1 return.

For tests and smoke runs: the signal is known, so a model that uses sentiment
must beat the random walk, and the price-only ablation must not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.features.price import features_by_ticker

SYNTHETIC_SENTIMENT_COLUMNS = ["sentiment_mean", "tweet_count"]


def synthetic_frame(n_tickers: int = 2, n_days: int = 260, signal: float = 0.01, noise: float = 0.002,
                    seed: int = 0, start: str = "2023-01-02") -> pd.DataFrame:
    """price_features output plus sentiment columns; log return t -> t+1 = signal * sentiment_mean_t + noise."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n_days)
    frames = []
    for i in range(n_tickers):
        sentiment = rng.normal(0.0, 1.0, n_days)
        log_ret = np.empty(n_days)
        log_ret[0] = 0.0
        log_ret[1:] = signal * sentiment[:-1] + rng.normal(0.0, noise, n_days - 1)
        close = 50.0 * (i + 1) * np.exp(np.cumsum(log_ret))
        open_ = close * (1 + rng.normal(0, 0.002, n_days))
        bars = pd.DataFrame({
            "ticker": f"T{i}", "date": dates, "open": open_,
            "high": np.maximum(open_, close) * 1.003, "low": np.minimum(open_, close) * 0.997,
            "close": close, "adj_close": close, "volume": rng.integers(1_000, 5_000, n_days).astype(float),
        })
        sent = pd.DataFrame({"ticker": f"T{i}", "date": dates, "sentiment_mean": sentiment,
                             "tweet_count": rng.poisson(20, n_days).astype(float)})
        frames.append((bars, sent))
    feats = features_by_ticker(pd.concat([b for b, _ in frames], ignore_index=True))
    return feats.merge(pd.concat([s for _, s in frames], ignore_index=True), on=["ticker", "date"], how="left")
