"""The partition-aware Parquet IO manager: per-partition files, range loads, atomic writes."""

from datetime import date

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
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from finpulse_assets.io_managers.parquet import PartitionedParquetIOManager
from finpulse_assets.partitions import key_for, parse_keys

PARTS = MultiPartitionsDefinition({
    "date": DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11"),
    "ticker": StaticPartitionsDefinition(["AAA", "BBB"]),
})


def _frames(context, value: float):
    return {str(p.key): pd.DataFrame({"ticker": [p.ticker], "day": [p.day.isoformat()], "v": [value]})
            for p in parse_keys(context.partition_keys)}


@asset(partitions_def=PARTS)
def numbers(context):
    return _frames(context, float(context.run.tags.get("value", 1.0)))


@asset(partitions_def=PARTS)
def broken_numbers(context):
    frames = _frames(context, 2.0)
    # A value parquet cannot store makes the write of one partition fail.
    frames[next(iter(frames))] = pd.DataFrame({"v": [object()]})
    return frames


@asset(partitions_def=PARTS, ins={"numbers": AssetIn()})
def doubled(context, numbers: pd.DataFrame):
    out = numbers.assign(v=numbers["v"] * 2)
    return {k: out[(out.ticker == p.ticker) & (out.day == p.day.isoformat())]
            for k, p in zip(context.partition_keys, parse_keys(context.partition_keys))}


def _range_tags(ticker, first, last, **extra):
    return {ASSET_PARTITION_RANGE_START_TAG: key_for(ticker, first),
            ASSET_PARTITION_RANGE_END_TAG: key_for(ticker, last), **extra}


def test_one_file_per_partition_and_range_load(tmp_path):
    io = PartitionedParquetIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    result = materialize([numbers, doubled], resources={"io_manager": io}, instance=instance,
                         tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 5)))
    assert result.success
    files = sorted((tmp_path / "numbers" / "ticker=AAA").glob("*.parquet"))
    assert [f.stem for f in files] == [f"2024-01-0{d}" for d in range(1, 6)]
    assert not (tmp_path / "numbers" / "ticker=BBB").exists()
    loaded = pd.read_parquet(tmp_path / "doubled" / "ticker=AAA" / "2024-01-03.parquet")
    assert loaded["v"].tolist() == [2.0]


def test_single_partition_key(tmp_path):
    io = PartitionedParquetIOManager(base_dir=str(tmp_path))
    result = materialize([numbers], resources={"io_manager": io}, partition_key="2024-01-07|BBB")
    assert result.success
    assert (tmp_path / "numbers" / "ticker=BBB" / "2024-01-07.parquet").exists()


def test_failed_write_leaves_earlier_partitions_intact(tmp_path):
    io = PartitionedParquetIOManager(base_dir=str(tmp_path))
    instance = DagsterInstance.ephemeral()
    tags = _range_tags("AAA", date(2024, 1, 1), date(2024, 1, 3))
    assert materialize([numbers], resources={"io_manager": io}, instance=instance, tags=tags).success
    before = {p.name: p.read_bytes() for p in (tmp_path / "numbers" / "ticker=AAA").glob("*.parquet")}

    # Same asset key, a run whose output cannot be written completely.
    broken = broken_numbers.with_attributes(asset_key_replacements={broken_numbers.key: numbers.key})
    result = materialize([broken], resources={"io_manager": io}, instance=instance, tags=tags, raise_on_error=False)
    assert not result.success
    after = {p.name: p.read_bytes() for p in (tmp_path / "numbers" / "ticker=AAA").glob("*.parquet")}
    assert after == before
    assert not list((tmp_path / "numbers").rglob("*.tmp"))


def test_partitioned_output_must_be_a_mapping(tmp_path):
    @asset(partitions_def=PARTS, name="numbers")
    def not_a_mapping(context):
        return pd.DataFrame({"v": [1.0]})

    io = PartitionedParquetIOManager(base_dir=str(tmp_path))
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

    io = PartitionedParquetIOManager(base_dir=str(tmp_path))
    assert materialize([model_card, table, reader], resources={"io_manager": io}).success
    assert (tmp_path / "reader.json").read_text().count('"rows": 2') == 1
