"""sm_hf on a tiny random HuBERT: frame counts, padding, layer selection, interpolation."""

import math

import numpy as np
import pytest
import torch

from tokenizer_bench.plugins.teachers._testing import make_tiny_hubert
from tokenizer_bench.plugins.teachers.sm import conv_output_length, interpolate_frames


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory):
    return make_tiny_hubert(tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def hubert(hubert_dir):
    from transformers import HubertModel

    return HubertModel.from_pretrained(hubert_dir).eval()


def encoder(hubert_dir, **kw):
    from tokenizer_bench.plugins.teachers.sm import HFSpeechEncoder

    return HFSpeechEncoder(str(hubert_dir), device="cpu", **kw)


def hidden_states_by_hand(model, wav: torch.Tensor, total: int | None):
    """Normalise (zero mean, unit variance), zero-pad to ``total`` samples, run HuBERT."""
    x = wav.double().numpy()
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    x = torch.from_numpy(x).float()
    if total is not None:
        x = torch.nn.functional.pad(x, (0, total - x.shape[0]))
    with torch.no_grad():
        return [h[0] for h in model(x[None], output_hidden_states=True).hidden_states]


def test_conv_output_length_matches_the_model(hubert):
    cfg = hubert.config
    for n in (400, 719, 720, 16000, 16079, 16080):
        with torch.no_grad():
            got = hubert(torch.randn(1, n)).last_hidden_state.shape[1]
        assert conv_output_length(n, cfg.conv_kernel, cfg.conv_stride) == got == (n - 400) // 320 + 1


@pytest.mark.parametrize("n", [320, 639, 1000, 16000, 16321])
def test_frame_count_is_ceil_n_over_320_and_average_matches(hubert_dir, hubert, n):
    torch.manual_seed(n)
    wav = torch.randn(n) * 0.1
    T = math.ceil(n / 320)
    out = encoder(hubert_dir).encode(wav, num_frames=T, frame_seconds=320 / 16000)
    assert out.shape == (T, 12)
    hs = hidden_states_by_hand(hubert, wav, 320 * (T - 1) + 400)
    assert hs[0].shape[0] == T
    torch.testing.assert_close(out, sum(hs) / len(hs), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layers,index", [("last", -1), (1, 1), (0, 0)])
def test_layer_options(hubert_dir, hubert, layers, index):
    wav = torch.randn(8000) * 0.1
    out = encoder(hubert_dir, layers=layers).encode(wav, num_frames=25, frame_seconds=0.02)
    hs = hidden_states_by_hand(hubert, wav, 320 * 24 + 400)
    torch.testing.assert_close(out, hs[index], rtol=1e-4, atol=1e-4)
    no_emb = encoder(hubert_dir, include_embeddings=False).encode(wav, num_frames=25, frame_seconds=0.02)
    torch.testing.assert_close(no_emb, sum(hs[1:]) / 2, rtol=1e-4, atol=1e-4)


def test_other_frame_rate_interpolates_in_time(hubert_dir, hubert):
    wav = torch.randn(16000) * 0.1
    hop_s = 240 / 16000  # a 66.7 Hz codec
    T = math.ceil(16000 / 240)
    out = encoder(hubert_dir).encode(wav, num_frames=T, frame_seconds=hop_s)
    assert out.shape == (T, 12)
    hs = hidden_states_by_hand(hubert, wav, None)
    feats = (sum(hs) / len(hs)).numpy()
    src = (np.arange(feats.shape[0]) * 320 + 200) / 16000
    dst = (np.arange(T) + 0.5) * hop_s
    expected = np.stack([np.interp(dst, src, feats[:, d]) for d in range(feats.shape[1])], axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_interpolate_frames_hand_example():
    f = torch.tensor([[0.0], [10.0], [20.0]])
    got = interpolate_frames(f, torch.tensor([0.0, 1.0, 2.0]), torch.tensor([-1.0, 0.25, 1.5, 3.0]))
    assert got.flatten().tolist() == [0.0, 2.5, 15.0, 20.0]


def test_model_without_conv_front_end_is_rejected(tmp_path):
    from tokenizer_bench.core.errors import ConfigError
    from tokenizer_bench.plugins.teachers._testing import make_tiny_bert

    with pytest.raises(ConfigError):  # BERT: no feature extractor / no conv front end
        encoder(make_tiny_bert(tmp_path / "bert"))
