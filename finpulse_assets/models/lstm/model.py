"""LSTM over a window of daily features -> next-day log return, trained with early stopping.

Training runs on CPU on purpose: the model is tiny, and CPU kernels are
deterministic, so the same seed and data give bit-identical weights.
Persistence is safetensors (weights) + JSON (everything else); nothing is pickled.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from finpulse_assets.models import training_progress
from finpulse_assets.models.lstm.dataset import Scaler, Windows
from finpulse_assets.models.lstm.serving import (
    CONFIG_FILE, CONFIG_FORMAT_VERSION, INPUT_NAME, OUTPUT_NAME, WEIGHTS_FILE, check_windows_shape, read_config,
)


@dataclass
class LSTMConfigParams:
    hidden_size: int = 32
    num_layers: int = 1
    window: int = 10
    dropout: float = 0.1
    epochs: int = 40
    patience: int = 6
    lr: float = 1e-3
    batch_size: int = 64
    weight_decay: float = 1e-4
    seed: int = 0
    # Huber: daily returns are fat-tailed, and a few crash days should not dominate the fit.
    loss: str = "huber"
    huber_delta: float = 1.0  # in units of the training target's std
    grad_clip: float = 1.0
    # "lstm" (LSTMForecaster) or "alstm" (models.attention.alstm: temporal attention, Adv-ALSTM); same contract.
    architecture: str = "lstm"
    adversarial_epsilon: float = 0.0  # alstm only: latent perturbation size; 0 trains without it
    adversarial_beta: float = 0.0     # alstm only: weight of the adversarial loss


class LSTMForecaster(nn.Module):
    """[batch, window, n_features] standardised features -> [batch] scaled next-day log return."""

    def __init__(self, n_features: int, hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.1):
        super().__init__()
        # nn.LSTM applies its dropout only between stacked layers; the head dropout
        # below also regularises the single-layer default.
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1])).squeeze(-1)


@dataclass(eq=False)
class TrainedLSTM:
    """The network plus what it needs to read raw windows and give real log returns."""

    net: LSTMForecaster
    scaler: Scaler
    target_scale: float  # network output * target_scale = log return
    feature_columns: tuple[str, ...]
    params: LSTMConfigParams
    target: str = "target_log_return"

    @property
    def window(self) -> int:
        return self.params.window


@contextmanager
def _torch_threads(n: int | None):
    """Run with n intra-op threads, then restore the process setting.

    Matrices this small gain nothing from threads, and on a busy machine the
    thread hand-offs made training ~30x slower; one thread is also the same
    arithmetic on every machine.
    """
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


ARCHITECTURES = ("lstm", "alstm")
MODEL_NAMES = {"lstm": "lstm_next_day_log_return", "alstm": "alstm_next_day_log_return"}


def _build_net(n_features: int, params: LSTMConfigParams) -> nn.Module:
    if params.architecture == "alstm":
        from finpulse_assets.models.attention.alstm import AttentiveLSTMForecaster

        return AttentiveLSTMForecaster(n_features, params.hidden_size, params.num_layers, params.dropout,
                                       params.adversarial_epsilon, params.adversarial_beta)
    if params.architecture == "lstm":
        return LSTMForecaster(n_features, params.hidden_size, params.num_layers, params.dropout)
    raise ValueError(f"unknown architecture {params.architecture!r}: expected one of {ARCHITECTURES}")


def _loss_fn(params: LSTMConfigParams) -> nn.Module:
    if params.loss == "huber":
        return nn.HuberLoss(delta=params.huber_delta)
    if params.loss == "mse":
        return nn.MSELoss()
    raise ValueError(f"unknown loss {params.loss!r}")


def _check_training_inputs(train: Windows, val: Windows, params: LSTMConfigParams) -> None:
    if params.epochs < 1 or params.patience < 1:
        raise ValueError("epochs and patience must be >= 1")
    if len(train) == 0 or len(val) == 0:
        raise ValueError("train_lstm needs non-empty train and validation windows (early stopping uses val)")
    if train.window != params.window or val.window != params.window:
        raise ValueError(f"windows have length {train.window}/{val.window}, params.window is {params.window}")
    if train.feature_columns != val.feature_columns:
        raise ValueError("train and validation windows have different feature columns")
    if not train.dates.max() < val.dates.min():
        raise ValueError("validation windows must all come after the training windows")


def _eval_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> float:
    net.eval()
    with torch.inference_mode():
        return float(loss_fn(net(X), y))


def _fit(net: LSTMForecaster, Xtr, ytr, Xva, yva, params: LSTMConfigParams) -> dict:
    opt = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    loss_fn = _loss_fn(params)
    shuffle = torch.Generator().manual_seed(params.seed)
    history = {"train_loss": [], "val_loss": [], "best_epoch": -1, "best_val_loss": math.inf, "stopped_early": False}
    best_state = None
    since_best = 0
    for epoch in range(params.epochs):
        net.train()
        perm = torch.randperm(len(ytr), generator=shuffle)
        total = 0.0
        for start in range(0, len(ytr), params.batch_size):
            idx = perm[start:start + params.batch_size]
            opt.zero_grad()
            # A network with its own training objective (the ALSTM's adversarial term) supplies the loss.
            loss = net.training_loss(Xtr[idx], ytr[idx], loss_fn) if hasattr(net, "training_loss") \
                else loss_fn(net(Xtr[idx]), ytr[idx])
            loss.backward()
            # LSTM gradients can spike on outlier days; clipping keeps one batch from wrecking the fit.
            nn.utils.clip_grad_norm_(net.parameters(), params.grad_clip)
            opt.step()
            total += loss.item() * len(idx)
        val_loss = _eval_loss(net, Xva, yva, loss_fn)
        training_progress.report(epoch + 1, params.epochs)
        history["train_loss"].append(total / len(ytr))
        history["val_loss"].append(val_loss)
        if val_loss < history["best_val_loss"]:
            history["best_val_loss"], history["best_epoch"] = val_loss, epoch
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            since_best = 0
        else:
            since_best += 1
            if since_best >= params.patience:
                history["stopped_early"] = True
                break
    if best_state is None:
        raise FloatingPointError("validation loss was never finite: training diverged")
    net.load_state_dict(best_state)
    net.eval()
    return history


def train_lstm(train: Windows, val: Windows, params: LSTMConfigParams | None = None,
               num_threads: int | None = 1) -> tuple[TrainedLSTM, dict]:
    """Fit scaler and target scale on `train`, train with early stopping on `val` loss, restore the best epoch.

    history: train_loss/val_loss per epoch (scaled-target units), best_epoch, best_val_loss, stopped_early.
    Global torch RNG, determinism and thread settings are restored afterwards.
    """
    params = params or LSTMConfigParams()
    _check_training_inputs(train, val, params)
    scaler = Scaler.fit(train.X)
    # Scale, do not centre: centring would bake the training period's drift into every forecast.
    target_scale = float(np.sqrt(np.mean(np.square(train.y, dtype=np.float64)))) or 1.0
    Xtr, Xva = torch.from_numpy(scaler.transform(train.X)), torch.from_numpy(scaler.transform(val.X))
    ytr = torch.from_numpy((train.y / target_scale).astype(np.float32))
    yva = torch.from_numpy((val.y / target_scale).astype(np.float32))

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with _torch_threads(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        torch.use_deterministic_algorithms(True)
        try:
            net = _build_net(train.X.shape[-1], params)
            history = _fit(net, Xtr, ytr, Xva, yva, params)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
    return TrainedLSTM(net, scaler, target_scale, train.feature_columns, params), history


def predict(model: TrainedLSTM, X: np.ndarray, batch_size: int = 4096, num_threads: int | None = 1) -> np.ndarray:
    """Next-day log returns [n] (float64) from raw, unscaled windows [n, window, n_features]."""
    X = check_windows_shape(X, model.window, len(model.feature_columns))
    Xs = torch.from_numpy(model.scaler.transform(X))
    model.net.eval()
    with _torch_threads(num_threads), torch.inference_mode():
        out = [model.net(Xs[i:i + batch_size]) for i in range(0, len(Xs), batch_size)]
    scaled = torch.cat(out).numpy() if out else np.empty(0, np.float32)
    # Multiply in float32 like the exported ONNX graph does, so both paths agree to float32 rounding.
    return (scaled * np.float32(model.target_scale)).astype(np.float64)


def model_config(model: TrainedLSTM) -> dict:
    return {
        "format_version": CONFIG_FORMAT_VERSION,
        "model": MODEL_NAMES[model.params.architecture],
        "target": model.target,
        "feature_columns": list(model.feature_columns),
        "window": model.window,
        "n_features": len(model.feature_columns),
        "params": asdict(model.params),
        "scaler": model.scaler.to_dict(),
        "target_scale": model.target_scale,
        "onnx": {"input": INPUT_NAME, "output": OUTPUT_NAME, "input_is_standardised": True},
    }


def save_model(model: TrainedLSTM, model_dir: str | Path) -> dict[str, Path]:
    """Write model.safetensors and config.json into `model_dir`."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    paths = {"weights": model_dir / WEIGHTS_FILE, "config": model_dir / CONFIG_FILE}
    tensors = {k: v.detach().contiguous() for k, v in model.net.state_dict().items()}
    save_file(tensors, str(paths["weights"]), metadata={"format": "pt"})
    paths["config"].write_text(json.dumps(model_config(model), indent=2))
    return paths


def load_model(model_dir: str | Path) -> TrainedLSTM:
    model_dir = Path(model_dir)
    config = read_config(model_dir)
    params = LSTMConfigParams(**config["params"])
    net = _build_net(config["n_features"], params)
    net.load_state_dict(load_file(str(model_dir / WEIGHTS_FILE)), strict=True)
    net.eval()
    return TrainedLSTM(net, Scaler.from_dict(config["scaler"]), float(config["target_scale"]),
                       tuple(config["feature_columns"]), params, config["target"])
