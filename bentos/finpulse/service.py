"""FinPulse BentoML service: POST /predict (next-day close) and POST /sentiment (tweet sentiment).

Request validation, features and inference live in `finpulse_assets.serving`
(the assets' own feature functions); this module only wires them into BentoML.
/livez, /readyz and /metrics are BentoML's own.

Environment (read at server start):
  FINPULSE_SERVE_BATCHING=0           turn adaptive batching off (default on)
  FINPULSE_SERVE_MAX_BATCH_SIZE       largest adaptive batch (default 64)
  FINPULSE_SERVE_MAX_LATENCY_MS       latency budget the batcher plans for; beyond it, 503 (default 200)
  FINPULSE_SERVE_WORKERS              server worker processes (default cpu_count: on 2 cores, 2 workers held
                                      407 good /predict req/s at 64 clients vs 171 with 1, see README)
  FINPULSE_SERVE_ORT_THREADS          ONNX Runtime intra-op threads per session (default 1)
  FINPULSE_API_TOKEN                  require `Authorization: Bearer <token>` (probes exempt)
  FINPULSE_SERVE_MAX_*                request size limits, see finpulse_assets/serving/schema.py
"""

from __future__ import annotations

import os
from typing import Annotated

import bentoml
from pydantic import Field

from finpulse_assets.serving.auth import BearerTokenAuth
from finpulse_assets.serving.bundle import FORECASTER_MODEL, SENTIMENT_MODEL
from finpulse_assets.serving.predictor import Predictor
from finpulse_assets.serving.schema import (
    MAX_ITEMS,
    MAX_SENTIMENT_TEXTS,
    Forecast,
    PredictItem,
    SentimentResult,
    Text,
    set_model_limits,
)

BATCHING = os.environ.get("FINPULSE_SERVE_BATCHING", "1").strip() != "0"
MAX_BATCH_SIZE = int(os.environ.get("FINPULSE_SERVE_MAX_BATCH_SIZE", "64"))
MAX_LATENCY_MS = int(os.environ.get("FINPULSE_SERVE_MAX_LATENCY_MS", "200"))
_workers = os.environ.get("FINPULSE_SERVE_WORKERS", "cpu_count").strip()
WORKERS = _workers if _workers == "cpu_count" else int(_workers)
ORT_THREADS = int(os.environ.get("FINPULSE_SERVE_ORT_THREADS", "1"))
# The image starts FROM the local Debian base as it is (docs/images.md); a distro name BentoML does not know
# keeps it from adding its default `apt-get install build-essential git ...` layer.
IMAGE = bentoml.images.Image(base_image=os.environ.get("FINPULSE_BASE_IMAGE") or "localhost/finpulse-base:bookworm",
                             distro="finpulse-base")


@bentoml.service(name="finpulse", image=IMAGE, workers=WORKERS, traffic={"timeout": 30})
class FinPulse:
    # "latest" is resolved when the bento is built: the bento ships exactly the versions the `bento` asset saved.
    forecaster_model = bentoml.models.BentoModel(f"{FORECASTER_MODEL}:latest")
    sentiment_model = bentoml.models.BentoModel(f"{SENTIMENT_MODEL}:latest")

    def __init__(self) -> None:
        self.predictor = Predictor(self.forecaster_model.path, self.sentiment_model.path,
                                   intra_op_num_threads=ORT_THREADS)
        set_model_limits(self.predictor.limits)
        # One real call through each session before /readyz says yes, so the first request pays no warm-up.
        self.ready = len(self.predictor.sentiment(["warming up the sentiment model"])) == 1

    def __is_ready__(self) -> bool:
        return self.ready

    @bentoml.api(batchable=BATCHING, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, requests: Annotated[list[PredictItem], Field(min_length=1, max_length=MAX_ITEMS)]
                ) -> list[Forecast]:
        """Next-trading-day close per item, in order. Items need the model's window of history
        (see the 400 message); without `texts` a day's sentiment counts as neutral."""
        return self.predictor.predict(requests)

    @bentoml.api(batchable=BATCHING, max_batch_size=MAX_BATCH_SIZE * 4, max_latency_ms=MAX_LATENCY_MS)
    def sentiment(self, texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_SENTIMENT_TEXTS)]
                  ) -> list[SentimentResult]:
        """Label and probabilities per text, in order."""
        return self.predictor.sentiment(texts)


FinPulse.add_asgi_middleware(BearerTokenAuth)
