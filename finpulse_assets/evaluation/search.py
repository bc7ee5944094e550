"""Dev-split model search with Optuna: one study per variant, median pruning, a fixed trial budget.

A trial is one candidate (`candidates.Candidate`: window, layout, sentiment
aggregation, text components, network size, learning rate, dropout, weight
decay, and for the attentive LSTM the adversarial perturbation), fitted on the
train split and scored on the dev split (`selection.dev_scores`). Its value is
the best dev MCC of its two direction heads; after each seed the running
seed-average is reported, so the MedianPruner can stop a trial that trails the
median of earlier trials at the same seed. The choice among the completed
trials is `selection.choose` (price: lowest dev MAE; direction: highest dev
MCC). The test split is never read here.

Each trial is an MLflow run (child of one run per study) when a tracker is given.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import optuna
import pandas as pd

from finpulse_assets.evaluation.candidates import Candidate, Variant
from finpulse_assets.evaluation.protocol import Protocol
from finpulse_assets.evaluation.selection import FitSettings, best_direction_mcc, choose, dev_scores

optuna.logging.set_verbosity(logging.WARNING)


@dataclass(frozen=True)
class SearchSettings:
    n_trials: int = 12                                      # per variant
    seed: int = 0
    windows: tuple[int, ...] = (5, 10)
    layouts: tuple[str, ...] = ("pooled", "per_ticker")
    embedding_components: tuple[int, ...] = (4, 8, 16)
    hidden_sizes: tuple[int, ...] = (16, 32, 64)
    lr: tuple[float, float] = (3e-4, 3e-3)
    dropout: tuple[float, float] = (0.0, 0.4)
    weight_decay: tuple[float, float] = (1e-5, 1e-2)
    adversarial_epsilon: tuple[float, float] = (1e-3, 1e-1)
    adversarial_beta: tuple[float, float] = (0.05, 1.0)
    startup_trials: int = 3                                 # trials never pruned, the pruner's first median
    sentiment_sets: tuple[str, ...] = field(default=("all", "mean_and_count"))

    def __post_init__(self):
        if self.n_trials < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}")


def suggest(trial: optuna.Trial, variant: Variant, space: SearchSettings) -> Candidate:
    """The candidate a trial proposes; only the choices the variant has are asked for."""
    sentiment = "none" if variant.text == "none" else trial.suggest_categorical(
        "sentiment", [s for s in space.sentiment_sets if s in variant.sentiment_sets])
    embeddings = trial.suggest_categorical("embeddings", list(space.embedding_components)) \
        if variant.text == "embeddings" else 0
    adversarial = {}
    if variant.architecture == "alstm" and trial.suggest_categorical("adversarial", [False, True]):
        adversarial = {"adversarial_epsilon": trial.suggest_float("adversarial_epsilon", *space.adversarial_epsilon,
                                                                  log=True),
                       "adversarial_beta": trial.suggest_float("adversarial_beta", *space.adversarial_beta)}
    return Candidate(
        window=trial.suggest_categorical("window", list(space.windows)),
        layout=trial.suggest_categorical("layout", list(space.layouts)),
        sentiment=sentiment, embeddings=embeddings, architecture=variant.architecture, market=variant.market,
        hidden_size=trial.suggest_categorical("hidden_size", list(space.hidden_sizes)),
        lr=trial.suggest_float("lr", *space.lr, log=True),
        dropout=trial.suggest_float("dropout", *space.dropout),
        weight_decay=trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        **adversarial)


def _trial_metrics(row: dict) -> dict:
    d = row["direction"]
    return {"dev_mae_ratio_random_walk": row["price"]["mae_ratio_random_walk"],
            **{f"dev_{metric}_{head}": d[head][metric] for head in d for metric in ("accuracy", "mcc")}}


def run_study(frame: pd.DataFrame, variant: Variant, protocol: Protocol, fit: FitSettings,
              space: SearchSettings, tracker=None, parent_run_id: str | None = None) -> tuple[optuna.Study, list[dict]]:
    """The study and the dev rows of its completed trials (in trial order)."""
    study = optuna.create_study(
        study_name=variant.name, direction="maximize", sampler=optuna.samplers.TPESampler(seed=space.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials, n_warmup_steps=0))
    rows: dict[int, dict] = {}

    def objective(trial: optuna.Trial) -> float:
        candidate = suggest(trial, variant, space)
        running: list[float] = []

        def after_seed(k: int, row: dict) -> None:
            running.append(best_direction_mcc(row))
            trial.report(running[-1], step=k)
            if k + 1 < fit.seeds and trial.should_prune():
                raise optuna.TrialPruned(f"dev MCC after {k + 1} seeds below the median of earlier trials")

        try:
            row = dev_scores(frame, candidate, protocol, fit, after_seed)
        except optuna.TrialPruned:
            _log_trial(tracker, parent_run_id, variant, trial.number, candidate, None, running)
            raise
        rows[trial.number] = row
        trial.set_user_attr("candidate", candidate.as_dict())
        _log_trial(tracker, parent_run_id, variant, trial.number, candidate, row, running)
        return best_direction_mcc(row)

    study.optimize(objective, n_trials=space.n_trials, catch=())
    return study, [rows[n] for n in sorted(rows)]


def _log_trial(tracker, parent_run_id, variant: Variant, number: int, candidate: Candidate,
               row: dict | None, running: list[float]) -> None:
    if tracker is None:
        return
    state = "complete" if row is not None else "pruned"
    with tracker.start_run(f"{variant.name}/trial-{number}", parent_run_id=parent_run_id,
                           tags={"finpulse.search.variant": variant.name, "finpulse.search.state": state,
                                 "finpulse.search.trial": number}) as run:
        run.log_params(candidate.as_dict())
        if row is not None:
            run.log_metrics(_trial_metrics(row))
        for step, value in enumerate(running):
            run.log_metrics({"dev_mcc_running_seed_average": value}, step=step)


def importances(study: optuna.Study) -> dict:
    """{"importances": {param: share}} or {"reason": why none} (fewer than 2 completed trials, or none differ)."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {"reason": f"{len(complete)} completed trial(s); importances need at least 2"}
    values = {t.value for t in complete}
    if len(values) < 2:
        return {"reason": "every completed trial has the same dev MCC"}
    return {"importances": {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}}


