"""ONNX Runtime session options every FinPulse session starts from.

ORT's session log prints, at its default WARNING severity, notes about how it rewrote the graph
(initializers it removed as unused, nodes it placed on the CPU provider) while loading the
quantized models: nothing a user of the command can act on, and repeated by every worker process.
ERROR and above still print; a failed load raises as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import onnxruntime as ort

ERROR_SEVERITY = 3  # ORT's levels: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal


def session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.log_severity_level = ERROR_SEVERITY
    return options


PREPROCESSING_ADVICE = "Please consider to run pre-processing before quantization"


class _DropPreprocessingAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(PREPROCESSING_ADVICE)


@contextmanager
def without_preprocessing_advice() -> Iterator[None]:
    """`quantize_dynamic` of a transformer graph without the pre-processing advice it logs (root logger, WARNING).

    The advice is to run `quant_pre_process` (shape inference and ORT's graph optimizations, saved to the
    file). The text models are fused by ORT's transformer optimizer instead, at opt_level 0 on purpose: a
    file saved after ORT's own passes is tied to the exporting machine's instruction set, and the fused
    contrib ops have no ONNX shape inference (finbert/onnx_export.py). Other warnings still print."""
    root = logging.getLogger()
    advice = _DropPreprocessingAdvice()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)
