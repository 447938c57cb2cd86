"""Wrappers of today's codecs (dac, mimi, xcodec, xcodec2, neucodec, snac) against the libraries' own calls.

Each tiny random-init model (tests/plugins/tokenizers/_tiny_codecs.py) is served by the local hub
emulation under the real hub id, so the wrapper's default load is a first-use download. The
reference for every wrapper is the library's own ``encode``/``decode`` on the same audio (the
transformers model, or the snac package), with the model-rate resampling done by the test and,
for X-Codec2/NeuCodec, the semantic features computed by transformers' numpy Kaldi filter banks
(SeamlessM4TFeatureExtractor) and the extractor's padding rules written out in numpy here.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.audio import load_audio, resample
from tokenizer_bench.core.plugins import get_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _hub_emulation import HubEmulation, point_hub_at  # noqa: E402
from _tiny_codecs import BUILDERS, build_all  # noqa: E402

NAMES = tuple(BUILDERS)


class _Tiny(dict):
    """``{name: folder}`` built on first use (a test of one codec builds only that model)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        self[name] = build_all(self.root, (name,))[name]
        return self[name]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _Tiny(tmp_path_factory.mktemp("tiny_codecs"))


@pytest.fixture
def emu(monkeypatch, tmp_path, tiny):
    """The hub emulation; ``emu.serve(name)`` publishes that codec's tiny model under its real id."""
    server = HubEmulation().start()
    point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf_home")
    server.serve = lambda name: server.add_folder(BUILDERS[name][0], tiny[name])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def speech():
    """Two real utterance crops at 16 kHz, 9,500 samples (not a multiple of any hop), [2, 1, N]."""
    from tokenizer_bench.core import paths

    root = paths.librispeech_mini_dir()
    if root is None:
        pytest.skip("librispeech-mini absent")
    files = sorted((root / "test-other").rglob("*.flac"))[:2]
    return torch.stack([load_audio(f, 16000)[0][..., 8000:17500].reshape(1, -1) for f in files])


