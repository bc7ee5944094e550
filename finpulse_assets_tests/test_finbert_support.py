"""Pytest side of the tiny FinBERT builders (`finpulse_assets.models.finbert.tiny`): a one-thread fixture."""

from __future__ import annotations

import pytest

from finpulse_assets.models.finbert.tiny import (  # noqa: F401 (re-exported for the tests)
    FILLER, NEGATIVE_WORDS, NEUTRAL_WORDS, POSITIVE_WORDS, build_tiny_model, labelled_frame, sample_texts,
)


@pytest.fixture(scope="module")
def single_thread_torch():
    """One torch thread for the tiny model: it gains nothing from more, and on a busy 2-core
    machine spinning OpenMP threads made single runs take 10x longer. Restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
