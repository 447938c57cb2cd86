"""NeuCodec (Neuphonic, 2025) through ``transformers.NeuCodecModel``: tokenizer ``neucodec``.

``neuphonic/neucodec``: the X-Codec2 design (Wav2Vec2-BERT semantic branch on Kaldi filter banks,
convolutional acoustic branch, one FSQ codebook of 4**8 = 65,536 codes at 50 frames/s, 0.8 kbps)
with a decoder that synthesises 24 kHz audio. It takes 16 kHz input (no resampling in) and its
24 kHz output is resampled to 16 kHz with the project's resampler (``_hf_codec``).

Features as in :mod:`.xcodec2` (torch Kaldi filter banks instead of torchaudio), except that the
NeuCodec extractor computes them on the hop-padded waveform without the half-hop centring; the
acoustic and semantic branches differ by a frame and the model keeps the shorter (``N`` samples
give ``ceil((N + 1) / 320) - 1`` frames). Batched and
one-at-a-time codes are the same at equal lengths. Code and weights: Apache-2.0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokenizer_bench.plugins.tokenizers._hf_codec import load_hf_model, saved_options
from tokenizer_bench.plugins.tokenizers.xcodec2 import Xcodec2Tokenizer

HUB_ID = "neuphonic/neucodec"
CONFIG_FILE = "neucodec_tokenizer.json"


class NeuCodecTokenizer(Xcodec2Tokenizer):
    """A ``transformers.NeuCodecModel`` behind the project's 16 kHz interface."""

    name = "neucodec"
    config_file = CONFIG_FILE
    center_features = False

    def _set_rates(self, cfg: Any) -> None:
        self.model_rate = int(cfg.input_sampling_rate)
        self.output_rate = int(cfg.output_sampling_rate)
        self.hop = int(cfg.encoder_hop_length)
        self.out_hop = int(cfg.hop_length)
        self.frame_rate = self.model_rate / self.hop
        # N samples give ceil((N + 1) / hop) - 1 frames (the semantic branch is one frame short and
        # wins): a window gets one hop of zeros so it yields all of its own frames
        self.window_pad_samples = self.hop

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "NeuCodecTokenizer":
        return neucodec(directory, **options)


def neucodec(checkpoint: str | Path | None = None, revision: str | None = None, **runtime: Any) -> NeuCodecTokenizer:
    """NeuCodec (transformers): 16 kHz in, 24 kHz decoder resampled to 16 kHz; 50 Hz, one codebook of 65,536."""
    checkpoint = HUB_ID if checkpoint is None else checkpoint
    saved_options(checkpoint, CONFIG_FILE, "neucodec")
    from transformers import NeuCodecModel

    return NeuCodecTokenizer(load_hf_model(NeuCodecModel, checkpoint, revision, "NeuCodec weights", "neucodec"),
                             **runtime)


def register_tokenizers(register) -> None:
    register("neucodec", neucodec)


__all__ = ["NeuCodecTokenizer", "neucodec", "HUB_ID"]
