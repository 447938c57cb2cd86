"""Example tokenizer-bench plugin: an FSQ quantizer, a loudness metric and a multi-resolution STFT training loss."""

from __future__ import annotations

from tokenizer_bench import hookimpl

from .fsq import FSQ
from .loudness import LoudnessDifference
from .stft_loss import MultiResolutionSTFTLoss


@hookimpl
def register_quantizers(register):
    register("fsq", FSQ)


@hookimpl
def register_metrics(register):
    register("loudness_difference", LoudnessDifference)


@hookimpl
def register_losses(register):
    register("multi_resolution_stft", MultiResolutionSTFTLoss)
