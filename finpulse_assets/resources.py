"""Chooses the tweet and price sources from the settings."""

from __future__ import annotations

from finpulse_assets.settings import Settings
from finpulse_assets.sources.base import PriceSource, TweetSource

TWEET_SOURCES = ("demo", "kaggle_csv", "s3_landing")
PRICE_SOURCES = ("demo", "yahoo_csv", "yfinance", "s3_landing")
LANDING_SOURCE = "s3_landing"


def _need_dir(kind: str, value: str, variable: str) -> str:
    if not value:
        raise ValueError(f"the {kind} source needs a directory: set {variable} (or FINPULSE_DATA)")
    return value


def s3_landing(kind: str, variable: str):
    """The landing prefix of the configured object storage (FINPULSE_S3_*)."""
    from finpulse_assets.storage.object_storage import ObjectStorage
    from finpulse_assets.sources.s3_landing import S3Landing

    storage = ObjectStorage.from_env()
    if storage is None:
        raise ValueError(f"{variable}=s3_landing reads {kind} from s3://<bucket>/<prefix>/landing/: "
                         f"set FINPULSE_S3_BUCKET (and FINPULSE_S3_ENDPOINT_URL for an S3-compatible store)")
    return S3Landing(s3=storage.s3_resource(), bucket=storage.bucket, prefix=storage.key("landing"))


def tweet_source(settings: Settings) -> TweetSource:
    # Imported per branch: a deployment only needs the source it uses.
    if settings.tweet_source == "demo":
        from finpulse_assets.sources.demo import DemoTweetSource

        return DemoTweetSource(seed=settings.demo_seed, tickers=list(settings.tickers),
                               start=settings.start, end=settings.end)
    if settings.tweet_source == "kaggle_csv":
        from finpulse_assets.sources.kaggle_csv import KaggleCsvTweetSource

        return KaggleCsvTweetSource(directory=_need_dir("kaggle_csv", settings.tweets_dir, "FINPULSE_TWEETS_DIR"))
    if settings.tweet_source == LANDING_SOURCE:
        from finpulse_assets.sources.s3_landing import S3LandingTweetSource

        return S3LandingTweetSource(landing=s3_landing("tweets", "FINPULSE_TWEET_SOURCE"))
    raise ValueError(f"FINPULSE_TWEET_SOURCE={settings.tweet_source!r}: expected one of {TWEET_SOURCES}")


def price_source(settings: Settings) -> PriceSource:
    if settings.price_source == "demo":
        from finpulse_assets.sources.demo import DemoPriceSource

        return DemoPriceSource(seed=settings.demo_seed, tickers=list(settings.tickers),
                               start=settings.start, end=settings.end)
    if settings.price_source == "yahoo_csv":
        from finpulse_assets.sources.yahoo_csv import YahooCsvPriceSource

        return YahooCsvPriceSource(directory=_need_dir("yahoo_csv", settings.prices_dir, "FINPULSE_PRICES_DIR"),
                                   date_order=settings.price_date_order)
    if settings.price_source == "yfinance":
        from finpulse_assets.sources.yfinance_source import YFinancePriceSource

        return YFinancePriceSource(tickers=list(settings.tickers))
    if settings.price_source == LANDING_SOURCE:
        from finpulse_assets.sources.s3_landing import S3LandingPriceSource

        return S3LandingPriceSource(landing=s3_landing("prices", "FINPULSE_PRICE_SOURCE"))
    raise ValueError(f"FINPULSE_PRICE_SOURCE={settings.price_source!r}: expected one of {PRICE_SOURCES}")
