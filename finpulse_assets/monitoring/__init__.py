"""Monitoring logic without Dagster: Evidently drift, snapshot parsing, prediction errors."""
