"""The Delta IO manager on an S3-compatible store (a local moto server): one commit per run, single partitions."""

import socket
from datetime import date

import boto3
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer

from finpulse_assets.io_managers.delta import PartitionedDeltaIOManager
from finpulse_assets_tests.test_delta_io_manager import _range_tags, doubled, numbers

BUCKET = "finpulse-assets"


@pytest.fixture
def s3_options():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    options = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ALLOW_HTTP": "true",
               "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
    boto3.client("s3", endpoint_url=options["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    yield options
    server.stop()


def test_runs_and_a_single_partition_on_s3(s3_options):
    io = PartitionedDeltaIOManager(base_dir=f"s3://{BUCKET}/assets", storage_options=s3_options)
    instance = DagsterInstance.ephemeral()
    assert materialize([numbers, doubled], resources={"io_manager": io}, instance=instance,
                       tags=_range_tags("AAA", date(2024, 1, 1), date(2024, 1, 5))).success
    assert materialize([numbers], resources={"io_manager": io}, instance=instance, partition_key="2024-01-03|AAA",
                       tags={"value": "7"}).success
    table = DeltaTable(f"s3://{BUCKET}/assets/numbers", storage_options=s3_options)
    stored = table.to_pandas().sort_values("day")
    assert table.version() == 1 and stored["v"].tolist() == [1.0, 1.0, 7.0, 1.0, 1.0]
    assert DeltaTable(f"s3://{BUCKET}/assets/doubled", storage_options=s3_options).to_pandas()["v"].eq(2.0).all()
