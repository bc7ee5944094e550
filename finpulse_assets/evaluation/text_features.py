"""Daily text components for the evaluation: the day's mean tweet embedding on principal axes.

A 384-dimensional daily mean embedding is too wide for a few thousand samples,
so it is projected on its first principal axes. The axes (and the centring
mean) are fitted on the days before the dev split only: the projection of a
dev or test day uses nothing from the dev or test months. A trading day without
tweets gets zeros on every axis (the train mean), next to its tweet count 0 in
the sentiment features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from finpulse_assets.evaluation.candidates import embedding_columns
from finpulse_assets.evaluation.protocol import Protocol

EMBEDDING_PREFIX = "emb_"
COUNT_COLUMN = "embedded_tweets"


def mean_embedding_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(EMBEDDING_PREFIX)]


def add_text_components(daily_frame: pd.DataFrame, daily_embeddings: pd.DataFrame, protocol: Protocol,
                        n_components: int) -> pd.DataFrame:
    """`daily_frame` (training_set layout) plus text_pc_00.. columns from `daily_embeddings`
    (ticker, trading_day, embedded_tweets, emb_000..: the tweet_embedding_features layout)."""
    columns = mean_embedding_columns(daily_embeddings)
    if not columns:
        raise ValueError("the daily embeddings have no emb_* columns")
    days = daily_embeddings[daily_embeddings[COUNT_COLUMN] > 0].rename(columns={"trading_day": "date"})
    days = days.assign(date=pd.to_datetime(days["date"]))[["ticker", "date", *columns]]
    if days.duplicated(["ticker", "date"]).any():
        raise ValueError("the daily embeddings have more than one row for a (ticker, day)")
    fit_rows = days[days["date"] < pd.Timestamp(protocol.dev_start)][columns].to_numpy(np.float64)
    if len(fit_rows) <= n_components:
        raise ValueError(f"{len(fit_rows)} days with tweets before the dev split: too few to fit "
                         f"{n_components} text components")
    centre = fit_rows.mean(axis=0)
    _, _, axes = np.linalg.svd(fit_rows - centre, full_matrices=False)
    # A principal axis has no sign of its own; fix it so the same data always give the same features.
    axes = axes[:n_components] * np.sign(axes[:n_components, :1] + 1e-300)
    projected = (days[columns].to_numpy(np.float64) - centre) @ axes.T
    names = embedding_columns(n_components)
    components = days[["ticker", "date"]].assign(**{n: projected[:, i].astype(np.float32) for i, n in enumerate(names)})
    base = daily_frame.drop(columns=[c for c in daily_frame if c in names]).assign(
        date=lambda f: pd.to_datetime(f["date"]))
    merged = base.merge(components, on=["ticker", "date"], how="left", validate="one_to_one")
    merged[names] = merged[names].fillna(0.0)
    return merged
