"""Forecast skill on the StockNet protocol: labelling and splits, model variants, dev-only choices, reports."""
