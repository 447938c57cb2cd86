"""The official DM-Codec code's LM-to-frame alignment, for parity experiments only (``pad``).

The official code pads the LM's token features to the STT's frame count and truncates both
sides to the shorter length, so token i is compared with codec frame i whatever was said when.
The aligners of the method (``timestamps``, ``interpolate``) are in :mod:`.aligners`.
"""

from __future__ import annotations

import torch

from tokenizer_bench.core.interfaces_teachers import AlignedFeatures, TokenFeatures, Transcript


class PadAligner:
    """``pad``: the official behaviour, for parity experiments only — token i on frame i.

    Tokens (special tokens included, as the official code feeds ``[CLS] ... [SEP]``) are placed
    on frames 0..n-1; frames past the text are zeros with mask ``False``; tokens past the last
    frame are dropped. Unlike the official code, the padding frames are zeros rather than the LM's
    output for ``[PAD]`` inputs, and truncation is to the codec's T frames rather than the STT's
    frame count. Set ``keep_special_tokens: false`` to drop ``[CLS]``/``[SEP]``.
    """

    needs_timings = False

    def __init__(self, keep_special_tokens: bool = True) -> None:
        self.keep_special_tokens = bool(keep_special_tokens)

    def __call__(
        self, tokens: TokenFeatures, transcript: Transcript, num_frames: int, frame_seconds: float
    ) -> AlignedFeatures:
        feats = tokens.features if self.keep_special_tokens else tokens.features[~tokens.special]
        n = min(feats.shape[0], num_frames)
        out = torch.zeros(num_frames, tokens.features.shape[1])
        out[:n] = feats[:n]
        mask = torch.zeros(num_frames, dtype=torch.bool)
        mask[:n] = True
        return AlignedFeatures(out, mask, {"tokens_dropped": int(feats.shape[0] - n)})


def register_aligners(register) -> None:
    register("pad", PadAligner, "Official behaviour (parity only): token i on frame i, zero padding")
