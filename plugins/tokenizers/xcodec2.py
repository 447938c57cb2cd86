"""X-Codec2 (Ye et al., 2025, the Llasa codec) through ``transformers.Xcodec2Model``: tokenizer ``xcodec2``.

``HKUSTAudio/xcodec2-hf``: 16 kHz, 50 frames/s (hop 320), ONE codebook: finite scalar quantisation
with 8 levels of 4 values, 4**8 = 65,536 codes, so 50 x 16 bit = 0.8 kbps. There is no depth to
choose (``num_codebooks`` = 1). The semantic branch is a Wav2Vec2-BERT encoder on Kaldi log-mel
filter banks; the acoustic branch a convolutional encoder on the waveform; the decoder a
transformer with an iSTFT head.

The transformers feature extractor computes those filter banks with torchaudio, which this project
does not use; :mod:`._kaldi_fbank` computes the same formula in torch (checked against transformers'
numpy implementation on LibriSpeech audio, tests/plugins/tokenizers/test_kaldi_fbank.py), and
:func:`semantic_inputs` reproduces the extractor's padding exactly: one zero sample appended, the
waveform padded to a multiple of the hop (so ``N`` samples give ``floor(N / 320) + 1`` frames), the
filter banks of that waveform with half a hop of zeros each side, normalised per bin, padded to an
even frame count with 1.0 (masked) and stacked two frames at a time (160 features).

Examples are prepared one by one (per-example normalisation, no cross-example padding) and the
models have no batch statistics, so batched and one-at-a-time codes are the same at equal
lengths. The X-Codec2 weights are CC-BY-NC-4.0 (NON-COMMERCIAL; the model card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from tokenizer_bench.plugins.tokenizers._hf_codec import HFCodecTokenizer, load_hf_model, saved_options
from tokenizer_bench.plugins.tokenizers._kaldi_fbank import fbank, normalise

HUB_ID = "HKUSTAudio/xcodec2-hf"
CONFIG_FILE = "xcodec2_tokenizer.json"
FEATURE_PADDING_VALUE = 1.0  # Xcodec2FeatureExtractor / NeuCodecFeatureExtractor padding_value
FEATURE_STRIDE = 2  # filter-bank frames stacked per semantic-encoder step


def semantic_inputs(wav: torch.Tensor, hop: int, center: bool) -> dict[str, torch.Tensor]:
    """What the transformers feature extractor gives for ``wav [B, 1, N]`` at 16 kHz (equal lengths).

    ``center``: X-Codec2 pads the filter-bank input by ``hop // 2`` each side; NeuCodec does not.
    Returns ``input_values [B, 1, M]``, ``input_features [B, F, 160]``, ``input_features_mask [B, F]``.
    """
    audio = torch.nn.functional.pad(wav, (0, 1))
    audio = torch.nn.functional.pad(audio, (0, -audio.shape[-1] % hop))
    mel_wave = torch.nn.functional.pad(audio, (hop // 2, hop // 2)) if center else audio
    feats = normalise(fbank(mel_wave[:, 0].float() * 2**15))  # [B, F, 80]
    b, f, d = feats.shape
    mask = torch.ones(b, f, dtype=torch.long, device=feats.device)
    extra = -f % FEATURE_STRIDE
    if extra:
        feats = torch.nn.functional.pad(feats, (0, 0, 0, extra), value=FEATURE_PADDING_VALUE)
        mask = torch.nn.functional.pad(mask, (0, extra))
    steps = feats.shape[1] // FEATURE_STRIDE
    feats = feats.reshape(b, steps, d * FEATURE_STRIDE)
    mask = mask.reshape(b, steps, FEATURE_STRIDE).min(dim=-1).values
    return {"input_values": audio, "input_features": feats, "input_features_mask": mask}


class Xcodec2Tokenizer(HFCodecTokenizer):
    """A ``transformers.Xcodec2Model`` behind the project's interface (one 65,536-entry FSQ codebook)."""

    name = "xcodec2"
    config_file = CONFIG_FILE
    #: Filter banks centred by half a hop (X-Codec2) or not (NeuCodec).
    center_features: ClassVar[bool] = True

    def __init__(self, model: Any, chunk_seconds: float | None = 60.0, chunk_context_seconds: float = 2.0,
                 max_batch_seconds: float | None = 60.0) -> None:
        cfg = model.config
        self.model = model.eval()
        self._set_rates(cfg)
        self.codebook_size = 1
        for level in cfg.quantization_levels:
            self.codebook_size *= int(level)
        self._init_runtime(1, 1, chunk_seconds, chunk_context_seconds, max_batch_seconds)

    def _set_rates(self, cfg: Any) -> None:
        self.model_rate = self.output_rate = int(cfg.sampling_rate)
        self.hop = self.out_hop = int(cfg.hop_length)
        self.frame_rate = self.model_rate / self.hop

    def options(self) -> dict:
        return {}

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "Xcodec2Tokenizer":
        return xcodec2(directory, **options)

    def _encode_native(self, x: torch.Tensor, n_q: int) -> torch.Tensor:
        inputs = semantic_inputs(x, self.hop, self.center_features)
        return self.model.encode(inputs["input_values"], inputs["input_features"],
                                 input_features_mask=inputs["input_features_mask"]).audio_codes

    def _decode_native(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(audio_codes=codes).audio_values


def xcodec2(checkpoint: str | Path | None = None, revision: str | None = None, **runtime: Any) -> Xcodec2Tokenizer:
    """X-Codec2 (transformers): 16 kHz, 50 Hz, one FSQ codebook of 65,536 (0.8 kbps)."""
    checkpoint = HUB_ID if checkpoint is None else checkpoint
    saved_options(checkpoint, CONFIG_FILE, "xcodec2")  # validates a saved file's tokenizer name
    from transformers import Xcodec2Model

    return Xcodec2Tokenizer(load_hf_model(Xcodec2Model, checkpoint, revision, "X-Codec2 weights", "xcodec2"),
                            **runtime)


def register_tokenizers(register) -> None:
    register("xcodec2", xcodec2)


__all__ = ["Xcodec2Tokenizer", "semantic_inputs", "xcodec2", "HUB_ID"]
