"""User-facing errors.

Every error a user can cause (a bad config, an unknown component, a corrupt audio file, a
truncated checkpoint) derives from :class:`TokenizerBenchError`. The CLI prints these as one
short message without a traceback (unless ``--debug``), so the message itself must name the
file, the key and what would be accepted instead.
"""

from __future__ import annotations


class TokenizerBenchError(Exception):
    """Base class of errors caused by the user's input rather than by a bug.

    ``exit_code``: what the CLI exits with (2, a usage error, unless a subclass says otherwise).
    """

    exit_code: int = 2


class UnknownComponentError(TokenizerBenchError, KeyError):
    """A registry was asked for a name nobody registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class DuplicateComponentError(TokenizerBenchError):
    """Two plugins registered the same name for the same kind."""


class ConfigError(TokenizerBenchError):
    """A config file is malformed or holds invalid values."""


class AudioError(TokenizerBenchError):
    """An audio file cannot be used (corrupt, empty, silent, NaN, ...)."""


class WaveformError(AudioError, ValueError):
    """An in-memory waveform cannot be used: not ``[B, 1, N]``, not float, empty, too short or NaN.

    Also a ``ValueError``: passing such a tensor to a tokenizer or discriminator is a caller's
    mistake about an argument, not about a file.
    """


class CheckpointError(TokenizerBenchError):
    """A checkpoint is missing, truncated or does not match the model."""


class TrainingError(TokenizerBenchError):
    """A training run had to stop (a non-finite loss): not the user's input, but no bug either.
    The message says which checkpoint ``--resume`` continues from."""

    exit_code = 1


class MissingDependencyError(TokenizerBenchError):
    """An optional package or a model's weights are not available here."""


class NotApplicableError(TokenizerBenchError):
    """A measurement does not apply to this component (e.g. code embeddings of a tokenizer whose
    codes index no vectors, like ``identity``); reports show the reason instead of a number."""
