"""What the evaluation chose, as `lstm_model` configuration: the graph trains the chosen model.

The evaluation report (`reports/evaluation.json`) names its headline model
(`test.model`, the FinBERT variant with the best dev MCC) and, in `dev`, that
variant's chosen direction candidate (window, layout, inputs, network). This
module turns that candidate into `LSTMConfig` fields and a short card of where
the choice came from (dataset, protocol, test and walk-forward figures), which
`lstm_model` logs to MLflow and puts in its output.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from finpulse_assets.evaluation.candidates import CHOSEN_PER_FOLD


def read_report(path: str | Path) -> tuple[dict, str]:
    """(report, sha256 of its bytes); a clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"evaluation report {path} does not exist: run `make evaluate` first or leave "
                         f"evaluation_report empty")
    data = path.read_bytes()
    try:
        report = json.loads(data)
    except json.JSONDecodeError as error:
        raise ValueError(f"evaluation report {path} is not JSON: {error}") from error
    return report, hashlib.sha256(data).hexdigest()


def chosen_lstm_config(report: dict) -> dict:
    """LSTMConfig fields of the headline model's chosen direction candidate."""
    try:
        variant = report["test"]["model"]
        direction = report["dev"][variant]["choice"]["direction"]
        candidate = direction["candidate"]
    except (KeyError, TypeError) as error:
        raise ValueError(f"the evaluation report has no headline model with a dev choice ({error!r}): was it "
                         f"written by the evaluation asset?") from error
    if variant is None:
        raise ValueError("the evaluation report has no headline model (no FinBERT variant was evaluated)")
    if candidate.get("market"):
        raise ValueError(f"the evaluation chose {variant} with market context, which lstm_model and the bento "
                         f"do not compute yet (they see one ticker at a time)")
    if candidate.get("embeddings"):
        raise ValueError(f"the evaluation chose {variant} with {candidate['embeddings']} tweet-embedding "
                         f"components, which lstm_model does not read")
    adversarial = bool(candidate.get("adversarial_epsilon"))
    config = {"window": candidate["window"], "pooling": candidate["layout"],
              "sentiment_features": candidate["sentiment"], "architecture": candidate["architecture"],
              "hidden_size": candidate["hidden_size"], "lr": candidate["lr"], "dropout": candidate["dropout"],
              "weight_decay": candidate["weight_decay"], "adversarial": adversarial}
    if adversarial:
        config |= {"adversarial_epsilon": candidate["adversarial_epsilon"],
                   "adversarial_beta": candidate["adversarial_beta"]}
    return config


def model_card(report: dict, sha256: str, path: str | Path) -> dict:
    """Which evaluation chose the model, and what it measured: MLflow tags (strings) of lstm_model's run."""
    variant = report["test"]["model"]
    head = report["dev"][variant]["choice"]["direction"]["head"]
    card = {"finpulse.chosen_by.report": str(path), "finpulse.chosen_by.report_sha256": sha256,
            "finpulse.chosen_by.dataset": str(report.get("dataset", "")),
            "finpulse.chosen_by.variant": variant, "finpulse.chosen_by.direction_head": head,
            "finpulse.chosen_by.rule": "best dev MCC among the FinBERT variants (StockNet split's dev window)",
            "finpulse.chosen_by.test_mcc": f"{report['test'].get('mcc')}",
            "finpulse.chosen_by.test_mcc_ci95": json.dumps(report["test"].get("mcc_ci")),
            "finpulse.chosen_by.test_accuracy": f"{report['test'].get('accuracy')}"}
    walk = report.get("walk_forward")
    if walk and CHOSEN_PER_FOLD in walk.get("test", {}):
        pooled = walk["test"][CHOSEN_PER_FOLD]["pooled"]
        card |= {"finpulse.chosen_by.walk_forward_mcc": f"{pooled.get('mcc')}",
                 "finpulse.chosen_by.walk_forward_mcc_ci95": json.dumps(pooled.get("mcc_ci")),
                 "finpulse.chosen_by.walk_forward_folds": f"{walk['settings']['n_folds']}"}
    return card
