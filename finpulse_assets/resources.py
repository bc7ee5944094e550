"""Chooses the tweet and price sources from the settings."""

from __future__ import annotations

from finpulse_assets.settings import Settings
from finpulse_assets.sources.base import PriceSource, TweetSource

TWEET_SOURCES = ("demo", "kaggle_csv")
PRICE_SOURCES = ("demo", "yahoo_csv", "yfinance")


def _need_dir(kind: str, value: str, variable: str) -> str:
    if not value:
        raise ValueError(f"the {kind} source needs a directory: set {variable} (or FINPULSE_DATA)")
    return value


def tweet_source(settings: Settings) -> TweetSource:
    # Imported per branch: a deployment only needs the source it uses.
    if settings.tweet_source == "demo":
        from finpulse_assets.sources.demo import DemoTweetSource

        return DemoTweetSource(seed=settings.demo_seed, tickers=list(settings.tickers),
                               start=settings.start, end=settings.end)
    if settings.tweet_source == "kaggle_csv":
        from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource

        return KaggleCsvTweetSource(directory=_need_dir("kaggle_csv", settings.tweets_dir, "FINPULSE_TWEETS_DIR"))
    raise ValueError(f"FINPULSE_TWEET_SOURCE={settings.tweet_source!r}: expected one of {TWEET_SOURCES}")


def price_source(settings: Settings) -> PriceSource:
    if settings.price_source == "demo":
        from finpulse_assets.sources.demo import DemoPriceSource

        return DemoPriceSource(seed=settings.demo_seed, tickers=list(settings.tickers),
                               start=settings.start, end=settings.end)
    if settings.price_source == "yahoo_csv":
        from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource

        return YahooCsvPriceSource(directory=_need_dir("yahoo_csv", settings.prices_dir, "FINPULSE_PRICES_DIR"))
    if settings.price_source == "yfinance":
        from finpulse_assets.sources.yfinance_source import YFinancePriceSource

        return YFinancePriceSource(tickers=list(settings.tickers))
    raise ValueError(f"FINPULSE_PRICE_SOURCE={settings.price_source!r}: expected one of {PRICE_SOURCES}")
