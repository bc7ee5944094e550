"""cpu_share: a ticker-run worker's share of the cores reaches ONNX Runtime's thread pools."""

import os

import pytest

from finpulse_assets.runs.cpu_share import WORKER_CORES_ENV, worker_cores, worker_share
from finpulse_assets.models.lstm.serving import session_options


def test_cores_are_split_evenly_and_never_below_one(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert [worker_share(n) for n in (1, 2, 4, 3, 32)] == [16, 8, 4, 5, 1]
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert worker_share(4) == 1


@pytest.mark.parametrize("value, expected", [("3", 3), ("", None), ("0", None), ("two", None)])
def test_only_a_positive_share_counts(monkeypatch, value, expected):
    monkeypatch.setenv(WORKER_CORES_ENV, value)
    assert worker_cores() == expected


def test_a_worker_process_sessions_take_its_share_and_an_explicit_setting_wins(monkeypatch):
    monkeypatch.delenv(WORKER_CORES_ENV, raising=False)
    assert session_options().intra_op_num_threads == 0  # ONNX Runtime's default: every core
    monkeypatch.setenv(WORKER_CORES_ENV, "1")
    assert session_options().intra_op_num_threads == 1
    assert session_options(2).intra_op_num_threads == 2
