"""Example tokenizer-bench plugin: an FSQ quantizer and a loudness metric."""

from __future__ import annotations

from tokenizer_bench import hookimpl

from .fsq import FSQ
from .loudness import LoudnessDifference


@hookimpl
def register_quantizers(register):
    register("fsq", FSQ)


@hookimpl
def register_metrics(register):
    register("loudness_difference", LoudnessDifference)
