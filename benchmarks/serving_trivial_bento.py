"""The second ceiling for serving benchmarks: a BentoML service whose endpoints only parse the body.

The same work as `benchmarks/bare_asgi.py` (parse the JSON body, answer a small JSON), written the
way a BentoML endpoint is usually written (typed parameters BentoML parses, a dict it serializes),
behind BentoML's server and middleware (metrics, tracing, access log, timeout): what any BentoML
endpoint costs before it does any work.

    bentoml serve benchmarks.serving_trivial_bento:Trivial --port 3031
"""

import os
from typing import Any, Optional

import bentoml


# FINPULSE_BENCH_UNTRACED=1: the same, its routes left out of BentoML's OpenTelemetry middleware as FinPulse's are.
UNTRACED = os.environ.get("FINPULSE_BENCH_UNTRACED") == "1"


@bentoml.service(name="trivial", workers=int(os.environ.get("FINPULSE_SERVE_WORKERS", "1")),
                 tracing={"excluded_urls": ["/predict", "/sentiment"]} if UNTRACED else {})
class Trivial:
    @bentoml.api
    async def predict(self, requests: Optional[list[Any]] = None) -> dict:
        return {"items": len(requests or [])}

    @bentoml.api
    async def sentiment(self, texts: Optional[list[Any]] = None) -> dict:
        return {"items": len(texts or [])}
