"""The models behind the service, loaded once: forecasts for request items, sentiment for texts.

`predict` answers per item: a Forecast, or an Unforecastable naming why there is no finite forecast
(a 422 for that request), or the exception that item raised (a 500 for that request). A batch that
fails as a whole is redone one item at a time, so one item never fails the items batched with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finpulse_assets.features.price import MIN_HISTORY_BARS
from finpulse_assets.models.finbert.labels import SENTIMENT_LABELS
from finpulse_assets.models.finbert.scoring import OnnxSentimentScorer
from finpulse_assets.models.lstm.direction import probability_up, scale_for
from finpulse_assets.models.lstm.forecast import ForecastModels
from finpulse_assets.serving.bundle import read_forecaster, read_sentiment
from finpulse_assets.serving.calendar import next_trading_day
from finpulse_assets.serving.history import feature_columns, last_windows
from finpulse_assets.serving.schema import Forecast, ModelLimits, PredictItem, Probabilities, SentimentResult


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unforecastable:
    """A valid item the model gives no finite forecast for, and why."""

    msg: str


Outcome = Forecast | Unforecastable | Exception


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

    def predict(self, items: Sequence[PredictItem]) -> list[Outcome]:
        """One outcome per item, in order; never raises for what one item holds."""
        if not items:
            return []
        try:
            return self._predict_together(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            logger.warning("a batch of %d items failed together (%s); forecasting each alone", len(items),
                           type(exc).__name__)
            return [self.predict([item])[0] for item in items]

    def _predict_together(self, items: Sequence[PredictItem]) -> list[Outcome]:
        features = feature_columns(items, self.scorer)
        windows, found = last_windows(features, items, self.models.feature_columns, self.models.window)
        outcomes: list[Outcome] = [Unforecastable(
            f"no finite feature window: the price features of the last {self.models.window} days are not all "
            "finite numbers (prices moving by more than float32 can hold)")] * len(items)
        if not len(windows):
            return outcomes
        log_return = self.models.predict_log_return(windows, np.array([items[i].ticker for i in np.flatnonzero(found)]))
        with np.errstate(over="ignore", invalid="ignore"):
            predicted_close = windows.close_t * np.exp(log_return.astype(np.float64))
            predicted_return = np.expm1(log_return.astype(np.float64))
        for n, i in enumerate(np.flatnonzero(found)):
            item = items[i]
            if not (np.isfinite(predicted_close[n]) and np.isfinite(predicted_return[n])):
                outcomes[i] = Unforecastable(
                    f"the model's forecast is not a finite number (log return {float(log_return[n])!r} from a "
                    f"last close of {float(windows.close_t[n])!r})")
                continue
            outcomes[i] = Forecast(ticker=item.ticker, date=next_trading_day(item.history[-1].date),
                                   predicted_close=float(predicted_close[n]),
                                   predicted_return=float(predicted_return[n]),
                                   probability_up=self._probability_up(float(log_return[n]), item.ticker),
                                   last_close=float(windows.close_t[n]), model_version=self.models.model_version,
                                   sentiment=sentiment_source(item))
        return outcomes

    def _probability_up(self, log_return: float, ticker: str) -> float | None:
        direction = self.forecaster_manifest.get("direction")
        if not direction:
            return None
        return float(probability_up(log_return, scale_for(direction["scales"], ticker)))

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