# ---------------------------------------------------------------------------------------- references
def _features_reference(x: np.ndarray, hop: int, center: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Xcodec2/NeuCodecFeatureExtractor for one example, with numpy Kaldi filter banks (no torchaudio)."""
    from transformers import SeamlessM4TFeatureExtractor

    audio = np.pad(x, (0, 1))
    audio = np.pad(audio, (0, -len(audio) % hop))
    wave = np.pad(audio, (hop // 2, hop // 2)) if center else audio
    feats = SeamlessM4TFeatureExtractor()._extract_fbank_features(wave.astype(np.float32)).astype(np.float64)
    feats = (feats - feats.mean(0)) / np.sqrt(feats.var(0, ddof=1) + 1e-7)
    mask = np.ones(len(feats), dtype=np.int64)
    if len(feats) % 2:
        feats = np.concatenate([feats, np.ones((1, feats.shape[1]))])
        mask = np.concatenate([mask, [0]])
    steps = len(feats) // 2
    return (torch.from_numpy(audio).float().view(1, 1, -1), torch.from_numpy(feats.reshape(steps, 160)).float()[None],
            torch.from_numpy(mask.reshape(steps, 2).min(-1))[None])


def reference_codes(name: str, tok, x: torch.Tensor, n_q: int) -> torch.Tensor:
    m = tok.model
    with torch.no_grad():
        if name == "dac":
            return m.encode(torch.nn.functional.pad(x, (0, -x.shape[-1] % 320)), n_quantizers=n_q).audio_codes
        if name == "mimi":
            return m.encode(resample(x, 16000, 24000), num_quantizers=n_q).audio_codes
        if name == "xcodec":  # published bandwidths: 0.5, 1, 1.5, 2, 4 kbps = 1, 2, 3, 4, 8 codebooks
            return m.encode(x, bandwidth={1: 0.5, 2: 1, 3: 1.5, 4: 2, 8: 4}[n_q]).audio_codes
        if name in ("xcodec2", "neucodec"):
            rows = []
            for i in range(x.shape[0]):
                values, feats, mask = _features_reference(x[i, 0].numpy(), 320, center=name == "xcodec2")
                rows.append(m.encode(values, feats, input_features_mask=mask).audio_codes)
            return torch.cat(rows)
        if name == "snac":
            streams = m.encode(resample(x, 16000, 24000))
            return streams  # a list, compared stream by stream
    raise AssertionError(name)


def reference_audio(name: str, tok, codes) -> torch.Tensor:
    m = tok.model
    with torch.no_grad():
        if name == "dac":
            return m.decode(audio_codes=codes).audio_values.unsqueeze(1)
        if name == "mimi":
            return resample(m.decode(codes).audio_values, 24000, 16000)
        if name == "xcodec":
            return m.decode(codes).audio_values
        if name == "xcodec2":
            return m.decode(audio_codes=codes).audio_values
        if name == "neucodec":
            return resample(m.decode(audio_codes=codes).audio_values, 24000, 16000)
        if name == "snac":
            torch.manual_seed(0)
            return resample(m.decode(codes), 24000, 16000)
    raise AssertionError(name)


# published geometry: (frame rate, codebooks in the tiny model, codebook size, bit/s at n_q -> formula)
GEOMETRY = {
    "dac": (50.0, 12, 1024, lambda k: 50 * k * 10),
    "mimi": (12.5, 8, 2048, lambda k: 12.5 * k * 11),  # 8 of 32 by default
    "xcodec": (50.0, 8, 1024, lambda k: 50 * k * 10),
    "xcodec2": (50.0, 1, 65536, lambda k: 50 * 16),
    "neucodec": (50.0, 1, 65536, lambda k: 50 * 16),
    "snac": (46.875, 3, 4096, lambda k: sum(46.875 / s * 12 for s in (4, 2, 1)[:k])),
}


def test_registered():
    assert set(NAMES) <= set(get_registry("tokenizers").names())


@pytest.mark.parametrize("name", NAMES)
def test_wrapper_downloads_and_equals_the_library(name, emu, speech):
    repo = BUILDERS[name][0]
    emu.serve(name)
    tok = load_tokenizer(name)  # default = the real hub id, downloaded on first use
    served = emu.downloads()
    assert any(p.startswith(f"/{repo}/resolve/") and p.endswith("config.json") for p in served)
    load_tokenizer(name)
    assert emu.downloads() == served  # second load: from the cache

    rate, q, size, bits = GEOMETRY[name]
    assert (tok.sample_rate, tok.num_codebooks, tok.codebook_size) == (16000, q, size)
    assert tok.frame_rate == pytest.approx(rate)
    assert tok.bitrate == pytest.approx(bits(q))

    codes = tok.encode(speech)
    assert codes.dtype == torch.int64 and codes.shape[:2] == (2, q)
    # the tiny model responds to its input (else every equality below compares constants)
    assert all(codes[0, k].unique().numel() > 1 for k in range(q)), codes[0, :, :8]
    ref = reference_codes(name, tok, speech, q)
    if name == "snac":
        for i, (stream, stride) in enumerate(zip(ref, (4, 2, 1))):
            assert torch.equal(codes[:, i, ::stride], stream)
            assert torch.equal(codes[:, i], stream.repeat_interleave(stride, dim=-1))
    else:
        assert torch.equal(codes, ref.long())
    # the decoded waveform is the library's decode of the same codes (at 16 kHz), T x hop long
    ref_codes = ref if name == "snac" else ref.long()
    expect = reference_audio(name, tok, ref_codes)
    out = tok.decode(codes)
    assert out.shape[:2] == (2, 1) and abs(out.shape[-1] - codes.shape[-1] * 16000 / tok.frame_rate) <= 1
    n = min(out.shape[-1], expect.shape[-1])
    assert n >= out.shape[-1] - 16
    assert out.abs().amax(-1).min() > 1e-4  # not silence
    torch.testing.assert_close(out[..., :n], expect[..., :n], atol=1e-5, rtol=1e-4)
    assert tok.reconstruct(speech).shape == speech.shape

    # batched = one at a time
    singles = torch.cat([tok.encode(speech[i : i + 1]) for i in range(2)])
    assert torch.equal(codes, singles)

    # n_q: fewer codebooks, lower bitrate, the first rows of the full codes
    if q > 1:
        small = load_tokenizer(name, n_q=2)
        assert small.num_codebooks == 2 and small.bitrate == pytest.approx(bits(2)) and small.bitrate < tok.bitrate
        two = small.encode(speech)
        assert torch.equal(two, codes[:, :2])
        if name != "snac":
            assert torch.equal(two, reference_codes(name, tok, speech, 2).long())
        assert small.decode(two).shape == out.shape


def test_dac_models_by_option_and_full_depth(emu, tmp_path):
    import _tiny_codecs

    torch.manual_seed(0)
    emu.add_folder("descript/dac_24khz", _tiny_codecs.dac(tmp_path / "dac24", rate=24000))
    tok = load_tokenizer("dac", model="24khz")
    assert (tok.model_rate, tok.frame_rate, tok.num_codebooks, tok.bitrate) == (24000, 75.0, 32, 24000.0)
    x = 0.1 * torch.randn(1, 1, 3200)  # 0.2 s -> 4800 samples at 24 kHz -> 15 frames
    codes = tok.encode(x)
    assert codes.shape == (1, 32, 15)
    assert tok.decode(codes).shape == (1, 1, 3200)
    with pytest.raises(Exception, match="model must be one of"):
        load_tokenizer("dac", model="8khz")


def test_mimi_depth_up_to_32(emu):
    emu.serve("mimi")
    tok = load_tokenizer("mimi", n_q=32)
    assert tok.num_codebooks == 32 and tok.bitrate == pytest.approx(12.5 * 32 * 11)
    with pytest.raises(Exception, match="between 1 and 32"):
        load_tokenizer("mimi", n_q=33)


def test_long_input_in_windows_equals_one_pass(tiny):
    """DAC is convolutional: windows with 2 s of context give the one-pass codes (bounded memory)."""
    whole = load_tokenizer("dac", checkpoint=tiny["dac"], chunk_seconds=None)
    windowed = load_tokenizer("dac", checkpoint=tiny["dac"], chunk_seconds=0.5, chunk_context_seconds=0.3)
    x = 0.1 * torch.randn(1, 1, 16000 * 2 + 123)
    codes = whole.encode(x)
    assert torch.equal(windowed.encode(x), codes)
    torch.testing.assert_close(windowed.decode(codes), whole.decode(codes), atol=1e-5, rtol=1e-4)


def test_neucodec_windows_yield_every_frame(tiny):
    """NeuCodec gives one frame fewer than ceil(N / hop); windowed encoding pads each window for it."""
    whole = load_tokenizer("neucodec", checkpoint=tiny["neucodec"], chunk_seconds=None)
    windowed = load_tokenizer("neucodec", checkpoint=tiny["neucodec"], chunk_seconds=0.4, chunk_context_seconds=0.2)
    x = 0.1 * torch.randn(1, 1, 16000 + 100)
    assert whole.encode(x).shape[-1] == math.ceil((16000 + 101) / 320) - 1
    assert windowed.encode(x).shape[-1] == math.ceil((16000 + 100) / 320)


def test_snac_windows_align_with_its_coarse_stream(tiny):
    whole = load_tokenizer("snac", checkpoint=tiny["snac"], chunk_seconds=None)
    windowed = load_tokenizer("snac", checkpoint=tiny["snac"], chunk_seconds=0.4, chunk_context_seconds=0.2)
    x = 0.1 * torch.randn(1, 1, 16000 + 777)
    codes = windowed.encode(x)
    assert codes.shape[-1] == math.ceil((16000 + 777) * 1.5 / 512)
    for q, stride in enumerate((4, 2, 1)):  # every row still constant over its stride groups
        row = codes[0, q]
        assert torch.equal(row, row[::stride].repeat_interleave(stride)[: row.shape[-1]])
    assert whole.decode(codes).shape[-1] == windowed.decode(codes).shape[-1]


@pytest.mark.parametrize("name", NAMES)
def test_save_and_reload(name, tiny, tmp_path):
    tok = load_tokenizer(name, checkpoint=tiny[name])
    x = 0.1 * torch.randn(1, 1, 4000)
    tok.save_pretrained(tmp_path / "saved")
    again = load_tokenizer(name, checkpoint=tmp_path / "saved")
    assert again.num_codebooks == tok.num_codebooks
    assert torch.equal(again.encode(x), tok.encode(x))
