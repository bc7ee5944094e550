"""A synthetic universe of any size for the demo market: `FINPULSE_TICKERS=87` means 87 tickers.

The first tickers are the demo's own (AAPL, MSFT, TSLA, then AMZN), so their data is
exactly what a smaller universe gives them (the generator seeds each ticker on its
own name); the rest are made-up 4-letter symbols drawn from a fixed seed, never a
symbol with a hand-set profile or one the tweets use as an "other" cashtag. Every
generated ticker gets the same market properties as the named ones (regime shift,
sentiment that leads the next day's return, closed-day tweets, ...) with a price
level, volatility, dividend and volume derived from its symbol (`demo.ticker_profile`).
"""

from __future__ import annotations

import numpy as np

NAMED = ("AAPL", "MSFT", "TSLA", "AMZN")
_SYMBOL_SEED = 20240101


def synthetic_tickers(count: int) -> list[str]:
    """`count` distinct, stable ticker symbols; a larger count extends a smaller one's list."""
    if count < 1:
        raise ValueError(f"a universe needs at least one ticker, got {count}")
    from finpulse_assets.sources.demo import OTHER_CASHTAGS, PROFILES

    taken = set(PROFILES) | {tag.lstrip("$") for tag in OTHER_CASHTAGS}
    symbols = list(NAMED[:count])
    rng = np.random.default_rng(_SYMBOL_SEED)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    while len(symbols) < count:
        symbol = "".join(rng.choice(letters, 4))
        if symbol not in taken:
            taken.add(symbol)
            symbols.append(symbol)
    return symbols


def parse_tickers(value: str) -> tuple[str, ...]:
    """A comma-separated list of tickers, or a number N for N synthetic tickers."""
    value = value.strip()
    if value.isdigit():
        return tuple(synthetic_tickers(int(value)))
    tickers = tuple(t.strip().upper() for t in value.split(",") if t.strip())
    if not tickers:
        raise ValueError("FINPULSE_TICKERS is empty: give a comma-separated list of tickers or a number of "
                         "synthetic tickers")
    return tickers
