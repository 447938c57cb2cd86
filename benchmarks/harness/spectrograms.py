"""Spectrograms of the report's example utterances: the original and every row's reconstruction.

A number such as STOI can call envelope-shaped noise half intelligible; a spectrogram shows at a
glance whether a reconstruction has harmonics, formants and silences between words. For each
example utterance of ``compare``'s HTML report, the original and each row's reconstruction are
drawn as log-magnitude STFT images (linear frequency up to Nyquist, so the harmonics of voiced speech
show as parallel lines) on the **same dB scale**: the original's peak down to ``DYNAMIC_RANGE_DB``
below it, so a quieter or noisier reconstruction looks it. The PNGs are written next to the
report (``spectrograms/<utterance>__original.png``, ``<utterance>__row_<label>.png``, for results
pages to link) and embedded in the
report, which stays one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import numpy as np

from tokenizer_bench.core.io import atomic_path

SPECTROGRAM_DIR = "spectrograms"
N_FFT = 512          # 32 ms at 16 kHz: resolves the harmonics of a voice (31 Hz bins)
HOP = 128            # 8 ms
DYNAMIC_RANGE_DB = 80.0
FLOOR = 1e-10        # magnitude floor before the log (digital silence)
MISSING_MATPLOTLIB = "spectrograms need matplotlib: pip install 'tokenizer-bench[eval]'"


def log_spectrogram(wav: np.ndarray, sample_rate: int, n_fft: int = N_FFT,
                    hop: int = HOP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dB [freq, frame], frequencies in Hz, frame centre times in s)`` of a mono waveform.

    Hann-windowed frames of ``n_fft`` samples every ``hop`` (the signal zero-padded by ``n_fft // 2``
    on both sides, so frame ``t`` is centred on sample ``t * hop``); ``20 log10 |rfft|``.
    """
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    x = np.pad(x, (n_fft // 2, n_fft // 2))
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)).T
    db = 20.0 * np.log10(np.maximum(mag, FLOOR))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    times = np.arange(db.shape[1]) * hop / sample_rate
    return db, freqs, times


def write_spectrogram_png(db: np.ndarray, freqs: np.ndarray, times: np.ndarray, path: Path, *, vmax: float,
                          title: str) -> Path:
    """Draw ``db`` between ``vmax - DYNAMIC_RANGE_DB`` and ``vmax`` (Agg canvas, no pyplot) into ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 1.9))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.14, 0.22, 0.84, 0.66))
    end = times[-1] + (times[1] - times[0] if times.size > 1 else 0.0)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=vmax - DYNAMIC_RANGE_DB, vmax=vmax,
              extent=(0.0, float(end), float(freqs[0]) / 1000, float(freqs[-1]) / 1000), interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xlabel("s", fontsize=7, labelpad=1)
    ax.set_ylabel("kHz", fontsize=7, labelpad=1)
    ax.tick_params(labelsize=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def _read(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf

    wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return wav.mean(axis=1), int(sr)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "x"


class ExampleSpectrograms:
    """The spectrogram images of one report: call :meth:`original` for an utterance first (it sets
    the utterance's dB scale), then :meth:`reconstruction` for each row. Each returns an ``<img>``."""

    def __init__(self, out: Path) -> None:
        self.folder = Path(out) / SPECTROGRAM_DIR
        self._vmax: dict[str, float] = {}
        try:
            import matplotlib  # noqa: F401
            self.missing: str | None = None
        except ImportError:
            self.missing = MISSING_MATPLOTLIB

    def original(self, utt_id: str, wav_bytes: bytes) -> str:
        return self._image(utt_id, "original", wav_bytes, reference=True)

    def reconstruction(self, utt_id: str, label: str, wav_bytes: bytes) -> str:
        return self._image(utt_id, f"row_{label}", wav_bytes, reference=False)

    def _image(self, utt_id: str, label: str, wav_bytes: bytes, reference: bool) -> str:
        if self.missing:
            return f"<br><small class='note'>{html.escape(self.missing)}</small>"
        try:
            wav, sr = _read(wav_bytes)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is reported in its cell, not fatal
            why = f"{type(exc).__name__}: {exc}"
            return f"<br><small class='note'>no spectrogram ({html.escape(why)})</small>"
        db, freqs, times = log_spectrogram(wav, sr)
        if reference or utt_id not in self._vmax:
            self._vmax[utt_id] = float(db.max())
        path = self.folder / f"{_safe(utt_id)}__{_safe(label)}.png"
        write_spectrogram_png(db, freqs, times, path, vmax=self._vmax[utt_id], title=f"{utt_id}: {label}")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        alt = html.escape(f"spectrogram of {utt_id}: {label}", quote=True)
        return (f"<br><img class='spectrogram' alt='{alt}' data-file='{SPECTROGRAM_DIR}/{html.escape(path.name)}' "
                f"src='data:image/png;base64,{data}'>")
