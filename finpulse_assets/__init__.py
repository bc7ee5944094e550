"""FinPulse: sentiment-aware stock forecasting as one Dagster asset graph.

The Definitions object lives in `finpulse_assets.definitions` (loaded by workspace.yaml).
"""

import warnings

from dagster import BetaWarning, PreviewWarning

# Backfill policies and multi-dimensional partition mappings are deliberate
# choices here; their beta notices would otherwise drown every CLI run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
