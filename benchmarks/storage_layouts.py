"""Candidate layouts for ticker x day asset storage, side by side on one shape.

    nice python benchmarks/storage_layouts.py --tickers 87 --days 730 --out reports/storage_layouts.json

A run writes one ticker's whole range of days (what a backfill run does); each
partition holds `--rows` rows of a price_features-like frame (20 columns).
Per layout: seconds per run write, a single-partition load, a whole-table read
with pandas and with DuckDB, and whether a write killed mid-way (SIGKILL of
a child process) leaves the stored table readable and unchanged.

Layouts: `files` (today: one Parquet file per partition, renamed into place),
`delta` (a Delta Lake table partitioned by ticker, one overwrite-with-predicate
commit per run), `duckdb` (one DuckDB database file, DELETE + INSERT in one
transaction per run), `hive_run_files` (ticker=T/run-<id>.parquet, one file per
run that replaces the ticker's previous file: atomic only for whole-ticker runs).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake


def frame(ticker: str, days: list[date], rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(days) * rows
    out = pd.DataFrame({"ticker": ticker, "day": np.repeat(days, rows),
                        "date": pd.to_datetime(np.repeat(days, rows)), "history_complete": True})
    for i in range(16):
        out[f"f{i}"] = rng.normal(size=n)
    return out


class Files:
    def __init__(self, root: Path):
        self.root = root

    def write(self, df: pd.DataFrame) -> None:
        token = uuid.uuid4().hex[:8]
        staged = []
        for (ticker, day), part in df.groupby(["ticker", "day"], sort=False):
            path = self.root / f"ticker={ticker}" / f"{day.isoformat()}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{token}.tmp")
            part.drop(columns=["day", "ticker"]).to_parquet(tmp, index=False)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)

    def load_one(self, ticker: str, day: date) -> pd.DataFrame:
        return pd.read_parquet(self.root / f"ticker={ticker}" / f"{day.isoformat()}.parquet")

    def read_all(self) -> pd.DataFrame:
        return pd.read_parquet(self.root)

    def duckdb_count(self) -> int:
        return duckdb.sql(f"select count(*) from read_parquet('{self.root}/*/*.parquet', hive_partitioning=true)").fetchall()[0][0]


class Delta:
    def __init__(self, root: Path):
        self.root = str(root)

    def write(self, df: pd.DataFrame) -> None:
        ticker = df["ticker"].iloc[0]
        first, last = df["day"].min(), df["day"].max()
        predicate = f"ticker = '{ticker}' AND day >= '{first}' AND day <= '{last}'"
        exists = Path(self.root, "_delta_log").exists()
        write_deltalake(self.root, pa.Table.from_pandas(df, preserve_index=False), mode="overwrite",
                        partition_by=["ticker"], predicate=predicate if exists else None)

    def load_one(self, ticker: str, day: date) -> pd.DataFrame:
        return DeltaTable(self.root).to_pandas(filters=[("ticker", "=", ticker), ("day", "=", day)])

    def read_all(self) -> pd.DataFrame:
        return DeltaTable(self.root).to_pandas()

    def duckdb_count(self) -> int:
        dataset = DeltaTable(self.root).to_pyarrow_dataset()  # noqa: F841 (scanned by name)
        return duckdb.sql("select count(*) from dataset").fetchall()[0][0]


class DuckDBFile:
    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.path = str(root / "asset.duckdb")

    def write(self, df: pd.DataFrame) -> None:
        with duckdb.connect(self.path) as con:
            con.execute("begin")
            con.execute("create table if not exists t as select * from df limit 0")
            con.execute("delete from t where ticker = ? and day between ? and ?",
                        [df["ticker"].iloc[0], df["day"].min(), df["day"].max()])
            con.execute("insert into t select * from df")
            con.execute("commit")

    def load_one(self, ticker: str, day: date) -> pd.DataFrame:
        with duckdb.connect(self.path, read_only=True) as con:
            return con.execute("select * from t where ticker = ? and day = ?", [ticker, day]).df()

    def read_all(self) -> pd.DataFrame:
        with duckdb.connect(self.path, read_only=True) as con:
            return con.execute("select * from t").df()

    def duckdb_count(self) -> int:
        with duckdb.connect(self.path, read_only=True) as con:
            return con.execute("select count(*) from t").fetchall()[0][0]


class HiveRunFiles:
    def __init__(self, root: Path):
        self.root = root

    def write(self, df: pd.DataFrame) -> None:
        folder = self.root / f"ticker={df['ticker'].iloc[0]}"
        folder.mkdir(parents=True, exist_ok=True)
        old = list(folder.glob("run-*.parquet"))
        tmp = folder / f".run-{uuid.uuid4().hex[:8]}.tmp"
        df.drop(columns=["ticker"]).to_parquet(tmp, index=False)
        os.replace(tmp, folder / f"run-{uuid.uuid4().hex[:8]}.parquet")
        for path in old:  # a crash between the rename and here leaves two files: duplicated rows
            path.unlink()

    def load_one(self, ticker: str, day: date) -> pd.DataFrame:
        return pd.read_parquet(self.root, filters=[("ticker", "=", ticker), ("day", "=", day)])

    def read_all(self) -> pd.DataFrame:
        return pd.read_parquet(self.root)

    def duckdb_count(self) -> int:
        return duckdb.sql(f"select count(*) from read_parquet('{self.root}/*/*.parquet', hive_partitioning=true)").fetchall()[0][0]


LAYOUTS = {"files": Files, "delta": Delta, "duckdb": DuckDBFile, "hive_run_files": HiveRunFiles}


def _big_write(layout: str, root: str, rows: int, days: list[date], marker: str) -> None:
    store = LAYOUTS[layout](Path(root))
    big = frame("T000", days, rows * 400, seed=99)  # big enough to be killed while it runs
    Path(marker).touch()
    store.write(big)
    Path(marker + ".done").touch()


def killed_write_keeps_table(layout: str, root: Path, rows: int, days: list[date]) -> str:
    """'unchanged', 'changed' or 'unreadable' after a SIGKILL 0.3 s into a write; 'finished' if it beat the kill."""
    before = LAYOUTS[layout](root).read_all()
    order = ["ticker", "date"]
    before = before.sort_values(order).reset_index(drop=True)
    marker = root.parent / f".{layout}.started"
    child = multiprocessing.get_context("spawn").Process(target=_big_write,
                                                         args=(layout, str(root), rows, days, str(marker)))
    child.start()
    while not marker.exists() and child.is_alive():
        time.sleep(0.01)
    time.sleep(0.3)
    if not child.is_alive():
        return "finished"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    if Path(str(marker) + ".done").exists():
        return "finished"
    try:
        after = LAYOUTS[layout](root).read_all()
    except Exception:  # noqa: BLE001 (an unreadable table is the finding)
        return "unreadable"
    after = after.sort_values(order).reset_index(drop=True)
    same = len(after) == len(before) and after[before.columns].astype(str).equals(before.astype(str))
    return "unchanged" if same else "changed"


def measure(layout: str, root: Path, tickers: list[str], days: list[date], rows: int) -> dict:
    store = LAYOUTS[layout](root)
    writes = []
    for i, ticker in enumerate(tickers):
        df = frame(ticker, days, rows, seed=i)
        started = time.perf_counter()
        store.write(df)
        writes.append(time.perf_counter() - started)
    rng = np.random.default_rng(0)
    loads = []
    for _ in range(20):
        t, d = tickers[rng.integers(len(tickers))], days[rng.integers(len(days))]
        started = time.perf_counter()
        one = store.load_one(t, d)
        loads.append(time.perf_counter() - started)
        assert len(one) == rows, (layout, len(one))
    started = time.perf_counter()
    whole = store.read_all()
    read_all = time.perf_counter() - started
    started = time.perf_counter()
    count = store.duckdb_count()
    duck = time.perf_counter() - started
    assert len(whole) == count == len(tickers) * len(days) * rows, (layout, len(whole), count)
    files = sum(1 for p in root.rglob("*") if p.is_file())
    return {"layout": layout, "runs": len(tickers), "partitions": len(tickers) * len(days),
            "write_s_per_run_median": round(statistics.median(writes), 4),
            "write_ms_per_partition": round(1000 * sum(writes) / (len(tickers) * len(days)), 3),
            "single_partition_load_ms_median": round(1000 * statistics.median(loads), 2),
            "whole_table_read_pandas_s": round(read_all, 3), "whole_table_count_duckdb_s": round(duck, 3),
            "files": files,
            "killed_write": killed_write_keeps_table(layout, root, rows, days)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickers", type=int, default=87)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--rows", type=int, default=1, help="rows per partition")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--out", default="reports/storage_layouts.json")
    args = parser.parse_args()
    tickers = [f"T{i:03d}" for i in range(args.tickers)]
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(args.days)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts.split(","):
            results.append(measure(layout, Path(tmp) / layout, tickers, days, args.rows))
            print(json.dumps(results[-1]), flush=True)
            shutil.rmtree(Path(tmp) / layout)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"tickers": args.tickers, "days": args.days, "rows": args.rows,
                                          "results": results}, indent=2))


if __name__ == "__main__":
    main()
