"""Old file-per-partition `storage/assets`: refused with the fix named, and migrated by one command without loss."""

from datetime import date

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from finpulse_assets.io_managers.delta import MIGRATE_COMMAND, PartitionedDeltaIOManager
from finpulse_assets.storage.migrate import main as migrate_main
from finpulse_assets_tests.stored import stored_ticker
from finpulse_assets_tests.test_delta_io_manager import _range_tags, doubled, numbers


def _old_layout(base, asset="numbers"):
    """Files as the previous IO manager wrote them: ticker=T/<day>.parquet, empty days included."""
    for ticker, value in (("AAA", 1.0), ("BBB", 3.0)):
        folder = base / asset / f"ticker={ticker}"
        folder.mkdir(parents=True)
        for d in range(1, 6):
            day = date(2024, 1, d)
            rows = pd.DataFrame({"ticker": [ticker], "date": [day.isoformat()], "v": [value * d],
                                 "at": [pd.Timestamp(day, tz="UTC")]})
            (rows if d != 4 else rows.iloc[0:0]).to_parquet(folder / f"{day.isoformat()}.parquet", index=False)


def test_old_layout_is_refused_naming_the_migration(tmp_path):
    _old_layout(tmp_path)
    before = sorted(p.read_bytes() for p in tmp_path.rglob("*.parquet"))
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    result = materialize([numbers, doubled], resources={"io_manager": io}, instance=DagsterInstance.ephemeral(),
                         selection=[doubled], tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 5)),
                         raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert MIGRATE_COMMAND in str(failure.event_specific_data.error) and "old layout" in str(failure.event_specific_data.error)
    assert sorted(p.read_bytes() for p in tmp_path.rglob("*.parquet")) == before


def test_migration_keeps_every_row_and_the_old_files(tmp_path, capsys):
    _old_layout(tmp_path)
    assert migrate_main(["--base-dir", str(tmp_path)]) == 0
    assert "numbers: 10 partitions, 8 rows" in capsys.readouterr().out
    for ticker, value in (("AAA", 1.0), ("BBB", 3.0)):
        stored = stored_ticker(tmp_path, "numbers", ticker)
        assert stored["v"].tolist() == [value * d for d in (1, 2, 3, 5)]
        assert str(stored["at"].dt.tz) == "UTC"
    assert len(list((tmp_path / ".old-layout" / "numbers").rglob("*.parquet"))) == 10
    io = PartitionedDeltaIOManager(base_dir=str(tmp_path))
    assert materialize([numbers, doubled], resources={"io_manager": io}, instance=DagsterInstance.ephemeral(),
                       selection=[doubled], tags=_range_tags("BBB", date(2024, 1, 1), date(2024, 1, 5))).success
    assert stored_ticker(tmp_path, "doubled", "BBB")["v"].tolist() == [6.0, 12.0, 18.0, 30.0]
    assert migrate_main(["--base-dir", str(tmp_path)]) == 0  # a second run finds nothing to do
    assert "nothing in the old layout" in capsys.readouterr().out


def test_a_second_migration_never_overwrites_the_kept_files(tmp_path):
    _old_layout(tmp_path)
    (tmp_path / ".old-layout" / "numbers").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="earlier migration"):
        migrate_main(["--base-dir", str(tmp_path)])
    assert len(list((tmp_path / "numbers").rglob("*.parquet"))) == 10
