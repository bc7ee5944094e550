"""The partition-aware Delta IO manager: one commit per run, single partitions, range loads, atomic writes."""

import json
from pathlib import Path
from datetime import date

import duckdb
import pandas as pd
import pytest
from dagster import (
    AssetIn,
    DailyPartitionsDefinition,
    DagsterInstance,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    asset,
    materialize,
)
from deltalake import DeltaTable

from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets.partitions import parse_keys, range_tags

PARTS = MultiPartitionsDefinition({
    "date": DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11"),
    "ticker": StaticPartitionsDefinition(["AAA", "BBB"]),
})


def _frames(context, value: float):
    return {str(p.key): pd.DataFrame({"ticker": [p.ticker], "date": [p.day.isoformat()], "v": [value],
                                      "at": [pd.Timestamp(p.day, tz="UTC")]})
            for p in parse_keys(context.partition_keys)}


@asset(partitions_def=PARTS)
def numbers(context):
    return _frames(context, float(context.run.tags.get("value", 1.0)))


@asset(partitions_def=PARTS)
def broken_numbers(context):
    frames = _frames(context, 2.0)
    # A value Arrow cannot store makes the write of one partition fail.
    frames[next(iter(frames))] = pd.DataFrame({"ticker": ["AAA"], "v": [object()]})
    return frames


@asset(partitions_def=PARTS, ins={"numbers": AssetIn()})
def doubled(context, numbers: pd.DataFrame):
    out = numbers.assign(v=numbers["v"] * 2)
    return {k: out[(out.ticker == p.ticker) & (out.date == p.day.isoformat())]
            for k, p in zip(context.partition_keys, parse_keys(context.partition_keys))}


def _range_tags(ticker, first, last, **extra):
    return {**range_tags(ticker, first, last), **extra}


def _stored(tmp_path, name) -> pd.DataFrame:
    return DeltaTable(str(tmp_path / name)).to_pandas().sort_values(["ticker", "day"]).reset_index(drop=True)


def test_one_commit_per_run_and_range_load(tmp_path):
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    result = materialize([numbers, doubled], resources={"io_manager": io}, instance=instance,
                         tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 5)))
    assert result.success
    table = DeltaTable(str(tmp_path / "numbers"))
    assert table.version() == 0 and len(table.file_uris()) == 1  # five partitions, one commit, one file
    stored = _stored(tmp_path, "numbers")
    assert [d.isoformat() for d in stored["day"]] == [f"2024-01-0{d}" for d in range(1, 6)]
    assert set(stored["ticker"]) == {"AAA"}
    doubled_rows = _stored(tmp_path, "doubled")
    assert doubled_rows.loc[doubled_rows["day"] == date(2024, 1, 3), "v"].tolist() == [2.0]
    assert str(doubled_rows["at"].dt.tz) == "UTC"


def test_single_partition_key(tmp_path):
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    assert materialize([numbers], resources={"io_manager": io}, instance=instance,
                       tags=_range_tags("BBB", date(2024, 1, 1), date(2024, 1, 10))).success
    result = materialize([numbers], resources={"io_manager": io}, instance=instance, partition_key="2024-01-07|BBB",
                         tags={"value": "5"})
    assert result.success
    stored = _stored(tmp_path, "numbers")
    assert stored.loc[stored["day"] == date(2024, 1, 7), "v"].tolist() == [5.0]
    assert (stored.loc[stored["day"] != date(2024, 1, 7), "v"] == 1.0).all() and len(stored) == 10
    one = materialize([numbers, doubled], resources={"io_manager": io}, instance=instance,
                      partition_key="2024-01-07|BBB", selection=[doubled])
    assert one.success
    assert _stored(tmp_path, "doubled")["v"].tolist() == [10.0]


def test_whole_asset_reads_as_one_table_in_pandas_and_duckdb(tmp_path):
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    for ticker in ["AAA", "BBB"]:
        assert materialize([numbers], resources={"io_manager": io}, instance=instance,
                           tags=_range_tags(ticker, date(2024, 1, 1), date(2024, 1, 10))).success
    dataset = DeltaTable(str(tmp_path / "numbers")).to_pyarrow_dataset()  # noqa: F841 (scanned by DuckDB by name)
    counts = duckdb.sql("select ticker, count(distinct day) from dataset group by ticker order by ticker").fetchall()
    assert counts == [("AAA", 10), ("BBB", 10)]


