"""Two concurrent runs over the same ticker with different prices: storage ends consistent, never interleaved."""

import threading
from datetime import date

import pandas as pd
from dagster import DagsterInstance, InputContext, materialize

from finpulse_assets.assets.prices import build_price_assets
from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import range_tags, ticker_day_partitions, ticker_partitions
from finpulse_assets.settings import Settings
from finpulse_assets_tests.fakes import FakePriceSource, price_rows
from finpulse_assets_tests.stored import stored_ticker

SETTINGS = Settings(start="2024-01-01", end="2024-04-01", tickers=("AAA",))
ASSETS = build_price_assets(ticker_day_partitions(SETTINGS))
A_LOADED, B_DONE = threading.Event(), threading.Event()


class PausingIOManager(PartitionedDeltaIOManager):
    """Run A's price_features pauses after reading raw_prices, until run B has finished."""

    def load_input(self, context: InputContext):
        frame = super().load_input(context)
        A_LOADED.set()
        assert B_DONE.wait(120)
        return frame


def _run(base, io_manager, scale):
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ticker_partitions.name, ["AAA"])
        return materialize(ASSETS, instance=instance, raise_on_error=False,
                           resources={"io_manager": io_manager,
                                      "price_source": FakePriceSource(rows=price_rows(tickers=("AAA",), scale=scale))},
                           tags=range_tags("AAA", date(2024, 1, 1), date(2024, 3, 31)))


def _assert_consistent(base):
    """price_features of every day carry the close of the stored raw_prices bar of that day."""
    bars = stored_ticker(base, "raw_prices", "AAA").set_index("date")["close"]
    features = stored_ticker(base, "price_features", "AAA").set_index("date")["close"]
    pd.testing.assert_series_equal(features, bars.loc[features.index])
    return bars


def test_a_run_whose_inputs_were_rewritten_meanwhile_writes_nothing(tmp_path):
    results = {}
    run_a = threading.Thread(target=lambda: results.setdefault(
        "a", _run(tmp_path, PausingIOManager(base_dir=str(tmp_path)), scale=1.0)))
    run_a.start()
    assert A_LOADED.wait(120)  # A stored its raw_prices and read them for price_features
    results["b"] = _run(tmp_path, PartitionedDeltaIOManager(base_dir=str(tmp_path)), scale=2.0)
    B_DONE.set()
    run_a.join(120)

    assert results["b"].success and not results["a"].success
    failure = next(e for e in results["a"].all_events if e.event_type_value == "STEP_FAILURE")
    assert failure.step_key == "price_features"
    assert "raw_prices (AAA) was rewritten by run" in str(failure.event_specific_data.error)
    bars = _assert_consistent(tmp_path)
    first_close = price_rows(tickers=("AAA",), scale=2.0)[0]["close"]
    assert bars.iloc[0] == first_close  # B's prices, and B's features from them


def test_free_running_concurrent_runs_end_consistent(tmp_path):
    results = {}
    threads = [threading.Thread(target=lambda s=s: results.setdefault(
        s, _run(tmp_path, PartitionedDeltaIOManager(base_dir=str(tmp_path)), scale=s))) for s in (1.0, 3.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert any(r.success for r in results.values())
    _assert_consistent(tmp_path)
