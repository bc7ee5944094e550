"""The attentive LSTM (Adv-ALSTM): learns a known signal, adversarial training, persistence, ONNX parity, serving."""

import numpy as np
import pytest
import torch

from finpulse_assets.features.price import FEATURE_COLUMNS
from finpulse_assets.models.attention.alstm import AttentiveLSTMForecaster
from finpulse_assets.models.baselines import close_from_log_return
from finpulse_assets.models.lstm.dataset import build_windows, time_split_fractions
from finpulse_assets.models.lstm.model import LSTMConfigParams, load_model, predict, save_model, train_lstm
from finpulse_assets.models.lstm.onnx_export import OnnxForecaster, export_onnx_files, parity
from finpulse_assets.models.lstm.serving import read_config
from finpulse_assets.models.lstm.synthetic import SYNTHETIC_SENTIMENT_COLUMNS, synthetic_frame

PARAMS = LSTMConfigParams(hidden_size=16, window=5, epochs=25, patience=5, lr=3e-3, batch_size=32,
                          architecture="alstm", adversarial_epsilon=0.05, adversarial_beta=0.5)


@pytest.fixture(scope="module")
def split():
    frame = synthetic_frame(n_tickers=2, n_days=220, seed=4)
    return time_split_fractions(build_windows(frame, FEATURE_COLUMNS + SYNTHETIC_SENTIMENT_COLUMNS, PARAMS.window),
                                0.2, 0.2)


@pytest.fixture(scope="module")
def trained(split):
    return train_lstm(split.train, split.val, PARAMS)


def test_attention_weights_are_a_distribution_over_the_window():
    net = AttentiveLSTMForecaster(n_features=3, hidden_size=8)
    states, _ = net.lstm(torch.tanh(net.mapping(torch.randn(4, 6, 3))))
    weights = net.attention_weights(states)
    assert weights.shape == (4, 6) and torch.all(weights > 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))


def test_adversarial_term_adds_to_the_clean_loss():
    torch.manual_seed(0)
    x, y = torch.randn(16, 5, 3), torch.randn(16)
    loss_fn = torch.nn.MSELoss()
    plain = AttentiveLSTMForecaster(3, 8)
    adversarial = AttentiveLSTMForecaster(3, 8, adversarial_epsilon=0.5, adversarial_beta=1.0)
    adversarial.load_state_dict(plain.state_dict())
    plain.eval(), adversarial.eval()
    clean = plain.training_loss(x, y, loss_fn)
    torch.testing.assert_close(clean, loss_fn(plain(x), y))
    # The perturbation moves up the loss gradient, so the perturbed loss exceeds the clean one.
    assert adversarial.training_loss(x, y, loss_fn) > 2 * clean


def test_alstm_learns_the_sentiment_signal_and_beats_the_random_walk(split, trained):
    model, history = trained
    assert history["best_epoch"] >= 0
    test = split.test
    pred_close = close_from_log_return(test.close_t, predict(model, test.X))
    assert np.mean(np.abs(pred_close - test.target_close)) < 0.8 * np.mean(np.abs(test.close_t - test.target_close))


def test_same_seed_gives_the_same_alstm(split, trained):
    again, _ = train_lstm(split.train, split.val, PARAMS)
    np.testing.assert_array_equal(predict(trained[0], split.test.X), predict(again, split.test.X))


def test_alstm_saves_loads_exports_and_serves_like_the_lstm(split, trained, tmp_path):
    model, _ = trained
    save_model(model, tmp_path)
    assert read_config(tmp_path)["model"] == "alstm_next_day_log_return"
    loaded = load_model(tmp_path)
    np.testing.assert_array_equal(predict(loaded, split.test.X), predict(model, split.test.X))
    paths = export_onnx_files(model, tmp_path, int8=False)
    assert parity(model, paths["fp32"], np.concatenate([split.val.X, split.test.X])) <= 1e-4
    served = OnnxForecaster(tmp_path).predict_windows(split.test)
    np.testing.assert_allclose(served, predict(model, split.test.X), atol=1e-4)


def test_unknown_architecture_is_refused(split):
    with pytest.raises(ValueError, match="unknown architecture 'transformer'"):
        train_lstm(split.train, split.val, LSTMConfigParams(window=5, epochs=1, architecture="transformer"))