def importance_png(variant: str, shares: dict[str, float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(shares)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
    ax.barh(names, [shares[n] for n in names], color="#4c72b0")
    ax.set_xlabel("importance for dev MCC (PED-ANOVA, optuna.importance)")
    ax.set_title(f"{variant}: hyper-parameter importance")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def search_variant(frame: pd.DataFrame, variant: Variant, protocol: Protocol, fit: FitSettings,
                   space: SearchSettings, tracker=None) -> dict:
    """{"candidates": completed trials' dev rows, "choice": selection.choose of them, "study": summary}."""
    if tracker is None:
        study, rows = run_study(frame, variant, protocol, fit, space)
    else:
        with tracker.start_run(f"search/{variant.name}", tags={"finpulse.search.variant": variant.name}) as parent:
            parent.log_params({"n_trials": space.n_trials, "seed": space.seed, "seeds_per_head": fit.seeds,
                               "pruner": "MedianPruner", "sampler": "TPESampler"})
            study, rows = run_study(frame, variant, protocol, fit, space, tracker, parent.run_id)
            parent.log_metrics({"best_dev_mcc": study.best_value})
    if not rows:
        raise ValueError(f"{variant.name}: no trial completed on dev")
    states = [t.state.name.lower() for t in study.trials]
    summary = {"n_trials": len(study.trials), "complete": states.count("complete"), "pruned": states.count("pruned"),
               "best_trial": {"number": study.best_trial.number, "dev_mcc": study.best_value,
                              "params": study.best_trial.params},
               **importances(study)}
    return {"candidates": rows, "choice": choose(rows), "study": summary}
