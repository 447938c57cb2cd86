"""Tiny random-init instances of the published codecs, written in their official layouts.

Shared by the wrapper tests (tests/plugins/tokenizers/test_published_codecs.py) and the compare
test (tests/benchmarks/harness/test_compare_published_baselines.py): each builder returns the
folder that a hub emulation serves under the real hub id. Sizes are the smallest the classes
accept; the frame geometry (rates, hops, codebook counts and sizes) is the published models'.

Random init as transformers does it is degenerate for a codec test, in two ways fixed here (else an
"encode equals the library's encode" check compares constants and proves nothing):

* Mimi and X-Codec start their codebooks at zero (``embed_sum`` / ``embed``, filled by k-means or EMA
  in training), so every frame picks code 0. :func:`_random_codebooks` draws them.
* X-Codec2 and NeuCodec draw every weight from N(0, 0.02) (``initializer_range``) with zero biases:
  through their ~20 encoder convolutions the signal falls ~10x per layer to ~1e-4 at the FSQ's input,
  which rounds to the all-zero point (code 43,690 = level 2 in each of 8 base-4 digits), whose
  codebook vector is exactly 0. The decoder then sees zeros; its iSTFT head gives magnitude
  exp(0) = 1 with phase 0 in every bin, an impulse at each frame's first sample, where the Hann window
  is 0: exact silence for every input. Variance-preserving weights (core.nn_init) keep the scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from tokenizer_bench.core.nn_init import initialise_

_SEMANTIC_W2V_BERT = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                          output_hidden_size=16, conv_depthwise_kernel_size=3, feature_projection_input_dim=160)
_XCODEC2_FAMILY = dict(hidden_size=32, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=2, head_dim=16, encoder_hidden_size=2, quantization_dim=48)


@torch.no_grad()
def _random_codebooks(model, buffer_name: str, std: float) -> None:
    """Draw the (trained-in-practice, zero at init) codebook buffers ``*.<buffer_name>`` from N(0, std²)."""
    for name, buf in model.named_buffers():
        if name.rsplit(".", 1)[-1] == buffer_name:
            buf.normal_(0.0, std)


def _save(model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    return folder


def dac(folder: Path, rate: int = 16000) -> Path:
    from transformers import DacConfig, DacModel

    ratios = {16000: [2, 4, 5, 8], 24000: [2, 4, 5, 8], 44100: [2, 4, 8, 8]}[rate]
    n_codebooks = {16000: 12, 24000: 32, 44100: 9}[rate]
    cfg = DacConfig(encoder_hidden_size=4, decoder_hidden_size=16, n_codebooks=n_codebooks, codebook_size=1024,
                    codebook_dim=4, downsampling_ratios=ratios, sampling_rate=rate)
    return _save(DacModel(cfg), folder)


def mimi(folder: Path) -> Path:
    from transformers import MimiConfig, MimiModel

    cfg = MimiConfig(hidden_size=16, num_filters=2, codebook_size=2048, codebook_dim=8, num_quantizers=32,
                     vector_quantization_hidden_dimension=8, upsample_groups=16, num_hidden_layers=1,
                     intermediate_size=16, num_attention_heads=2, num_key_value_heads=2, head_dim=8)
    model = MimiModel(cfg)
    _random_codebooks(model, "embed_sum", 0.1)  # cluster_usage is 1: the codebook is embed_sum itself
    return _save(model, folder)


def xcodec(folder: Path) -> Path:
    from transformers import XcodecConfig, XcodecModel

    cfg = XcodecConfig(
        acoustic_model_config=dict(encoder_hidden_size=2, decoder_hidden_size=32, downsampling_ratios=[8, 5, 4, 2],
                                   hidden_size=16, codebook_dim=4, n_codebooks=2, codebook_size=8),
        semantic_model_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                   conv_dim=[8] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2),
        codebook_size=1024)
    model = XcodecModel(cfg)
    _random_codebooks(model, "embed", 1.0)
    return _save(model, folder)


def xcodec2(folder: Path) -> Path:
    from transformers import Xcodec2Config, Xcodec2Model

    model = Xcodec2Model(Xcodec2Config(semantic_model_config=dict(_SEMANTIC_W2V_BERT), **_XCODEC2_FAMILY))
    return _save(initialise_(model, "variance_preserving"), folder)


def neucodec(folder: Path) -> Path:
    from transformers import NeuCodecConfig, NeuCodecModel

    cfg = NeuCodecConfig(semantic_model_config=dict(_SEMANTIC_W2V_BERT), **_XCODEC2_FAMILY)
    return _save(initialise_(NeuCodecModel(cfg), "variance_preserving"), folder)


SNAC_CONFIG = dict(sampling_rate=24000, encoder_dim=4, encoder_rates=[2, 4, 8, 8], decoder_dim=32,
                   decoder_rates=[8, 8, 4, 2], attn_window_size=None, codebook_size=4096, codebook_dim=4,
                   vq_strides=[4, 2, 1], noise=True, depthwise=True)  # snac_24khz's geometry


def snac(folder: Path) -> Path:
    from snac import SNAC

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(SNAC_CONFIG))
    torch.save(SNAC(**SNAC_CONFIG).state_dict(), folder / "pytorch_model.bin")
    return folder


#: tokenizer name -> (hub id, builder)
BUILDERS = {
    "dac": ("descript/dac_16khz", dac),
    "mimi": ("kyutai/mimi", mimi),
    "xcodec": ("hf-audio/xcodec-hubert-librispeech", xcodec),
    "xcodec2": ("HKUSTAudio/xcodec2-hf", xcodec2),
    "neucodec": ("neuphonic/neucodec", neucodec),
    "snac": ("hubertsiuzdak/snac_24khz", snac),
}


def build_all(root: Path, names=tuple(BUILDERS)) -> dict[str, Path]:
    """``{name: folder}`` of freshly built tiny models (seeded: the same weights every time)."""
    out = {}
    for name in names:
        torch.manual_seed(1000 + list(BUILDERS).index(name))
        out[name] = BUILDERS[name][1](root / name)
    return out
