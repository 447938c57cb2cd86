"""The hook specifications of tokenizer-bench: the whole plugin API in one file.

A plugin is any module (or object) with functions decorated by :data:`hookimpl` whose names
match the specs below. Built-in components register through exactly these hooks, listed under
the ``tokenizer_bench`` entry-point group of this distribution, so a third-party package is a
first-class citizen: it adds an entry point in the same group and implements the same hooks.

Every ``register_<kind>`` hook receives a ``register(name, factory, description=None)``
callable. ``factory`` is a class or function whose keyword arguments are the keys a YAML config
may set for that component (the descript-audio-codec convention: config keys are constructor
arguments). The contract of each kind: docs/components.md.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT_NAME = "tokenizer_bench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]


@hookspec
def register_encoders(register: Register) -> None:
    """Register encoders: ``wav [B,1,N] -> latent [B,D,ceil(N/hop)]``; they expose ``hop_length`` and ``dimension``.

    A composed codec passes ``sample_rate`` when the factory declares it (``interfaces.CODEC_PART_CONTEXT``).
    """


@hookspec
def register_decoders(register: Register) -> None:
    """Register decoders: ``latent [B,D,T] -> wav [B,1,T*hop]``, exactly that long.

    A composed codec passes ``sample_rate`` and the encoder's ``hop_length`` when the factory
    declares them, and checks the output length when the model is built (docs/components.md).
    """


@hookspec
def register_quantizers(register: Register) -> None:
    """Register quantizers following :class:`tokenizer_bench.core.interfaces.Quantizer`."""


@hookspec
def register_teachers(register: Register) -> None:
    """Register frozen teachers: speech-to-text, text language models and speech models."""


@hookspec
def register_aligners(register: Register) -> None:
    """Register aligners that put token-level teacher features onto codec frames."""


@hookspec
def register_discriminators(register: Register) -> None:
    """Register discriminators: ``wav -> (list of logits, list of feature-map lists)``."""


@hookspec
def register_losses(register: Register) -> None:
    """Register losses; each declares its ``inputs`` (:data:`tokenizer_bench.core.interfaces.LOSS_INPUTS`)."""


@hookspec
def register_recipes(register: Register) -> None:
    """Register training recipes following :class:`tokenizer_bench.core.interfaces.Recipe`.

    The factory is called as ``factory(cfg=TrainConfig, **recipe_args)`` (the ``recipe:`` mapping);
    its class attribute ``config_schema`` (a ``TrainConfig`` subclass) declares the config sections
    the recipe reads, which core then validates (docs/recipes.md).
    """


@hookspec
def register_tokenizers(register: Register) -> None:
    """Register tokenizers following :class:`tokenizer_bench.core.tokenizer.Tokenizer`.

    The factory is called as ``factory(checkpoint=None, **options)``.
    """


@hookspec
def register_asr_backends(register: Register) -> None:
    """Register speech recognisers used for WER/WIL: ``transcribe(list of wav) -> list of str``."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics (see :class:`tokenizer_bench.core.interfaces.Metric`)."""


@hookspec
def register_evaluators(register: Register) -> None:
    """Register train-end evaluators (``evaluation.evaluator`` of a training config).

    The factory is called with no arguments and returns a callable
    ``evaluate(cfg: TrainConfig, export_dir, run_dir, say) -> dict`` that scores the exported
    tokenizer and returns its figures (the training summary's ``evaluation``).
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``tokenizer-bench`` typer application."""
