"""Per-asset-partition cost of the storage and metadata path in a data run, from cProfile.

    python benchmarks/data_run_profile.py /tmp/profile_storage

Runs data_assets_job for AAPL 2024-01-01..2024-06-30 (182 partitions x 4 assets) twice on an
in-memory instance (so Dagster's event storage does not drown the figures), the second run replacing
what the first stored, and prints the cumulative ms per asset-partition of the IO manager's
handle_output/load_input and of emit's parts. For the previous layout run the same file with
PYTHONPATH pointing at a checkout of the commit before the Delta IO manager (184df66).
"""
import cProfile
import pstats
import sys
import time

from datetime import date
from dagster import DagsterInstance
from finpulse_assets.definitions import build_definitions, DATA_ASSETS_JOB
from finpulse_assets.partitions import range_tags, ticker_partitions
from finpulse_assets.settings import Settings
settings = Settings(tickers=("AAPL",), start="2024-01-01", end="2024-07-01", storage_dir=sys.argv[1])
defs = build_definitions(settings)
job = defs.resolve_job_def(DATA_ASSETS_JOB)
with DagsterInstance.ephemeral() as inst:
    inst.add_dynamic_partitions(ticker_partitions.name, ["AAPL"])
    tags = range_tags("AAPL", date(2024,1,1), date(2024,6,30))
    for i in range(2):  # second run: replaces stored partitions (the rematerialization case)
        prof = cProfile.Profile(); t = time.perf_counter(); prof.enable()
        r = job.execute_in_process(instance=inst, tags=tags, run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
        prof.disable(); wall = time.perf_counter() - t
        assert r.success
        st = pstats.Stats(prof); d = {}
        for (f, l, name), (cc, nc, tt, ct, callers) in st.stats.items():
            if ("io_managers" in f and name in ("handle_output", "load_input")) or ("partitioned.py" in f and name in ("emit", "_preview", "_previews", "_add_partition_metadata", "schema_check")):
                d[name] = d.get(name, 0) + ct
        n = 4 * 182
        print(f"run {i+1}: wall {wall:.1f}s; ms per asset-partition: " + ", ".join(f"{k} {1000*v/n:.2f}" for k, v in sorted(d.items())))
