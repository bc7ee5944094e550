"""Step logs in the object store: the instance config a Celery deployment needs.

The instance a run's steps see is the orchestrating process's (its config travels in each task), and
its default compute log manager writes under that process's DAGSTER_HOME: a path on the orchestrator's
machine, which a worker elsewhere would create on its own disk and the UI would never read. With this
block (dagster-aws' S3ComputeLogManager) every worker stages a step's stdout/stderr in its own temp
folder and uploads it to `s3://<FINPULSE_S3_BUCKET>/<prefix>/compute_logs`, where the UI reads it.
"""

from __future__ import annotations

import yaml

from finpulse_assets.storage.object_storage import ObjectStorage


def s3_compute_logs_yaml(objects: ObjectStorage) -> str:
    config = {"bucket": objects.bucket, "prefix": objects.key("compute_logs"), "region": objects.region}
    if objects.endpoint_url:
        config["endpoint_url"] = objects.endpoint_url
    return yaml.safe_dump({"compute_logs": {"module": "dagster_aws.s3.compute_log_manager",
                                            "class": "S3ComputeLogManager", "config": config}})
