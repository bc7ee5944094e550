"""Reading an Evidently 0.7 data drift snapshot (`DataDriftPreset` or its metrics listed) (`Snapshot.dict()`) into plain numbers.

The snapshot lists metrics by display name: one `DriftedColumnsCount` (count and
share of drifted columns) and one `ValueDrift` per column whose value is the
test's score. Whether a column drifted is not stored: it depends on the test
(p-values drift at or below the threshold, distances at or above it), so it is
derived here and cross-checked against `DriftedColumnsCount`; a snapshot that
disagrees or lacks either metric raises rather than returning a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

DRIFT_COUNT_TYPE = "evidently:metric_v2:DriftedColumnsCount"
VALUE_DRIFT_TYPE = "evidently:metric_v2:ValueDrift"
# Evidently tests whose score is a p-value (drift when score <= threshold); all others are distances.
# A method set in the preset keeps its registry name ("ks"), an automatic one its display name ("K-S p_value").
P_VALUE_TESTS = {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "es", "fisher_exact", "g_test", "mannw",
                 "t_test", "empirical_mmd", "TVD", "Anderson-Darling", "Cramer-von Mises", "Epps-Singleton",
                 "Fisher's Exact test", "Mann-Whitney U-rank test", "Total-Variation-Distance"}


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftSummary:
    drift_share: float  # share of the columns that drifted
    drifted_count: int
    columns: dict[str, ColumnDrift]

    @property
    def drifted_columns(self) -> list[str]:
        return sorted(c for c, d in self.columns.items() if d.drifted)

    def share_of(self, columns) -> float:
        """Share of `columns` that drifted (columns not in the report raise KeyError)."""
        columns = list(columns)
        return float(sum(bool(self.columns[c].drifted) for c in columns) / len(columns)) if columns else 0.0


def _is_p_value(method: str) -> bool:
    return "p_value" in method or method in P_VALUE_TESTS


def parse_drift_snapshot(snapshot: dict) -> DriftSummary:
    """`Snapshot.dict()` of a data drift Report -> DriftSummary."""
    metrics = snapshot.get("metrics") if isinstance(snapshot, dict) else None
    if not isinstance(metrics, list):
        raise ValueError(f"not an Evidently snapshot: expected a dict with a 'metrics' list, got {type(snapshot).__name__}")
    counts = [m for m in metrics if m.get("config", {}).get("type") == DRIFT_COUNT_TYPE]
    if len(counts) != 1:
        raise ValueError(f"Evidently snapshot has {len(counts)} DriftedColumnsCount metrics, expected 1 "
                         "(was the report run with DataDriftPreset or DriftedColumnsCount?)")
    columns = {}
    for metric in metrics:
        config = metric.get("config", {})
        if config.get("type") != VALUE_DRIFT_TYPE:
            continue
        method, score, threshold = config.get("method"), metric.get("value"), config.get("threshold")
        if method is None or threshold is None or not isinstance(score, (int, float)):
            raise ValueError(f"Evidently ValueDrift for column {config.get('column')!r} lacks method, threshold "
                             f"or a numeric value: {metric}")
        drifted = bool(score <= threshold if _is_p_value(method) else score >= threshold)
        columns[config["column"]] = ColumnDrift(config["column"], method, float(score), float(threshold), drifted)
    if not columns:
        raise ValueError("Evidently snapshot has no ValueDrift metrics: no column was tested")
    count = int(counts[0]["value"]["count"])
    share = float(counts[0]["value"]["share"])
    derived = sum(d.drifted for d in columns.values())
    if derived != count:
        raise ValueError(f"Evidently snapshot says {count} drifted columns, its ValueDrift scores give {derived}: "
                         "unknown test direction or a changed snapshot format")
    return DriftSummary(drift_share=share, drifted_count=count, columns=columns)
