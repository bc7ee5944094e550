"""What the BentoML service runs: request validation, history -> features, model bundles, auth.

Torch-free and dagster-free (the serving image has neither); a test imports the
service in a fresh interpreter and checks `sys.modules`. Features come from the
same functions the assets use (`features.price`, `sentiment.daily`,
`features.training_set`, `models.lstm.dataset`, `models.lstm.forecast`).
"""
