"""Evidently snapshot parsing, against real Report runs on small frames, and the HTML the reports write."""

import numpy as np
import pandas as pd
import pytest

from finpulse_assets.monitoring.drift import drift_inputs, run_drift_report
from finpulse_assets.monitoring.evidently_parsing import parse_drift_snapshot
from finpulse_assets.monitoring.report_store import LIBRARY_FILE, ReportStore

COLUMNS = ["a", "b", "c", "d"]


def frames(shift: dict[str, float], seed: int = 0, rows: int = 40):
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
    current = pd.DataFrame(rng.normal(size=(rows, 4)), columns=COLUMNS)
    for column, by in shift.items():
        current[column] += by
    return current, reference


@pytest.fixture(scope="module")
def shifted_report():
    current, reference = frames({"a": 3.0, "b": 3.0})
    return run_drift_report(current, reference, COLUMNS)


def test_shifted_columns_drift_and_the_others_do_not(shifted_report):
    _, summary = shifted_report
    assert summary.drifted_columns == ["a", "b"]
    assert summary.drifted_count == 2 and summary.drift_share == pytest.approx(0.5)
    assert summary.share_of(["a", "c"]) == pytest.approx(0.5)
    assert {d.method for d in summary.columns.values()} == {"ks"}
    assert summary.columns["a"].score < 1e-6 and summary.columns["c"].score > 0.01


def test_identical_distributions_do_not_drift():
    current, reference = frames({}, seed=1)
    _, summary = run_drift_report(current, reference, COLUMNS)
    assert summary.drifted_count == 0 and summary.drift_share == 0.0


def test_an_automatic_distance_method_is_read_in_its_own_direction():
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    current, reference = frames({"a": 3.0}, rows=2000)  # a distance needs many rows to settle
    definition = DataDefinition(numerical_columns=COLUMNS)
    snapshot = Report([DataDriftPreset(method="wasserstein")]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition))
    summary = parse_drift_snapshot(snapshot.dict())
    assert summary.drifted_columns == ["a"] and summary.columns["a"].score >= summary.columns["a"].threshold


def test_bad_snapshots_raise_naming_what_is_wrong(shifted_report):
    snapshot = shifted_report[0].dict()
    with pytest.raises(ValueError, match="not an Evidently snapshot"):
        parse_drift_snapshot([1, 2])
    no_count = {"metrics": [m for m in snapshot["metrics"] if "DriftedColumnsCount" not in m["config"]["type"]]}
    with pytest.raises(ValueError, match="0 DriftedColumnsCount"):
        parse_drift_snapshot(no_count)
    lying = {"metrics": [dict(m, value={"count": 3.0, "share": 0.75}) if "DriftedColumnsCount" in m["config"]["type"]
                         else m for m in snapshot["metrics"]]}
    with pytest.raises(ValueError, match="says 3 drifted columns, its ValueDrift scores give 2"):
        parse_drift_snapshot(lying)


def test_missing_columns_are_named():
    current, reference = frames({})
    with pytest.raises(ValueError, match=r"\['e'\]"):
        run_drift_report(current, reference, COLUMNS + ["e"])


def test_the_window_and_reference_never_read_after_the_day():
    days = pd.bdate_range("2024-01-01", periods=60)
    features = pd.DataFrame({"ticker": "AAA", "date": days, "a": range(60)})
    inputs = drift_inputs(features, features, "AAA", days[40].date(), 10, reference_end=days[50].date())
    assert inputs.current["date"].max() == days[40] and len(inputs.current) == 10
    assert inputs.reference["date"].max() < inputs.current["date"].min()
    assert inputs.window_start == days[31].date()


def test_the_html_links_one_shared_library(shifted_report, tmp_path):
    store = ReportStore(base_dir=str(tmp_path), base_url="http://reports")
    path = store.write_snapshot_html(shifted_report[0], store.drift_report_path("AAA", pd.Timestamp("2024-03-01").date()))
    page = path.read_text()
    assert (tmp_path / LIBRARY_FILE).stat().st_size > 1_000_000
    assert f'<script src="../../{LIBRARY_FILE}"></script>' in page and path.stat().st_size < 1_500_000
    assert store.url_for(path) == "http://reports/drift_report/ticker=AAA/2024-03-01.html"
