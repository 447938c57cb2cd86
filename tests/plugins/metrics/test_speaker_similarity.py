"""Speaker similarity: the cosine worked by hand; a tiny random-init WavLM x-vector model (no hub)
gives 1.0 for identical audio and, for two signals, the cosine of the embeddings the model itself
returns; non-SV checkpoints, unknown backends, missing packages and missing hub models are clear
errors. (The Resemblyzer stand-in on real speech: test_new_metrics_librispeech.py.)"""

from __future__ import annotations

import importlib.util
import pickle

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.plugins.metrics import speaker_similarity as sim_mod
from tokenizer_bench.plugins.metrics.speaker_similarity import SpeakerSimilarity, cosine

SR = 16000


def test_cosine_worked_by_hand():
    # (1,2,2).(2,1,2) = 2 + 2 + 4 = 8; |a| = |b| = 3  ->  8/9
    assert cosine(np.array([1.0, 2.0, 2.0]), np.array([2.0, 1.0, 2.0])) == pytest.approx(8 / 9, abs=1e-15)
    assert cosine(np.array([3.0, 0.0]), np.array([0.0, 5.0])) == 0.0
    assert cosine(np.array([1.0, -2.0]), np.array([-0.5, 1.0])) == pytest.approx(-1.0, abs=1e-15)
    with pytest.raises(ValueError, match="zero speaker embedding"):
        cosine(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="sizes differ"):
        cosine(np.ones(3), np.ones(4))


def _tiny_wavlm(folder, xvector: bool = True):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector, WavLMModel

    cfg = WavLMConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                      conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                      num_conv_pos_embedding_groups=2, num_buckets=32, max_bucket_distance=64,
                      tdnn_dim=(16, 16, 16), tdnn_kernel=(5, 3, 1), tdnn_dilation=(1, 2, 1), xvector_output_dim=8)
    torch.manual_seed(0)
    model = (WavLMForXVector if xvector else WavLMModel)(cfg).eval()
    model.save_pretrained(folder)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    return model


def _speechy(seed: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 110 + 40 * seed + 10 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    return sum((0.3 / k) * np.sin(k * phase) for k in range(1, 6)) + 0.01 * rng.standard_normal(t.size)


def test_tiny_wavlm_identity_and_independent_cosine(tmp_path):
    pytest.importorskip("transformers")
    net = _tiny_wavlm(tmp_path)
    metric = SpeakerSimilarity(model=str(tmp_path))
    a, b = _speechy(0), _speechy(1)
    assert metric(reference=torch.from_numpy(a), estimate=torch.from_numpy(a.copy()), sample_rate=SR) == \
        pytest.approx(1.0, abs=1e-6)

    def embedding(x):  # independent: the model's own x-vector, normalised input as its extractor does
        v = torch.from_numpy(((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32))[None]
        with torch.no_grad():
            return net(input_values=v).embeddings[0].double().numpy()

    ea, eb = embedding(a), embedding(b)
    expected = float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))
    got = metric(reference=a, estimate=b, sample_rate=SR)
    assert got == pytest.approx(expected, abs=1e-5)
    assert got < 0.9999
    # workers receive a pickled metric without the model and reload it
    clone = pickle.loads(pickle.dumps(metric))
    assert clone._embedder is None
    sim_mod._CACHE.clear()
    assert clone(reference=a, estimate=b, sample_rate=SR) == pytest.approx(got, abs=1e-6)


def test_checkpoint_without_xvector_head_is_refused(tmp_path):
    pytest.importorskip("transformers")
    _tiny_wavlm(tmp_path, xvector=False)
    with pytest.raises(ConfigError, match="not a WavLM speaker-verification checkpoint"):
        SpeakerSimilarity(model=str(tmp_path))


def test_option_errors():
    with pytest.raises(ConfigError, match="unknown backend 'ecapa'"):
        SpeakerSimilarity(backend="ecapa")
    with pytest.raises(ConfigError, match="backend=wavlm only"):
        SpeakerSimilarity(backend="resemblyzer", model="microsoft/wavlm-large")


def test_missing_resemblyzer_names_the_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "resemblyzer" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install resemblyzer"):
        SpeakerSimilarity(backend="resemblyzer")


def test_missing_hub_model_names_the_download(monkeypatch, tmp_path):
    pytest.importorskip("transformers")
    import huggingface_hub.constants as hc

    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    expected = r"hf download tokenizer-bench-test/no-such-sv-model.*speaker_similarity.backend=resemblyzer"
    with pytest.raises(MissingDependencyError, match=expected):
        SpeakerSimilarity(model="tokenizer-bench-test/no-such-sv-model")
