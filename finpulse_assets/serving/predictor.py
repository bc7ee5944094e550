"""The models behind the service, loaded once: forecasts for request items, sentiment for texts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from finpulse_assets.features.price import MIN_HISTORY_BARS
from finpulse_assets.market_calendar import next_trading_day
from finpulse_assets.models.finbert.labels import SENTIMENT_LABELS
from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
from finpulse_assets.models.lstm.forecast import ForecastModels
from finpulse_assets.serving.bundle import read_forecaster, read_sentiment
from finpulse_assets.serving.history import feature_rows, last_windows
from finpulse_assets.serving.schema import Forecast, ModelLimits, PredictItem, Probabilities, SentimentResult


class Predictor:
    """ONNX Runtime sessions (CPU execution provider) for the forecaster and the int8 sentiment model."""

    def __init__(self, forecaster_dir: str | Path, sentiment_dir: str | Path, intra_op_num_threads: int = 1):
        self.forecaster_manifest = read_forecaster(forecaster_dir)
        self.sentiment_manifest = read_sentiment(sentiment_dir)
        self.models = ForecastModels(self.forecaster_manifest, intra_op_num_threads=intra_op_num_threads)
        self.scorer = OnnxSentimentScorer(sentiment_dir, model_file=self.sentiment_manifest["int8_file"],
                                          intra_op_num_threads=intra_op_num_threads)
        self.limits = ModelLimits(history_days=self.models.window + MIN_HISTORY_BARS - 1,
                                  tickers=frozenset(self.forecaster_manifest["tickers"]))

    @property
    def model_versions(self) -> dict[str, str]:
        return {"forecaster": self.models.model_version, "sentiment": self.sentiment_manifest["version"]}

    def predict(self, items: Sequence[PredictItem]) -> list[Forecast]:
        if not items:
            return []
        features = feature_rows(items, self.scorer)
        windows = last_windows(features, items, self.models.feature_columns, self.models.window)
        tickers = np.array([item.ticker for item in items])
        log_return = self.models.predict_log_return(windows, tickers)
        return [Forecast(ticker=item.ticker, date=next_trading_day(item.history[-1].date),
                         predicted_close=float(close * np.exp(r)), predicted_return=float(np.expm1(r)),
                         last_close=float(close), model_version=self.models.model_version,
                         sentiment=sentiment_source(item))
                for item, close, r in zip(items, windows.close_t, log_return)]

    def sentiment(self, texts: Sequence[str]) -> list[SentimentResult]:
        probs = self.scorer.score(list(texts))
        return [SentimentResult(label=SENTIMENT_LABELS[int(row.argmax())],
                                probabilities=Probabilities(**dict(zip(SENTIMENT_LABELS, map(float, row)))))
                for row in probs]


def sentiment_source(item: PredictItem) -> str:
    days = sum(1 for bar in item.history if bar.texts)
    if not days:
        return "neutral: no texts given, every day's sentiment features are the no-tweet values"
    texts = sum(len(bar.texts) for bar in item.history if bar.texts)
    return f"scored {texts} texts on {days} of {len(item.history)} days; days without texts count as neutral"
