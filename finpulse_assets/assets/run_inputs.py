"""Every input of a CLI materialization is read before any table is written.

Before its first run, `cli.materialize` (when it runs the data stage) reads every source for every
configured ticker over the whole range (`input_problems`). A file-level defect in any of them (a ticker with
tweets but no price file, a ';'-delimited, cut or ambiguous file, a ticker the tweet source lacks) fails the
whole materialization before any run starts, so no ticker's tables change: before, `FINPULSE_TICKERS=AAPL,TSLA`
with no TSLA price file committed TSLA's raw_tweets and vader_labels and then failed. The file sources
parse each file once a process (`sources/csv_files.FileCache`), so the runs that follow read them from memory.
Row-level problems are not input failures: they are counted rows (cleaning); the completeness guard and the
blocking schema check of each asset still run before that asset's own commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from finpulse_assets.sources.base import PriceSource, SourceFileError, TweetSource


def input_problems(tweet_source: TweetSource, price_source: PriceSource, tickers: Sequence[str], first: date,
                   last: date, tweets_may_lack: bool = False) -> list[str]:
    """What keeps a source from being read for a ticker in [first, last] (empty: every input reads).
    `tweets_may_lack`: raw_tweets' allow_shrink is set, so a ticker without tweets is accepted."""
    problems = []
    try:
        price_source.load_prices(list(tickers), first, last)
    except SourceFileError as exc:
        problems.append(f"raw_prices: SourceFileError: {exc}")
    try:
        missing = sorted(set(tickers) - set(tweet_source.available_tickers()))
    except SourceFileError as exc:
        problems.append(f"raw_tweets: SourceFileError: {exc}")
    else:
        if missing and not tweets_may_lack:
            problems.append(f"raw_tweets: {tweet_source.location(list(tickers))} holds no rows for "
                            f"{', '.join(missing)}")
    return problems


def input_failure(problems: list[str]) -> str:
    return ("an input cannot be read, so no run was started and no table changed (every input is read before "
            "any table is written): " + "; ".join(problems) + ". Fix the input and run again.")
