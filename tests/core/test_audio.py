"""Audio I/O: bad files give AudioError naming the file; stereo mixes down; resampling is right."""

import numpy as np
import pytest
import soundfile as sf
import torch

from tokenizer_bench.core.audio import load_audio, resample, save_audio
from tokenizer_bench.core.errors import AudioError


def test_stereo_is_mixed_down_and_resampled(tmp_path):
    sr = 24000
    t = np.arange(sr) / sr
    left, right = np.sin(2 * np.pi * 440 * t), np.zeros_like(t)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], 1).astype(np.float32), sr, subtype="FLOAT")
    wav, out_sr = load_audio(path, 16000)
    assert out_sr == 16000 and wav.shape == (1, 16000)
    # mono mix is the channel mean: a 440 Hz sine of amplitude 0.5, whose RMS is 0.5/sqrt(2)
    rms = float(wav[0, 1000:-1000].pow(2).mean().sqrt())
    assert abs(rms - 0.5 / np.sqrt(2)) < 2e-3


def test_resample_preserves_a_sine_frequency():
    sr_in, sr_out = 16000, 24000
    t = torch.arange(sr_in) / sr_in
    out = resample(torch.sin(2 * torch.pi * 1000 * t)[None], sr_in, sr_out)[0].numpy()
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * sr_out / len(out)
    assert len(out) == 24000 and abs(peak_hz - 1000) < 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not audio at all", "cannot decode"),
        (None, "empty"),
        ("nan", "NaN"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is None:
        sf.write(path, np.zeros((0, 1), np.float32), 16000)
    elif content == "nan":
        sf.write(path, np.full((100, 1), np.nan, np.float32), 16000, subtype="FLOAT")
    else:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as info:
        load_audio(path, 16000)
    assert str(path) in str(info.value)


def test_silent_and_short_audio_rejected_on_request(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros((800, 1), np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(path, allow_silent=False)
    with pytest.raises(AudioError, match="too short"):
        load_audio(path, min_samples=1600)


def test_save_audio_is_16_bit_and_leaves_no_temp_files(tmp_path):
    path = save_audio(tmp_path / "out.wav", torch.full((1, 160), 0.25), 16000)
    info = sf.info(path)
    assert info.subtype == "PCM_16" and info.samplerate == 16000 and info.frames == 160
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]
    data, _ = sf.read(path)
    assert np.allclose(data, 0.25, atol=1 / 32768)


def test_resample_batches_rows_independently():
    # soxr sees each leading row as its own channel: a [B, 1, N] batch is the rows resampled one by one
    g = torch.Generator().manual_seed(3)
    batch = 0.3 * torch.randn(3, 1, 1600, generator=g)
    out = resample(batch, 16000, 24000)
    assert out.shape == (3, 1, 2400) and out.dtype == torch.float32
    for b in range(3):
        assert torch.allclose(out[b, 0], resample(batch[b, 0], 16000, 24000), atol=1e-6)
    same = resample(batch.double(), 16000, 16000)  # equal rates: a float32 copy, no filtering
    assert same.dtype == torch.float32 and torch.equal(same, batch)
