"""The Delta IO manager on an S3-compatible store (a moto server): one commit per run, single partitions."""

from datetime import date

from dagster import DagsterInstance, materialize
from deltalake import DeltaTable

from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets_tests.s3_server import create_bucket, s3_endpoint  # noqa: F401 (fixture)
from finpulse_assets_tests.test_delta_io_manager import _range_tags, doubled, numbers


def test_runs_and_a_single_partition_on_s3(s3_endpoint):
    bucket = create_bucket(s3_endpoint, "finpulse-assets")
    s3_options = s3_endpoint.storage_options()
    io = PartitionedDeltaIOManager(base_dir=f"s3://{bucket}/assets", storage_options=s3_options)
    instance = DagsterInstance.ephemeral()
    assert materialize([numbers, doubled], resources={"io_manager": io}, instance=instance,
                       tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 5))).success
    assert materialize([numbers], resources={"io_manager": io}, instance=instance, partition_key="2024-01-03|AAA",
                       tags={"value": "7"}).success
    table = DeltaTable(f"s3://{bucket}/assets/numbers", storage_options=s3_options)
    stored = table.to_pandas().sort_values("day")
    assert table.version() == 1 and stored["v"].tolist() == [1.0, 1.0, 7.0, 1.0, 1.0]
    assert DeltaTable(f"s3://{bucket}/assets/doubled", storage_options=s3_options).to_pandas()["v"].eq(2.0).all()
