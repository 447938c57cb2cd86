"""``sm_hf``: a Hugging Face speech encoder (HuBERT, wav2vec 2.0, WavLM...) as the SM teacher.

Features come out on the codec's frames: ``encode(wav, num_frames=T, frame_seconds=hop/sr)``
returns exactly ``[T, D]``.

**Same frame rate** (HuBERT/wav2vec2 at 16 kHz: stride 320 = 20 ms, like the 16 kHz codec with
hop 320): the speech encoder's convolutional front end has a receptive field of 400 samples and a
stride of 320, so on ``N`` samples it emits ``floor((N - 400) / 320) + 1`` frames — one or two
fewer than the codec's ``T = ceil(N / 320)``. The normalised input is therefore zero-padded at
the end to ``320 * (T - 1) + 400`` samples, which yields exactly ``T`` frames; encoder frame t
reads samples ``[320 t, 320 t + 400)``, the span of codec frame t plus 80 samples (its centre is
2.5 ms later than the codec frame's). Only the last one or two frames see padding. There is
then no interpolation at all: frame t of the teacher is frame t of the codec.

**Different rates** (another codec hop, or a teacher with another stride): the encoder runs on
the unpadded audio and its frames are linearly interpolated in time onto the codec frame centres
(clamped at both ends).

Utterances are encoded one at a time: base-size wav2vec2/HuBERT normalise their convolutional
features over time without an attention mask, so batching padded audio would change the
features of the shorter utterances.
"""

from __future__ import annotations

import math

import torch

from tokenizer_bench.core.errors import ConfigError

from tokenizer_bench.plugins._pretrained import from_pretrained
from tokenizer_bench.plugins.teachers._common import (
    Layers,
    check_layers,
    freeze,
    mono_1d,
    resolve_device,
    select_hidden_states,
    to_dtype,
)


def conv_geometry(config) -> tuple[int, int]:
    """``(stride, receptive_field)`` in samples of a wav2vec2-style convolutional front end."""
    kernels = getattr(config, "conv_kernel", None)
    strides = getattr(config, "conv_stride", None)
    if not kernels or not strides:
        raise ConfigError(
            "teachers.sm: the model has no convolutional feature encoder (conv_kernel/conv_stride in its config); "
            "sm_hf supports wav2vec2-style models (HuBERT, wav2vec 2.0, WavLM, data2vec-audio)"
        )
    field_, jump = 1, 1
    for k, s in zip(kernels, strides):
        field_ += (int(k) - 1) * jump
        jump *= int(s)
    return jump, field_


def conv_output_length(num_samples: int, kernels, strides) -> int:
    """Frames the convolutional front end emits for ``num_samples`` (floor at every layer)."""
    n = num_samples
    for k, s in zip(kernels, strides):
        n = (n - int(k)) // int(s) + 1
    return max(n, 0)


def interpolate_frames(features: torch.Tensor, src_times: torch.Tensor, dst_times: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``features [L, D]`` at ``src_times [L]`` onto ``dst_times [T]`` (clamped)."""
    if features.shape[0] == 1:
        return features.expand(dst_times.shape[0], -1).clone()
    t = dst_times.clamp(min=float(src_times[0]), max=float(src_times[-1]))
    hi = torch.searchsorted(src_times, t, right=False).clamp(1, src_times.shape[0] - 1)
    lo = hi - 1
    span = (src_times[hi] - src_times[lo]).clamp_min(1e-12)
    w = ((t - src_times[lo]) / span).unsqueeze(1).to(features.dtype)
    return features[lo] * (1 - w) + features[hi] * w


class HFSpeechEncoder:
    """Frozen speech encoder; same ``layers`` / ``include_embeddings`` options as ``lm_hf``.

    ``average`` (default) is the mean of all hidden states including the encoder input
    (``hidden_states[0]``, after the positional convolution), as the official code computes it.
    """

    role = "sm"

    def __init__(
        self,
        model: str = "facebook/hubert-base-ls960",
        layers: Layers = "average",
        include_embeddings: bool = True,
        device: str = "auto",
        dtype: str = "float32",
        revision: str | None = None,
    ) -> None:
        from transformers import AutoFeatureExtractor, AutoModel

        self.model_name = str(model)
        self.layers = check_layers(layers)
        self.include_embeddings = bool(include_embeddings)
        self.device = resolve_device(device)
        self.feature_extractor = from_pretrained(AutoFeatureExtractor, model, "teachers.sm (feature extractor)",
                                                 revision)
        weights = from_pretrained(AutoModel, model, "teachers.sm", revision, dtype=to_dtype(dtype))
        self.model = freeze(weights).to(self.device)
        self.sample_rate = int(getattr(self.feature_extractor, "sampling_rate", 16000))
        self.stride, self.receptive_field = conv_geometry(self.model.config)
        self.dimension = int(self.model.config.hidden_size)
        n_states = int(self.model.config.num_hidden_layers) + 1
        if isinstance(self.layers, int) and not -n_states <= self.layers < n_states:
            raise ConfigError(
                f"teachers.sm.layers: index {self.layers} out of range for {model!r} ({n_states} hidden states)"
            )

    @property
    def frame_seconds(self) -> float:
        return self.stride / self.sample_rate

    def _normalise(self, wav: torch.Tensor) -> torch.Tensor:
        inputs = self.feature_extractor(wav.numpy(), sampling_rate=self.sample_rate, return_tensors="pt")
        return inputs["input_values"][0].float()

    @torch.no_grad()
    def _hidden(self, values: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        out = self.model(values[None].to(self.device, dtype), output_hidden_states=True)
        return select_hidden_states(out.hidden_states, self.layers, self.include_embeddings)[0].float().cpu()

    def encode(self, wav: torch.Tensor, num_frames: int, frame_seconds: float) -> torch.Tensor:
        """``[num_frames, D]`` features for mono ``wav [N]`` at ``self.sample_rate``."""
        wav = mono_1d(wav)
        if num_frames < 1:
            raise ValueError("num_frames must be at least 1")
        values = self._normalise(wav)
        if math.isclose(frame_seconds, self.frame_seconds, rel_tol=0, abs_tol=1e-9):
            target = self.stride * (num_frames - 1) + self.receptive_field
            if values.shape[0] < target:
                values = torch.nn.functional.pad(values, (0, target - values.shape[0]))
            feats = self._hidden(values)[:num_frames]
            if feats.shape[0] != num_frames:  # cannot happen for wav2vec2-style front ends; guard anyway
                raise RuntimeError(f"sm_hf: expected {num_frames} frames, the model gave {feats.shape[0]}")
            return feats
        if values.shape[0] < self.receptive_field:
            values = torch.nn.functional.pad(values, (0, self.receptive_field - values.shape[0]))
        feats = self._hidden(values)
        centres = torch.arange(feats.shape[0], dtype=torch.float64) * self.stride + self.receptive_field / 2
        src = centres / self.sample_rate
        dst = (torch.arange(num_frames, dtype=torch.float64) + 0.5) * frame_seconds
        return interpolate_frames(feats, src, dst)


def register_teachers(register) -> None:
    register(
        "sm_hf",
        HFSpeechEncoder,
        "Hugging Face speech encoder (hubert-base-ls960, wav2vec2...), features on codec frames",
        cache_packages=("transformers",),
    )


__all__ = ["HFSpeechEncoder", "conv_geometry", "conv_output_length", "interpolate_frames"]