def test_failed_write_leaves_earlier_partitions_intact(tmp_path):
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    tags = _range_tags("AAA", date(2024, 1, 1), date(2024, 1, 3))
    assert materialize([numbers], resources={"io_manager": io}, instance=instance, tags=tags).success
    before, version = _stored(tmp_path, "numbers"), DeltaTable(str(tmp_path / "numbers")).version()

    # Same asset key, a run whose output cannot be written completely.
    broken = broken_numbers.with_attributes(asset_key_replacements={broken_numbers.key: numbers.key})
    result = materialize([broken], resources={"io_manager": io}, instance=instance, tags=tags, raise_on_error=False)
    assert not result.success
    pd.testing.assert_frame_equal(_stored(tmp_path, "numbers"), before)
    assert DeltaTable(str(tmp_path / "numbers")).version() == version
    assert not list((tmp_path / "numbers").rglob("*.tmp"))


def test_partitioned_output_must_be_a_mapping(tmp_path):
    @asset(partitions_def=PARTS, name="numbers")
    def not_a_mapping(context):
        return pd.DataFrame({"v": [1.0]})

    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    with pytest.raises(TypeError, match="must return"):
        materialize([not_a_mapping], resources={"io_manager": io}, partition_key="2024-01-02|AAA")


def test_unpartitioned_json_and_parquet(tmp_path):
    @asset
    def model_card():
        return {"version": 3}

    @asset
    def table():
        return pd.DataFrame({"a": [1, 2]})

    @asset
    def reader(model_card: dict, table: pd.DataFrame):
        return {"version": model_card["version"], "rows": len(table)}

    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    assert materialize([model_card, table, reader], resources={"io_manager": io}).success
    assert (tmp_path / "reader.json").read_text().count('"rows": 2') == 1


def test_read_all_returns_the_current_rows_once_each_in_key_order(tmp_path):
    """What data_stage_only reads: a rewritten partition counts once, with its new value (its old file stays)."""
    from finpulse_assets.evaluation.data_stage_only import stored
    from finpulse_assets.storage.ticker_day_table import TickerDayTable

    io = PartitionedDeltaIOManager(base_dir=str(tmp_path / "assets"))
    instance = DagsterInstance.ephemeral()
    for ticker in ["BBB", "AAA"]:
        assert materialize([numbers], resources={"io_manager": io}, instance=instance,
                           tags=_range_tags(ticker, date(2024, 1, 1), date(2024, 1, 4))).success
    assert materialize([numbers], resources={"io_manager": io}, instance=instance, partition_key="2024-01-02|AAA",
                       tags={"value": "7"}).success
    rows = TickerDayTable(str(tmp_path / "assets" / "numbers")).read_all()
    assert "day" not in rows.columns and len(rows) == 8
    assert list(zip(rows["ticker"], rows["date"])) == [(t, f"2024-01-0{d}") for t in ("AAA", "BBB") for d in range(1, 5)]
    assert rows["v"].tolist() == [1.0, 7.0, 1.0, 1.0] + [1.0] * 4
    pd.testing.assert_frame_equal(stored(tmp_path, "numbers"), rows)
    assert TickerDayTable(str(tmp_path / "none")).read_all().empty
    with pytest.raises(SystemExit, match="holds no partitions"):
        stored(tmp_path, "none")


def test_a_copied_storage_folder_loads_its_own_model_paths(tmp_path):
    """Paths inside the storage folder are stored relative to it: a copy of the folder points at its own files."""
    import shutil

    from dagster import Definitions, asset, materialize

    storage = tmp_path / "storage"
    model_dir = storage / "models" / "lstm" / "v1"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text("{}")

    @asset
    def lstm_card():
        return {"model_dir": str(model_dir), "models": {"*": {"dir": str(model_dir / "pooled")}},
                "elsewhere": "/opt/models/x", "note": "not a path"}

    io = PartitionedDeltaIOManager(base_dir=str(storage / "assets"))
    assert materialize([lstm_card], resources={"io_manager": io}).success
    stored = json.loads((storage / "assets" / "lstm_card.json").read_text())
    assert stored["model_dir"] == str(model_dir) and stored["_finpulse_storage_root"] == str(storage.resolve())
    copy = tmp_path / "copy" / "storage"
    shutil.copytree(storage, copy)
    defs = Definitions(assets=[lstm_card], resources={"io_manager": PartitionedDeltaIOManager(base_dir=str(copy / "assets"))})
    # An ephemeral instance: the test must not read whatever DAGSTER_HOME the shell exports.
    card = defs.load_asset_value("lstm_card", instance=DagsterInstance.ephemeral())
    assert card["model_dir"] == str(copy.resolve() / "models" / "lstm" / "v1")
    assert card["models"]["*"]["dir"] == str(model_dir / "pooled")  # the copy has no such folder: left as stored
    assert Path(card["model_dir"], "config.json").exists()
    assert card["elsewhere"] == "/opt/models/x" and card["note"] == "not a path" and "_finpulse_storage_root" not in card
