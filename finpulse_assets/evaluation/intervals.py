"""95 % confidence intervals for accuracy and MCC by bootstrap over test days.

Whole target days are resampled (with replacement), all tickers of a day
together: returns of one day move together across tickers, so resampling
single (ticker, day) samples would treat correlated samples as independent and
give intervals that are too narrow. Each resample's accuracy and MCC come from
its confusion matrix, built as a weighted sum of per-day confusion counts, so
2,000 resamples cost one matrix product. Differences between two variants
(`paired_difference`) use the same resampled days for both, which is what
makes a gain measurable or not.
"""

from __future__ import annotations

import numpy as np

from finpulse_assets.evaluation.protocol import LEFT_OUT, UP

N_RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


def day_confusion(days: np.ndarray, label: np.ndarray, predicted_up: np.ndarray,
                  all_days: np.ndarray) -> np.ndarray:
    """[n_days, 4] counts of (TP, FP, TN, FN) per day of `all_days` over the labelled samples."""
    keep = np.asarray(label) != LEFT_OUT
    actual, predicted = np.asarray(label)[keep] == UP, np.asarray(predicted_up, dtype=bool)[keep]
    index = np.searchsorted(all_days, np.asarray(days)[keep])
    cells = np.select([actual & predicted, ~actual & predicted, ~actual & ~predicted], [0, 1, 2], 3)
    counts = np.zeros((len(all_days), 4))
    np.add.at(counts, (index, cells), 1.0)
    return counts


def accuracy_and_mcc(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and MCC of confusion counts [..., 4] (TP, FP, TN, FN); MCC 0 where a margin is empty."""
    tp, fp, tn, fn = (counts[..., i] for i in range(4))
    n = counts.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, (tp + tn) / n, np.nan)
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(denominator > 0, (tp * tn - fp * fn) / denominator, 0.0)
    return accuracy, mcc


def resample_weights(n_days: int, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[n_resamples, n_days]: how often each day is drawn in each resample."""
    if n_days < 2:
        raise ValueError(f"a bootstrap over days needs at least 2 test days, got {n_days}")
    draws = np.random.default_rng(seed).integers(0, n_days, size=(n_resamples, n_days))
    return np.stack([np.bincount(row, minlength=n_days) for row in draws]).astype(float)


def _interval(values: np.ndarray, level: float) -> list[float]:
    tail = (1 - level) / 2 * 100
    return [float(v) for v in np.nanpercentile(values, [tail, 100 - tail])]


def bootstrap(days: np.ndarray, label: np.ndarray, predictions: dict[str, np.ndarray],
              pairs: list[tuple[str, str]] = (), n_resamples: int = N_RESAMPLES, seed: int = SEED,
              level: float = LEVEL) -> dict:
    """{"variants": {name: {"accuracy_ci", "mcc_ci"}}, "differences": {"a - b": {...}}, "settings": {...}}.

    days, label: one entry per scored sample; predictions: {variant: predicted up, per sample}.
    A difference "a - b" is variant a's metric minus b's on the same resampled days.
    """
    all_days = np.unique(np.asarray(days))
    weights = resample_weights(len(all_days), n_resamples, seed)
    draws = {}
    for name, predicted in predictions.items():
        if len(predicted) != len(label):
            raise ValueError(f"{name}: {len(predicted)} predictions for {len(label)} samples")
        draws[name] = accuracy_and_mcc(weights @ day_confusion(days, label, predicted, all_days))
    out = {"variants": {name: {"accuracy_ci": _interval(acc, level), "mcc_ci": _interval(mcc, level)}
                        for name, (acc, mcc) in draws.items()}, "differences": {}}
    for a, b in pairs:
        (acc_a, mcc_a), (acc_b, mcc_b) = draws[a], draws[b]
        out["differences"][f"{a} - {b}"] = {
            "accuracy_ci": _interval(acc_a - acc_b, level), "mcc_ci": _interval(mcc_a - mcc_b, level),
            "share_of_resamples_mcc_a_above_b": float(np.mean(mcc_a > mcc_b))}
    out["settings"] = {"resampled": "test days (all tickers of a day together)", "n_days": int(len(all_days)),
                       "n_resamples": n_resamples, "seed": seed, "level": level, "method": "percentile"}
    return out
