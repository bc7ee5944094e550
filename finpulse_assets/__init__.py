"""FinPulse: sentiment-aware stock forecasting as one Dagster asset graph.

The Definitions object lives in `finpulse_assets.definitions` (loaded by workspace.yaml).
Nothing is imported here: the serving image imports parts of this package without dagster or torch.
"""
