"""The whole command's time left, from per-stage weights rescaled by the stages this run finished.

Before a command starts, each stage has a prior cost: a start plus seconds per asset partition for a
partitioned stage, seconds for a model stage, measured on a fresh `make demo` (PRIOR_*). Every
finished stage then tells how much faster or slower this run is than the prior: the remaining
stages' priors are multiplied by (actual + S) / (prior + S) summed over the finished ones, where S
(SMOOTHING_SECONDS) keeps one short stage from rescaling the whole plan. The running stage adds its
own time left: its rescaled prior less its elapsed time, blended with the extrapolation of its rate
by the share of its units done (partitions arrive in bursts, a step's all at once, so an early rate
says little).
"""

from __future__ import annotations

from collections.abc import Sequence

# A fresh `make demo` on the 2-core machine (3 tickers x 366 days, 2 worker processes, load 2-4): data 106.9 s
# for 4,392 asset partitions, FinBERT 37.6 s, sentiment 74.3 s for 2,196, LSTM 5.6 s, predictions 12.5 s for
# 1,098, monitoring 82.9 s for 252 (a drift report renders its HTML), packaging 1.0 s. The first data
# partitions of 2 tickers x 1 month arrived after 16 s (worker processes start, a step stores its partitions
# at its end): STAGE_START_SECONDS of each partitioned stage, the rest per partition.
STAGE_START_SECONDS = 15.0
PRIOR_SECONDS_PER_PARTITION = {
    "data_assets_job": (106.9 - STAGE_START_SECONDS) / 4392,
    "sentiment_features_job": (74.3 - STAGE_START_SECONDS) / 2196,
    "text_features_job": (74.3 - STAGE_START_SECONDS) / 2196,  # not in the demo: as the FinBERT sentiment stage
    "predictions_job": (12.5 - STAGE_START_SECONDS / 3) / 1098,  # a short stage: the pool is started by then
    "monitoring_job": (82.9 - STAGE_START_SECONDS) / 252,
}
PRIOR_SECONDS = {
    "sentiment_model_job": 37.6,
    "text_model_job": 37.6,  # not in the demo: as FinBERT's
    "forecast_model_job": 5.6,
    "packaging_job": 1.0,
}
DEFAULT_SECONDS = 30.0
SMOOTHING_SECONDS = 30.0


def prior_seconds(job: str, units: int) -> float:
    if job in PRIOR_SECONDS_PER_PARTITION:
        return STAGE_START_SECONDS + PRIOR_SECONDS_PER_PARTITION[job] * units
    return PRIOR_SECONDS.get(job, DEFAULT_SECONDS)


class OverallEstimate:
    """Stages in order as (job, units); `finished` records each stage's seconds as it ends."""

    def __init__(self, stages: Sequence[tuple[str, int]]):
        self.order = [job for job, _ in stages]
        self.prior = {job: prior_seconds(job, units) for job, units in stages}
        self.took: dict[str, float] = {}

    def finished(self, job: str, seconds: float) -> None:
        self.took[job] = seconds

    def scale(self) -> float:
        done = [job for job in self.order if job in self.took]
        actual = sum(self.took[job] for job in done)
        prior = sum(self.prior[job] for job in done)
        return (actual + SMOOTHING_SECONDS) / (prior + SMOOTHING_SECONDS)

    def left(self, job: str, elapsed: float, done_share: float = 0.0, rate_left: float | None = None
             ) -> tuple[float, float]:
        """Seconds left while `job` runs, `elapsed` in, `done_share` of its units done and `rate_left` the
        extrapolation of its rate (None before its first unit): (of this stage, of the stages after it)."""
        scale = self.scale()
        stage_left = max(0.0, self.prior[job] * scale - elapsed)
        if rate_left is not None:
            stage_left = (1.0 - done_share) * stage_left + done_share * rate_left
        later = self.order[self.order.index(job) + 1:]
        return stage_left, scale * sum(self.prior[j] for j in later)
