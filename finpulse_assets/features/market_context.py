"""Cross-sectional context of a ticker's day t, computed from the universe's own rows up to t.

Each stock is seen next to its market and its sector: the day's equal-weighted
market return and its trailing volatility, the sector's return (StockNet's
sector grouping of its tickers), the stock's trailing beta to the market and
the residual return beta leaves, and the return of the stocks it moves with (a
co-movement graph: the `PEER_COUNT` tickers whose daily returns correlated
most with its own over the trailing `PEER_WINDOW` days). Tweet surprises set a
day's tweet count and sentiment against the ticker's own trailing history.

No look-ahead: every value of day t reads the universe's rows of days <= t
(other tickers' day-t returns are known at the same close), and every
trailing statistic ends at t. The universe is the frame given: a ticker's
context never depends on rows after t, of any ticker
(`test_evaluation_market_context.py` rewrites the future and checks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RETURN_COLUMN = "log_ret_1d"
VOL_WINDOW = 20
BETA_WINDOW = 60
MIN_BETA_DAYS = 20
PEER_WINDOW = 120
PEER_COUNT = 3
SURPRISE_WINDOW = 20

MARKET_COLUMNS = ["mkt_ret", "mkt_vol_20", "sector_ret", "beta_60", "resid_ret", "resid_ret_5", "peer_ret"]
TWEET_SURPRISE_COLUMNS = ["tweet_volume_surprise", "sentiment_surprise"]

# StockNet's nine sectors of its 87 tickers (Xu & Cohen 2018, the dataset's README: "StockTable").
STOCKNET_SECTORS: dict[str, tuple[str, ...]] = {
    "basic_materials": ("XOM", "RDS-B", "PTR", "CVX", "TOT", "BP", "BHP", "SNP", "SLB", "BBL"),
    "consumer_goods": ("AAPL", "PG", "BUD", "KO", "PM", "TM", "PEP", "UN", "UL", "MO"),
    "healthcare": ("JNJ", "PFE", "NVS", "UNH", "MRK", "AMGN", "MDT", "ABBV", "SNY", "CELG"),
    "services": ("AMZN", "BABA", "WMT", "CMCSA", "HD", "DIS", "MCD", "CHTR", "UPS", "PCLN"),
    "utilities": ("NEE", "DUK", "D", "SO", "NGG", "AEP", "PCG", "EXC", "SRE", "PPL"),
    "conglomerates": ("IEP", "HRG", "CODI", "REX", "SPLP", "PICO", "AGFS", "GMRE"),
    "financial": ("BCH", "BSAC", "BRK-A", "JPM", "WFC", "BAC", "V", "C", "HSBC", "MA"),
    "industrial_goods": ("GE", "MMM", "BA", "HON", "UTX", "LMT", "CAT", "GD", "DHR", "ABB"),
    "technology": ("GOOG", "MSFT", "FB", "T", "CHL", "ORCL", "TSM", "VZ", "INTC", "CSCO"),
}
SECTOR_OF = {t: s for s, tickers in STOCKNET_SECTORS.items() for t in tickers}


def sector_of(ticker: str, sectors: dict[str, str] | None = None) -> str:
    """The ticker's sector; a ticker outside the table is its own group (its sector return is the market's)."""
    return (sectors or SECTOR_OF).get(ticker, f"unlisted:{ticker}")


def _mean_of_others(panel: pd.DataFrame, members: dict[str, list[str]]) -> pd.DataFrame:
    """For each ticker column, the row-wise mean of the columns in members[ticker] (NaN-skipping)."""
    out = {}
    for ticker, others in members.items():
        out[ticker] = panel[others].mean(axis=1, skipna=True) if others else pd.Series(np.nan, index=panel.index)
    return pd.DataFrame(out, index=panel.index)


def _peer_returns(returns: pd.DataFrame) -> pd.DataFrame:
    """Correlation-weighted mean of day t's returns of each ticker's PEER_COUNT most correlated peers,
    correlations over the PEER_WINDOW days ending at t (at least MIN_BETA_DAYS of them)."""
    values = returns.to_numpy(dtype=np.float64)
    n_days, n_tickers = values.shape
    out = np.full_like(values, np.nan)
    if n_tickers < 2:
        return pd.DataFrame(out, index=returns.index, columns=returns.columns)
    for d in range(n_days):
        block = values[max(0, d - PEER_WINDOW + 1): d + 1]
        corr = pd.DataFrame(block).corr(min_periods=MIN_BETA_DAYS).to_numpy()
        np.fill_diagonal(corr, np.nan)
        today = values[d]
        for i in range(n_tickers):
            c = corr[i]
            usable = np.isfinite(c) & np.isfinite(today)
            if not usable.any():
                continue
            idx = np.flatnonzero(usable)
            top = idx[np.argsort(-c[idx])[:PEER_COUNT]]
            w = np.clip(c[top], 0.0, None)
            out[d, i] = float(np.dot(w, today[top]) / w.sum()) if w.sum() > 0 else float(np.mean(today[top]))
    return pd.DataFrame(out, index=returns.index, columns=returns.columns)


def _trailing_surprise(values: pd.DataFrame) -> pd.DataFrame:
    """Day t's value minus the mean of the ticker's SURPRISE_WINDOW days before t (0 without history)."""
    history = values.shift(1).rolling(SURPRISE_WINDOW, min_periods=5).mean()
    return (values - history).fillna(0.0)


def market_context(frame: pd.DataFrame, sectors: dict[str, str] | None = None) -> pd.DataFrame:
    """MARKET_COLUMNS (and TWEET_SURPRISE_COLUMNS where the frame has sentiment) for every (ticker, date) row.

    frame: the training_set layout (ticker, date, log_ret_1d[, tweet_count, sentiment_mean]).
    Returns a frame with `ticker`, `date` and the context columns, one row per input row.
    """
    missing = [c for c in ("ticker", "date", RETURN_COLUMN) if c not in frame]
    if missing:
        raise ValueError(f"market_context needs columns {missing}")
    if frame.duplicated(["ticker", "date"]).any():
        raise ValueError("market_context: the frame has duplicate (ticker, date) rows")
    keys = frame[["ticker", "date"]].assign(date=pd.to_datetime(frame["date"]))
    returns = keys.assign(r=frame[RETURN_COLUMN].to_numpy()).pivot(index="date", columns="ticker", values="r")
    returns = returns.sort_index()
    tickers = list(returns.columns)

    market = returns.mean(axis=1, skipna=True)
    market_vol = market.rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std()
    groups: dict[str, list[str]] = {}
    for t in tickers:
        groups.setdefault(sector_of(t, sectors), []).append(t)
    peers = {t: [o for o in groups[sector_of(t, sectors)] if o != t] for t in tickers}
    sector = _mean_of_others(returns, peers)
    sector = sector.fillna(pd.DataFrame({t: market for t in tickers}))  # no listed peer: the market

    m = pd.DataFrame({t: market for t in tickers})
    cov = (returns * m).rolling(BETA_WINDOW, min_periods=MIN_BETA_DAYS).mean() \
        - returns.rolling(BETA_WINDOW, min_periods=MIN_BETA_DAYS).mean() * m.rolling(BETA_WINDOW, min_periods=MIN_BETA_DAYS).mean()
    var = m.rolling(BETA_WINDOW, min_periods=MIN_BETA_DAYS).var(ddof=0)
    beta = (cov / var.where(var > 0)).fillna(1.0)  # too little history: the market's own beta
    resid = returns - beta * m
    panels = {"mkt_ret": m, "mkt_vol_20": pd.DataFrame({t: market_vol for t in tickers}),
              "sector_ret": sector, "beta_60": beta, "resid_ret": resid,
              "resid_ret_5": resid.rolling(5, min_periods=5).sum(), "peer_ret": _peer_returns(returns)}
    if {"tweet_count", "sentiment_mean"} <= set(frame.columns):
        for name, column in (("tweet_volume_surprise", np.log1p(frame["tweet_count"].astype(float))),
                             ("sentiment_surprise", frame["sentiment_mean"].astype(float))):
            wide = keys.assign(v=column.to_numpy()).pivot(index="date", columns="ticker", values="v").sort_index()
            panels[name] = _trailing_surprise(wide)
    index, columns = returns.index, returns.columns
    long = pd.DataFrame({"date": np.repeat(index.to_numpy(), len(columns)),
                         "ticker": np.tile(columns.to_numpy(dtype=object), len(index)),
                         **{name: panel.reindex(index=index, columns=columns).to_numpy(dtype=np.float64).ravel()
                            for name, panel in panels.items()}})
    out = keys.merge(long, on=["date", "ticker"], how="left", validate="one_to_one")
    return out.reset_index(drop=True)


def with_market_context(frame: pd.DataFrame, sectors: dict[str, str] | None = None) -> pd.DataFrame:
    """The frame with the context columns added (same rows, same order)."""
    context = market_context(frame, sectors)
    extra = [c for c in context.columns if c not in ("ticker", "date")]
    return frame.reset_index(drop=True).assign(**{c: context[c].to_numpy() for c in extra})
