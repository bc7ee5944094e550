"""(ticker, day) row keys: order checks and lookups in numpy instead of pandas sorts, merges and reindexes.

pandas' two-key sort, duplicated, merge and reindex each cost about a
millisecond even on a few rows, which dominated a batch of serving requests.
These helpers let the shared feature functions skip that work when the rows
are already in key order, and look rows up by key through integer codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_datetime(values):
    """pd.to_datetime, skipped when `values` already hold datetime64 (its cache check alone is costly)."""
    if pd.api.types.is_datetime64_dtype(getattr(values, "dtype", None)):
        return values
    return pd.to_datetime(values)


def is_key_sorted(tickers, dates, strict: bool) -> bool:
    """Rows ordered by (ticker, date) as pandas' sort_values would order them; `strict`: no duplicate keys.

    False for dates that are not datetime64 yet (strings sort differently from the days they name).
    """
    if not pd.api.types.is_datetime64_dtype(getattr(dates, "dtype", None)):
        return False
    codes, _ = pd.factorize(np.asarray(tickers, dtype=object), sort=True)
    days = np.asarray(dates, dtype="datetime64[ns]")
    if (codes < 0).any() or np.isnat(days).any():
        return False  # missing keys: leave them to pandas' own rules
    ticker_step = np.diff(codes)
    date_step = np.diff(days.view(np.int64))
    later = (date_step > 0) if strict else (date_step >= 0)
    return bool(((ticker_step > 0) | ((ticker_step == 0) & later)).all())


def same_keys(tickers_a, dates_a, tickers_b, dates_b) -> bool:
    """The same (ticker, date) keys in the same order."""
    return (len(tickers_a) == len(tickers_b)
            and np.array_equal(np.asarray(dates_a, dtype="datetime64[ns]"), np.asarray(dates_b, dtype="datetime64[ns]"))
            and bool((np.asarray(tickers_a, dtype=object) == np.asarray(tickers_b, dtype=object)).all()))


def key_codes(tickers, dates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One int64 code per row, equal iff (ticker, date) are equal and ordered like the keys; plus the
    factorized tickers and dates (uniques, sorted) that the codes index."""
    ticker_codes, ticker_uniques = pd.factorize(np.asarray(tickers, dtype=object), sort=True, use_na_sentinel=False)
    date_codes, date_uniques = pd.factorize(np.asarray(dates), sort=True, use_na_sentinel=False)
    return ticker_codes.astype(np.int64) * max(len(date_uniques), 1) + date_codes, ticker_uniques, date_uniques


def lookup(from_tickers, from_dates, to_tickers, to_dates) -> np.ndarray:
    """For each `to` key, the position of the same key among the `from` rows, or -1.

    Raises ValueError when a key occurs twice among the `from` rows, like reindex.
    """
    n = len(from_tickers)
    codes, _, _ = key_codes(np.concatenate([np.asarray(from_tickers, dtype=object), np.asarray(to_tickers, dtype=object)]),
                            np.concatenate([np.asarray(from_dates), np.asarray(to_dates)]))
    source, wanted = codes[:n], codes[n:]
    order = np.argsort(source, kind="stable")
    ordered = source[order]
    if (ordered[1:] == ordered[:-1]).any():
        raise ValueError("cannot reindex on an axis with duplicate labels")
    at = np.minimum(np.searchsorted(ordered, wanted), max(n - 1, 0))
    found = (ordered[at] == wanted) if n else np.zeros(len(wanted), dtype=bool)
    return np.where(found, order[at] if n else -1, -1)
