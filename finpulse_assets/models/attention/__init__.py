"""Temporal-attention forecaster (attentive LSTM, Adv-ALSTM) over windows of daily features."""
