"""training_set: price features and daily sentiment features joined, one row per ticker x trading day."""


import pandas as pd
from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from finpulse_assets.assets.partitioned import schema_check, schema_check_spec
from finpulse_assets.features.training_set import SENTIMENT_FEATURE_COLUMNS, TWEET_COUNT_COLUMN, join_features
from finpulse_assets.assets.schemas import TrainingSet


def build_training_assets():
    @asset(
        ins={"price_features": AssetIn(), "sentiment_features": AssetIn()},
        check_specs=[schema_check_spec("training_set")],
        group_name="forecasting",
        kinds={"pandas", "parquet"},
    )
    def training_set(context: AssetExecutionContext, price_features: pd.DataFrame, sentiment_features: pd.DataFrame):
        """Every stored price_features row joined with the sentiment_features row of the same ticker and day.

        Feature columns of day t are known at t's 16:00 close: price features use
        bars up to t, sentiment features tweets posted up to t's close. The
        `target_*` columns (the next trading day's close and return) are the
        labels. lstm_model cuts this table into windows of N consecutive trading
        days per ticker and splits them by date into train, validation and test
        (N and the split are its configuration). Unpartitioned: it is the one
        table a training run reads.
        """
        if price_features.empty or sentiment_features.empty:
            missing = "price_features" if price_features.empty else "sentiment_features"
            raise ValueError(f"training_set: {missing} has no stored rows; materialize it first")
        joined, stats = join_features(price_features, sentiment_features)
        if stats["price_rows_without_sentiment"]:
            context.log.warning(f"{stats['price_rows_without_sentiment']} price rows have no sentiment_features row "
                                "(not materialized?) and are left out")
        dates = pd.to_datetime(joined["date"])
        shown = joined.head(3)[["ticker", "date", "close", *SENTIMENT_FEATURE_COLUMNS, "target_return"]]
        yield Output(joined, metadata={
            "rows": len(joined),
            "tickers": ", ".join(sorted(joined["ticker"].unique())),
            "first_date": str(dates.min().date()) if len(joined) else "",
            "last_date": str(dates.max().date()) if len(joined) else "",
            "rows_with_complete_history": int(joined["history_complete"].sum()),
            "rows_with_target": int(joined["target_return"].notna().sum()),
            "tweet_free_trading_days": int((joined[TWEET_COUNT_COLUMN] == 0).sum()),
            "join": MetadataValue.json(stats),
            "preview": MetadataValue.md(shown.to_markdown(index=False)),
        })
        yield schema_check(joined, TrainingSet)

    return [training_set]
