"""Audio I/O and resampling without torchaudio.

soundfile reads and writes, soxr resamples (high quality, deterministic, CPU). Every problem with
a file (unreadable, empty, NaN/inf, wrong shape) is an :class:`AudioError` naming the file, so a
dataset can report and skip it instead of crashing mid-epoch.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .errors import AudioError, WaveformError

AUDIO_EXTENSIONS = (".flac", ".wav", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


def resample(wav: torch.Tensor | np.ndarray, sr_in: int, sr_out: int) -> torch.Tensor:
    """Resample along the last axis with soxr ("HQ"); returns float32 tensor on the input device.

    The project's one resampler (data loading, tokenizer wrappers running at another rate,
    metrics): every leading axis is a channel to soxr, so ``[N]``, ``[C, N]`` and ``[B, 1, N]``
    all work, and each row is resampled independently of the others.
    """
    device = wav.device if isinstance(wav, torch.Tensor) else torch.device("cpu")
    arr = wav.detach().float().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    if sr_in == sr_out:
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).to(device)
    import soxr

    lead = arr.shape[:-1]
    flat = arr.reshape(-1, arr.shape[-1])
    # soxr takes [frames, channels]
    out = soxr.resample(np.ascontiguousarray(flat.T), sr_in, sr_out, quality="HQ")
    out = np.asarray(out, dtype=np.float32).T.reshape(*lead, -1)
    return torch.from_numpy(np.ascontiguousarray(out)).to(device)


def load_audio(
    path: str | Path,
    target_sr: int | None = None,
    *,
    mono: bool = True,
    allow_silent: bool = True,
    min_samples: int = 1,
) -> tuple[torch.Tensor, int]:
    """Read ``path`` as float32 ``[C, N]`` (``[1, N]`` when ``mono``), resampled to ``target_sr``.

    Stereo is mixed down by averaging channels. Raises :class:`AudioError` for unreadable,
    empty, too short, non-finite or (with ``allow_silent=False``) all-zero audio.
    """
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt files
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    if data.size == 0 or data.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: contains NaN or infinite samples")
    wav = data.T  # [C, N]
    if mono and wav.shape[0] > 1:
        wav = wav.mean(axis=0, keepdims=True)
    tensor = torch.from_numpy(np.ascontiguousarray(wav))
    if target_sr is not None and sr != target_sr:
        tensor = resample(tensor, sr, target_sr)
        sr = target_sr
    if tensor.shape[-1] < min_samples:
        raise AudioError(f"{path}: too short ({tensor.shape[-1]} samples, need at least {min_samples})")
    if not allow_silent and float(tensor.abs().max()) == 0.0:
        raise AudioError(f"{path}: silent (all samples are zero)")
    return tensor, int(sr)


def check_waveform(wav: torch.Tensor, what: str = "waveform", *, sample_rate: int | None = None,
                   min_samples: int = 1, finite: bool = True) -> torch.Tensor:
    """The one check of an in-memory mono waveform ``[B, 1, N]``; returns ``wav`` unchanged.

    Raises :class:`WaveformError` naming ``what`` (the component that was called) and the
    problem: not a tensor, not 3-D, not one channel, not floating point, empty, fewer than
    ``min_samples`` samples, or (with ``finite``) NaN/inf samples. ``finite=False`` skips the
    NaN scan, which reads every sample and, on a GPU, waits for it: training steps pass it.
    """
    at = f" at {sample_rate} Hz" if sample_rate else ""
    if not isinstance(wav, torch.Tensor):
        raise WaveformError(f"{what}: expects a mono waveform tensor [B, 1, N]{at}, got {type(wav).__name__}")
    shape = tuple(wav.shape)
    if wav.dim() != 3:
        raise WaveformError(f"{what}: expects a mono waveform [B, 1, N]{at}, got shape {shape}")
    if wav.shape[1] != 1:
        raise WaveformError(f"{what}: expects a mono waveform [B, 1, N]{at}, got {wav.shape[1]} channels "
                            f"(shape {shape}); mix down to mono first")
    if not wav.is_floating_point():
        raise WaveformError(f"{what}: expects float audio in [-1, 1], got dtype {str(wav.dtype).replace('torch.', '')}")
    if wav.numel() == 0:
        raise WaveformError(f"{what}: empty audio (shape {shape})")
    if wav.shape[-1] < min_samples:
        raise WaveformError(f"{what}: needs at least {min_samples} samples, got {wav.shape[-1]}")
    if finite and not bool(torch.isfinite(wav).all()):
        raise WaveformError(f"{what}: audio contains NaN or infinite samples")
    return wav


def save_audio(path: str | Path, wav: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM WAV atomically (temp file + rename). ``wav`` is ``[N]`` or ``[C, N]``."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = wav.detach().float().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr.T  # soundfile wants [N, C]
    arr = np.clip(arr, -1.0, 1.0)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.wav", dir=path.parent)
    os.close(fd)
    try:
        sf.write(tmp, arr, sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
