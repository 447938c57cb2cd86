"""Audio I/O and resampling without torchaudio.

soundfile reads and writes, soxr resamples (high quality, deterministic, CPU). Every problem with
a file (unreadable, empty, NaN/inf, wrong shape) is an :class:`AudioError` naming the file, so a
dataset can report and skip it instead of crashing mid-epoch.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import torch

from tokenizer_bench.core.errors import AudioError, WaveformError
from tokenizer_bench.core.io import atomic_path

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
    if path.is_symlink() and not path.exists():
        raise AudioError(f"{path}: broken symbolic link (points to {os.readlink(path)}, which does not exist)")
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


#: The peak ``encode --normalize`` scales every input to: -1 dBFS.
NORMALIZED_PEAK = 10 ** (-1 / 20)
#: A sample at or above this magnitude is taken as clipped (16-bit full scale is 32767/32768).
_CLIP_LEVEL = 0.999
#: Peak below -60 dBFS: nearly silent (a wrong gain, a mis-scaled integer conversion).
_QUIET_PEAK = 1e-3


def level_problems(wav: torch.Tensor) -> list[str]:
    """What is wrong with the level of ``wav`` (any shape, float in [-1, 1] expected), one phrase
    each: above full scale, clipped (runs of samples at full scale: at least 0.1 % of them and
    three or more), nearly silent. An empty list for audio at a sane level."""
    x = wav.detach().abs().flatten()
    if x.numel() == 0:
        return []
    peak = float(x.max())
    out = []
    if peak > 1.0:
        out.append(f"peaks at {peak:.3g}, above full scale (1.0); a codec trained on [-1, 1] audio will distort it")
    clipped = int((x >= _CLIP_LEVEL).sum())
    if peak <= 1.0 and clipped >= 3 and clipped >= 1e-3 * x.numel():
        out.append(f"clipped: {clipped} samples ({100 * clipped / x.numel():.2g}%) at full scale")
    if 0 < peak < _QUIET_PEAK:
        out.append(f"nearly silent (peak {20 * np.log10(peak):.0f} dBFS)")
    return out


def wav_truncation(path: str | Path) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of audio when ``path`` is a RIFF/WAVE file whose ``data`` chunk
    is shorter on disk than its header says (a copy cut off mid-file), else None.

    soundfile reads such a file without complaint, returning only the samples that are there.
    """
    path = Path(path)
    if path.suffix.lower() != ".wav":
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                declared = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    present = size - pos - 8
                    # 0xFFFFFFFF / 0: streamed WAVs that never filled the size in
                    if declared in (0, 0xFFFFFFFF) or present >= declared:
                        return None
                    return declared, present
                pos += 8 + declared + (declared & 1)
    except OSError:
        return None
    return None


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
    arr = wav.detach().float().cpu().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2:
        arr = arr.T  # soundfile wants [N, C]
    arr = np.clip(arr, -1.0, 1.0)
    with atomic_path(path) as tmp:  # the umask's mode, no temporary file left on failure
        try:
            sf.write(str(tmp), arr, sample_rate, subtype="PCM_16", format="WAV")
        except sf.LibsndfileError as exc:  # a full disk reaches us as libsndfile's error
            raise OSError(errno.EIO, f"cannot write the WAV file ({exc}); is the disk full or the folder "
                          "read-only?", str(path)) from exc
    return path
