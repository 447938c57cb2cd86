"""DM-Codec (``dm_codec``): the composed :mod:`.codec` plus DM-Codec's official layout and parity.

:class:`DMCodecGenerator` is a :class:`~.codec.CodecGenerator` whose parts default to the paper's
(``seanet_encoder`` / ``rvq`` / ``seanet_decoder``, 103,675,586 parameters) and which may carry
the official layout's ``transform`` head (:mod:`.parity`): with the default components its state
dict is exactly the official SpeechTokenizer / DM-Codec generator's (``encoder.*``,
``transform.*``, ``quantizer.vq.*``, ``decoder.*``). A generator trained here has no head (the
training config's ``model.semantic_dimension`` is null by default).

:class:`DMCodecTokenizer` adds to :class:`~.codec.CodecTokenizer`:

* random init from the 13 flat official architecture keys (``n_filters``, ``strides``, ..., the
  paper's by default), which explicit ``encoder`` / ``quantizer`` / ``decoder`` specs replace;
* loading the official layout: SpeechTokenizer/DM-Codec ``config.json`` (13 architecture keys) + a
  ``.pt`` state dict (or a trainer checkpoint dict with a ``generator`` key), strictly, with
  ``torch.load(weights_only=True)``; and writing it (:meth:`DMCodecTokenizer.save_official`).

Its own layout is the codec's (``config.json`` with ``"tokenizer": "dm_codec"`` +
``model.safetensors``); a composed codec that needs neither the official keys nor the head is
simply ``tokenizer: codec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, cast

from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.io import load_state_dict_strict, load_torch_file
from tokenizer_bench.plugins.tokenizers.codec import (
    CONFIG_NAME,
    FORMAT_VERSION,
    WEIGHTS_NAME,
    CodecGenerator,
    CodecTokenizer,
    build_from,
    resolve_spec,
)
from tokenizer_bench.plugins.tokenizers.parity import (
    OFFICIAL_ARCH_KEYS,
    PAPER_CONFIG,
    OfficialTransformHead,
    generator_config_from_options,
    official_config_from_specs,
    official_state_dict,
    pick_weights,
    save_official_layout,
    specs_from_official_config,
)

__all__ = [
    "CONFIG_NAME", "FORMAT_VERSION", "OFFICIAL_ARCH_KEYS", "PAPER_CONFIG", "WEIGHTS_NAME", "DMCodecGenerator",
    "DMCodecTokenizer", "build_dm_codec", "generator_config_from_options", "official_config_from_specs",
    "official_state_dict", "resolve_spec", "save_official_layout", "specs_from_official_config",
]


class DMCodecGenerator(OfficialTransformHead, CodecGenerator):
    """Encoder -> residual VQ -> decoder, the paper's parts by default.

    Submodules are registered as ``encoder``, ``quantizer``, ``decoder`` — the official order and
    names — with the official layout's ``transform`` head after ``encoder`` when
    ``semantic_dimension`` is set and differs from the latent size (:mod:`.parity`).
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        quantizer: Mapping[str, Any] | None = None,
        decoder: Mapping[str, Any] | None = None,
        semantic_dimension: int | None = 768,
        sample_rate: int = 16000,
    ) -> None:
        defaults = specs_from_official_config(PAPER_CONFIG)
        self._semantic_dimension = semantic_dimension
        super().__init__(
            encoder=encoder if encoder is not None else defaults["encoder"],
            quantizer=quantizer if quantizer is not None else defaults["quantizer"],
            decoder=decoder if decoder is not None else defaults["decoder"],
            sample_rate=sample_rate,
        )
        self.semantic_dimension = self.dimension if semantic_dimension is None else int(semantic_dimension)
        self.config = {part: self.config[part] for part in ("encoder", "quantizer", "decoder")} | {
            "semantic_dimension": semantic_dimension, "sample_rate": self.sample_rate}

    def _after_encoder(self, dimension: int) -> None:
        self.add_official_transform(dimension, self._semantic_dimension)


class DMCodecTokenizer(CodecTokenizer):
    """A :class:`DMCodecGenerator` behind the common tokenizer interface; reads the official layout too."""

    name: ClassVar[str] = "dm_codec"
    generator_class: ClassVar[type[CodecGenerator]] = DMCodecGenerator
    #: File name :meth:`save_official` uses by default.
    official_weights_name: ClassVar[str] = "model.pt"

    @classmethod
    def architecture_options(cls) -> tuple[str, ...]:
        return OFFICIAL_ARCH_KEYS

    @classmethod
    def generator_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The 13 official keys (defaults = the paper) and/or component specs (see
        :func:`.parity.generator_config_from_options`)."""
        return generator_config_from_options(options)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return (*OFFICIAL_ARCH_KEYS, *super().option_names())

    @classmethod
    def _load_generator(cls, directory: Path, cfg: dict[str, Any],
                        options: Mapping[str, Any]) -> tuple[CodecGenerator, int | None]:
        if "tokenizer" in cfg:
            return super()._load_generator(directory, cfg, options)
        if all(k in cfg for k in OFFICIAL_ARCH_KEYS):
            return cls._load_official(directory, cfg, options.get("weights_file")), options.get("n_q")
        missing = [k for k in OFFICIAL_ARCH_KEYS if k not in cfg]
        raise CheckpointError(f"{directory / CONFIG_NAME}: neither a tokenizer-bench config (no 'tokenizer' key) nor "
                              f"an official SpeechTokenizer/DM-Codec config (missing {', '.join(missing)})")

    @classmethod
    def _load_official(cls, directory: Path, cfg: dict[str, Any], weights_file: str | None) -> CodecGenerator:
        try:
            generator = cls.generator_class(**specs_from_official_config(cfg, source=str(directory / CONFIG_NAME)))
        except ConfigError as exc:
            raise CheckpointError(f"{directory / CONFIG_NAME}: {exc}") from exc
        weights = pick_weights(directory, weights_file)
        state = official_state_dict(load_torch_file(weights), weights)
        load_state_dict_strict(generator, state, what="generator weights", source=weights)
        return generator

    def save_official(self, directory: str | Path, weights_name: str | None = None) -> Path:
        """Write the official layout (``config.json`` + ``.pt``); see :func:`.parity.save_official_layout`."""
        return save_official_layout(self.generator, directory, weights_name or self.official_weights_name)


def build_dm_codec(checkpoint: str | Path | None = None, revision: str | None = None,
                   **options: Any) -> DMCodecTokenizer:
    """DM-Codec tokenizer: random init from options (paper config by default) or ``from_pretrained(checkpoint)``.

    ``checkpoint`` may be a hub repo id (``owner/name``, e.g. one published with ``tokenizer-bench
    push``) when no such local folder exists: its snapshot (at ``revision``) is downloaded into the
    Hugging Face cache on first use (see core/hub.py).
    """
    return cast(DMCodecTokenizer, build_from(DMCodecTokenizer, checkpoint, revision, **options))


def register_tokenizers(register) -> None:
    register("dm_codec", build_dm_codec, default_recipe=DMCodecTokenizer.default_recipe)
