"""LSTM next-day return forecaster: windows, training, ONNX export and serving.

Submodules are imported explicitly (`from finpulse_assets.models.lstm.model import ...`)
so that `serving` stays importable without torch.
"""
