"""Runs of different tickers committing to one Delta table at the same moment (as the queued deployment's
concurrent runs and the CLI's parallel ticker runs do): from separate processes, on a table that does not
exist yet and on one that does, every ticker's partitions survive."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date

import pandas as pd
import pytest

from finpulse_assets.partitions import TickerDay
from finpulse_assets.storage.ticker_day_table import TickerDayTable

TICKERS = ("AAA", "BBB", "CCC")


def _write(uri: str, ticker: str, value: float, barrier) -> int:
    frames = {TickerDay(ticker, date(2024, 1, d)): pd.DataFrame({"x": [value + d]}) for d in range(2, 6)}
    barrier.wait()  # every process commits at once
    return TickerDayTable(uri).write_run(frames, f"run-{ticker}-{value}")


def _write_together(uri: str, value: float) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(len(TICKERS))
        # Not multiprocessing.Pool: its exit SIGTERMs the workers, and a worker spawned after an in-process Dagster
        # run from a shell that ignores SIGINT inherits an ignored SIGTERM (Dagster maps SIGTERM to SIGINT's
        # handler), so the exit would wait forever. The executor's shutdown asks its workers to exit.
        with ProcessPoolExecutor(len(TICKERS), mp_context=context) as pool:
            list(pool.map(_write, [uri] * len(TICKERS), TICKERS, [value] * len(TICKERS), [barrier] * len(TICKERS)))


@pytest.mark.parametrize("attempt", range(3))
def test_concurrent_first_and_later_commits_keep_every_ticker(tmp_path, attempt):
    uri = str(tmp_path / "raw_prices")
    _write_together(uri, 100.0)  # the table's creation, raced
    stored = TickerDayTable(uri).read_all()
    assert sorted(stored["ticker"].unique()) == list(TICKERS) and len(stored) == 4 * len(TICKERS)
    _write_together(uri, 200.0)  # replace-where commits, raced
    stored = TickerDayTable(uri).read_all()
    assert len(stored) == 4 * len(TICKERS)
    assert sorted(stored["x"]) == sorted(200.0 + d for d in range(2, 6) for _ in TICKERS)
