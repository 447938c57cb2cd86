"""FACodec (NaturalSpeech 3) implemented in the project: modules whose state dicts match the
published amphion checkpoints key for key. Internal package (not scanned for plugins); the
registered tokenizer lives in ``plugins/tokenizers/facodec.py``."""

from tokenizer_bench.plugins.tokenizers._facodec.model import (
    PROSODY_MEL_BINS,
    RELEASED_DECODER_ARGS,
    RELEASED_ENCODER_ARGS,
    FACodecDecoder,
    FACodecDecoderV2,
    FACodecEncoder,
    FACodecEncoderV2,
)

__all__ = [
    "FACodecEncoder",
    "FACodecEncoderV2",
    "FACodecDecoder",
    "FACodecDecoderV2",
    "RELEASED_ENCODER_ARGS",
    "RELEASED_DECODER_ARGS",
    "PROSODY_MEL_BINS",
]
