"""FinPulse: sentiment-aware stock forecasting as one Dagster asset graph.

The Definitions object lives in `finpulse_assets.definitions` (loaded by workspace.yaml).
"""
