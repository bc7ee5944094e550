"""Where steps run: the executor the settings choose (Dagster's default, or Celery workers on other machines)."""
