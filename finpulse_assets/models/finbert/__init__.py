"""FinBERT-style tweet sentiment: base model resolution, fine-tuning on VADER labels,
ONNX export and int8 quantization, and a torch-free ONNX Runtime scorer.

Plain Python modules with no Dagster imports, so assets, benchmarks and the
serving image call the same code. Import the submodules directly: `scoring`
must stay importable without torch, so this package imports nothing eagerly.
"""
