"""In process, with the tiny test models: what the largest legal /predict requests cost to validate and to forecast.

    .venv/bin/python benchmarks/serving_request_cost.py

Times `validation.validate_predict` and `Predictor.predict` on a normal request and on requests at the
per-request limits (history days, text characters, both), to size FINPULSE_SERVE_MAX_REQUEST_DAYS and
FINPULSE_SERVE_MAX_REQUEST_TEXT_CHARS (docs/serving.md, "Per-request limits").
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import json, time, tempfile, pathlib
from finpulse_assets.models.tiny_exports import TICKERS, history, tiny_finbert_onnx, tiny_lstm_onnx
from finpulse_assets.serving.bundle import stage_forecaster, stage_sentiment
from finpulse_assets.serving.validation import validate_predict
from finpulse_assets.serving.predictor import Predictor
from finpulse_assets.serving.schema import set_model_limits
root = pathlib.Path(tempfile.mkdtemp())
stage_forecaster(tiny_lstm_onnx(root), TICKERS, root / "forecaster")
stage_sentiment(tiny_finbert_onnx(root), root / "sentiment")
p = Predictor(root / "forecaster", root / "sentiment")
set_model_limits(p.limits)
def timed(label, body, n=3):
    items = validate_predict(body)
    t = time.perf_counter(); [validate_predict(body) for _ in range(n)]; v = (time.perf_counter() - t) / n
    t = time.perf_counter(); [p.predict(items) for _ in range(n)]; m = (time.perf_counter() - t) / n
    print(f"{label}: body {len(body)/1e3:.0f} KB, validate {v*1e3:.1f} ms, predict {m*1e3:.1f} ms", flush=True)
timed("1 item x 30 days", json.dumps({"requests": [history("AAA", 30)]}).encode(), 20)
timed("64 items x 30 days", json.dumps({"requests": [history("AAA", 30, seed=k) for k in range(64)]}).encode(), 20)
timed("8 items x 256 days", json.dumps({"requests": [history("AAA", 256, seed=k) for k in range(8)]}).encode())
texts = {d: ["w" * 1000] * 3 for d in range(21)}
timed("1 x 30 days + 63 texts x 1000 chars", json.dumps({"requests": [history("AAA", 30, texts=texts)]}).encode())
texts = {d: ["great quarter"] * 34 for d in range(30)}
timed("1 x 30 days + 1020 texts x 13 chars", json.dumps({"requests": [history("AAA", 30, texts=texts)]}).encode())
items = [history("AAA", 256, seed=k, texts={d: ["w" * 1000] * 8 for d in range(8)}) for k in range(8)]
timed("largest: 8 x 256 days + 512 texts x ~125 chars", json.dumps({"requests": [dict(i, history=[dict(b, texts=[t[:125] for t in b["texts"]]) if "texts" in b else b for b in i["history"]]) for i in items]}).encode())
