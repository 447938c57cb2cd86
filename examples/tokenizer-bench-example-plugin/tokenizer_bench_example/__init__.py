"""Example tokenizer-bench plugin: an FSQ quantizer, a frame (sub-pixel) decoder, a loudness metric and a
reconstruction-only training recipe. (Its multi-resolution STFT loss became the built-in
``multi_resolution_stft``, ``tokenizer_bench.plugins.losses.stft``; its tests use that one.)"""

from __future__ import annotations

from tokenizer_bench import hookimpl

from tokenizer_bench_example.fsq import FSQ
from tokenizer_bench_example.frame_decoder import FrameDecoder
from tokenizer_bench_example.loudness import LoudnessDifference
from tokenizer_bench_example.recipe import ReconstructionOnlyRecipe


@hookimpl
def register_quantizers(register):
    register("fsq", FSQ)


@hookimpl
def register_decoders(register):
    register("example_frame_decoder", FrameDecoder)


@hookimpl
def register_metrics(register):
    register("loudness_difference", LoudnessDifference)


@hookimpl
def register_recipes(register):
    register("reconstruction_only", ReconstructionOnlyRecipe)
