"""Monitoring and automation settings, read from FINPULSE_* environment variables.

The drift defaults were chosen on the demo market (docs/operations.md, "Monitoring and
automation"): with 20-day windows and K-S at p <= 0.01, no out-of-training day
before the demo's regime shift reached a drift share of 0.5 or a sentiment
drift share of 0.3; days after it did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number") from None


@dataclass(frozen=True)
class MonitoringSettings:
    drift_share_threshold: float = 0.5  # share of all model inputs drifted -> retrain the forecaster
    sentiment_drift_share_threshold: float = 0.3  # share of the sentiment inputs drifted -> retrain FinBERT too
    retrain_cooldown_hours: float = 24.0  # at most one sensor-launched retrain per job in this time
    max_days_per_run: int = 400  # the new-data sensor's batch size (days per ticker per run)
    reports_url: str = "http://127.0.0.1:3001"  # where `make ui` serves storage/reports

    @classmethod
    def from_env(cls) -> "MonitoringSettings":
        settings = cls(
            drift_share_threshold=_float("FINPULSE_DRIFT_SHARE_THRESHOLD", cls.drift_share_threshold),
            sentiment_drift_share_threshold=_float("FINPULSE_SENTIMENT_DRIFT_SHARE_THRESHOLD",
                                                   cls.sentiment_drift_share_threshold),
            retrain_cooldown_hours=_float("FINPULSE_RETRAIN_COOLDOWN_HOURS", cls.retrain_cooldown_hours),
            max_days_per_run=int(_float("FINPULSE_MAX_DAYS_PER_RUN", cls.max_days_per_run)),
            reports_url=os.environ.get("FINPULSE_REPORTS_URL", "").strip() or cls.reports_url,
        )
        for name in ("drift_share_threshold", "sentiment_drift_share_threshold"):
            if not 0.0 < getattr(settings, name) <= 1.0:
                raise ValueError(f"{name}={getattr(settings, name)}: expected a share in (0, 1]")
        if settings.retrain_cooldown_hours < 0 or settings.max_days_per_run < 1:
            raise ValueError("retrain_cooldown_hours must be >= 0 and max_days_per_run >= 1")
        return settings
