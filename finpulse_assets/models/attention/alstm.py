"""Attentive LSTM as in Adv-ALSTM (Feng et al., IJCAI 2019), next-day log return from a window of days.

Feature mapping (dense + tanh) -> LSTM over the window -> temporal attention
pooling of the hidden states -> latent = [attention context, last hidden
state] -> linear head. The same input and output as `LSTMForecaster`
([batch, window, n_features] standardised features -> [batch]), so training
(`models.lstm.model.train_lstm`), safetensors + JSON persistence, the ONNX
export with its parity gate and onnxruntime serving all take it unchanged.

Adversarial training (`adversarial_epsilon` > 0): each batch also fits the
head on latents moved by epsilon * the loss gradient's direction (per sample,
L2-normalised), weighted by `adversarial_beta`: the paper's remedy for
stochastic day-to-day features. Inference never perturbs.
"""

from __future__ import annotations

import torch
from torch import nn


class AttentiveLSTMForecaster(nn.Module):
    def __init__(self, n_features: int, hidden_size: int = 32, num_layers: int = 1, dropout: float = 0.1,
                 adversarial_epsilon: float = 0.0, adversarial_beta: float = 0.0):
        super().__init__()
        self.mapping = nn.Linear(n_features, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.attention = nn.Linear(hidden_size, hidden_size)
        self.attention_score = nn.Linear(hidden_size, 1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, 1)
        self.adversarial_epsilon = adversarial_epsilon
        self.adversarial_beta = adversarial_beta

    def attention_weights(self, states: torch.Tensor) -> torch.Tensor:
        """[batch, window] softmax weights over the window's hidden states."""
        return torch.softmax(self.attention_score(torch.tanh(self.attention(states))).squeeze(-1), dim=1)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(torch.tanh(self.mapping(x)))
        context = (self.attention_weights(states).unsqueeze(-1) * states).sum(dim=1)
        return torch.cat([context, states[:, -1]], dim=-1)

    def predict_from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(latent)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict_from_latent(self.latent(x))

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> torch.Tensor:
        """The clean loss, plus beta * the loss on adversarially perturbed latents when epsilon > 0."""
        latent = self.latent(x)
        loss = loss_fn(self.predict_from_latent(latent), y)
        if self.adversarial_epsilon <= 0 or self.adversarial_beta <= 0:
            return loss
        (gradient,) = torch.autograd.grad(loss, latent, retain_graph=True)
        direction = gradient / (gradient.norm(dim=-1, keepdim=True) + 1e-12)
        perturbed = latent + self.adversarial_epsilon * direction.detach()
        return loss + self.adversarial_beta * loss_fn(self.predict_from_latent(perturbed), y)
