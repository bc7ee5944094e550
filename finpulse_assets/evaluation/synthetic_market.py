"""A small synthetic market with a planted cross-sectional signal, for tests and smoke runs.

Each sector has leaders and followers. Leaders' daily log returns are noise
around a market factor; a follower's return of day t+1 is `signal` times the
mean of its sector's leaders' returns of day t, plus noise. A follower's own
past prices carry none of it (its own returns are independent of its leaders'
same-day returns), so a model that sees one ticker alone cannot find it, and
a model with the sector's return of day t (`features.market_context`) can.
Daily sentiment is pure noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.features.price import features_by_ticker


def synthetic_market(n_sectors: int = 2, leaders: int = 2, followers: int = 3, start: str = "2013-10-01",
                     end: str = "2016-01-01", signal: float = 0.8, noise: float = 0.004,
                     seed: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """(training_set-like frame with adj_close and sentiment columns, {ticker: sector})."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, end, inclusive="left")
    n = len(dates)
    market = rng.normal(0.0, 0.005, n)
    bars, sentiment, sectors = [], [], {}
    for s in range(n_sectors):
        leader_returns = [market + rng.normal(0.0, 0.012, n) for _ in range(leaders)]
        lead = np.mean(leader_returns, axis=0)
        members = [(f"L{s}{k}", r) for k, r in enumerate(leader_returns)]
        for k in range(followers):
            r = rng.normal(0.0, noise, n)
            r[1:] += signal * lead[:-1]
            members.append((f"F{s}{k}", r))
        for ticker, log_ret in members:
            sectors[ticker] = f"sector{s}"
            close = 40.0 * np.exp(np.cumsum(log_ret))
            open_ = close * (1 + rng.normal(0, 0.001, n))
            bars.append(pd.DataFrame({"ticker": ticker, "date": dates, "open": open_,
                                      "high": np.maximum(open_, close) * 1.002,
                                      "low": np.minimum(open_, close) * 0.998, "close": close, "adj_close": close,
                                      "volume": rng.integers(1_000, 5_000, n).astype(float)}))
            sentiment.append(pd.DataFrame({"ticker": ticker, "date": dates,
                                           "sentiment_mean": rng.normal(0, 0.3, n),
                                           "tweet_count": rng.poisson(10, n).astype(float)}))
    feats = features_by_ticker(pd.concat(bars, ignore_index=True))
    frame = feats.merge(pd.concat(sentiment, ignore_index=True), on=["ticker", "date"], how="left")
    if "adj_close" not in frame:
        frame["adj_close"] = frame["close"]
    for column in ("share_positive", "share_negative", "engagement_weighted", "sentiment_std"):
        frame[column] = 0.0
    return frame.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True), sectors
