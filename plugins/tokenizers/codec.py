"""The generic composed codec (``codec``): any registered encoder -> quantizer -> decoder.

:class:`CodecGenerator` builds its three parts from component specs (``{"name": <registered name>,
<constructor argument>: value, ...}``) through the registries, so a third-party encoder,
quantizer or decoder is used exactly like a built-in one; :class:`CodecTokenizer` puts it behind
the common :class:`~tokenizer_bench.core.tokenizer.Tokenizer` interface, trains with any recipe
(``default_recipe`` when a config names none) and writes / reads one layout:

* ``config.json``: ``{"tokenizer": "codec", "generator": {resolved component specs, "sample_rate"},
  "components": {part: {"name", "distribution", "version"}}, ...}``; resolved specs carry every
  keyword default of the factory, so a later change of a default does not change a saved model;
  ``components`` records which installed distribution provided each part, so loading where it is
  missing names the package to install;
* ``model.safetensors``: the generator's state dict.

The component contract (docs/components.md): the codec gives each part what it knows, as
keyword arguments its factory *declares* (nothing is passed to a factory that does not name it):
``sample_rate`` to all three, ``hop_length`` (the encoder's) to the quantizer and the decoder. A
spec may set them too, but only to the codec's values. When the model is built, a probe of a few
frames of silence checks the shapes: the encoder's ``dimension`` and ``hop_length`` exist, the
quantizer's and decoder's ``dimension`` (when they expose one) match the encoder's, the encoder
emits one frame per hop and the decoder ``hop_length`` samples per frame. A mismatch is a
:class:`ConfigError` then, not a shape error (or a silent trim) in the first training step.

:mod:`.dm_codec` is this codec plus DM-Codec's official checkpoint layout and parity.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import (
    CheckpointError,
    ConfigError,
    MissingDependencyError,
    NotApplicableError,
    UnknownComponentError,
)
from tokenizer_bench.core.interfaces import CODEC_PART_CONTEXT, QuantizerOutput
from tokenizer_bench.core.io import (
    load_safetensors_file,
    load_state_dict_strict,
    read_json_object,
    save_safetensors_atomic,
    write_json_atomic,
)
from tokenizer_bench.core.plugins import PLUGINS_ENV, distribution_of, get_registry
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer
from tokenizer_bench.plugins.tokenizers._chunking import batch_groups, decode_in_windows, encode_in_windows

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

#: The generator's parts, in build order, and their registry kinds.
PARTS: dict[str, str] = {"encoder": "encoders", "quantizer": "quantizers", "decoder": "decoders"}
#: What the codec passes to each part's factory when its signature names the argument.
INJECTED: dict[str, tuple[str, ...]] = CODEC_PART_CONTEXT
#: Frames of silence the build-time shape probe runs through the parts.
PROBE_FRAMES = 4


# --------------------------------------------------------------------------- component specs


def split_spec(kind: str, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"name": n, **kwargs}`` -> ``(n, kwargs)``; ConfigError when ``spec`` has no name."""
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        what = kind[:-1]
        raise ConfigError(f"{what} spec must be a mapping with a 'name' key (e.g. {{'name': ...}}), got {spec!r}")
    return spec["name"], {k: v for k, v in spec.items() if k != "name"}


def resolve_spec(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with every keyword default of the factory filled in (what gets saved).

    Saving resolved specs keeps a checkpoint loadable when a component's defaults change later.
    """
    name, kwargs = split_spec(kind, spec)
    entry = get_registry(kind).get(name)
    resolved: dict[str, Any] = {}
    for pname, p in entry.parameters().items():
        if p.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        if p.default is not inspect.Parameter.empty:
            resolved[pname] = list(p.default) if isinstance(p.default, tuple) else p.default
    resolved.update(kwargs)
    out = {"name": name, **resolved}
    try:
        json.dumps(out)
    except TypeError as exc:
        raise ConfigError(f"{kind[:-1]} spec {name!r} holds a value that is not JSON-serialisable: {exc}") from exc
    return out


def with_context(part: str, spec: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` plus the codec's values (``sample_rate``, ``hop_length``) its factory declares.

    A value the spec already sets must equal the codec's: a decoder told another hop than the
    encoder's would produce audio of the wrong length.
    """
    kind = PARTS[part]
    name, kwargs = split_spec(kind, spec)
    params = get_registry(kind).get(name).parameters()
    out = {"name": name, **kwargs}
    for key in INJECTED[part]:
        if key not in params or key not in context:
            continue
        if key in kwargs and kwargs[key] != context[key]:
            raise ConfigError(f"{part} {name!r}: {key}={kwargs[key]!r} differs from the codec's {key}={context[key]!r} "
                              f"(leave it out: the codec passes its own)")
        out[key] = context[key]
    return out


def _build(part: str, spec: Mapping[str, Any]) -> nn.Module:
    name, kwargs = split_spec(PARTS[part], spec)
    return get_registry(PARTS[part]).build(name, **kwargs)


def provenance(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{part: {"name", "distribution", "version"}}``: which installed package provides each part."""
    out: dict[str, dict[str, Any]] = {}
    for part, kind in PARTS.items():
        name = specs[part]["name"]
        found = distribution_of(get_registry(kind).get(name))
        out[part] = {"name": name, **(found or {"distribution": None, "version": None})}
    return out


def check_components_available(gen_cfg: Mapping[str, Any], recorded: Mapping[str, Any] | None, source: Path) -> None:
    """MissingDependencyError naming the package to install when a saved part is not registered."""
    for part, kind in PARTS.items():
        spec = gen_cfg.get(part)
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            continue
        registry = get_registry(kind)
        if spec["name"] in registry:
            continue
        rec = (recorded or {}).get(part) or {}
        dist, version = rec.get("distribution"), rec.get("version")
        if dist:
            pin = f"=={version}" if version else ""
            raise MissingDependencyError(
                f"{source}: the {part} {spec['name']!r} of this checkpoint was provided by the package {dist!r}"
                f"{f' (version {version})' if version else ''}, which is not installed or not loaded: "
                f"pip install '{dist}{pin}' (if it is installed, check that {PLUGINS_ENV} allows it)")
        raise UnknownComponentError(f"{source}: {registry.unknown_message(spec['name'])} (the checkpoint does not "
                                    "record which package provides it)")


# --------------------------------------------------------------------------- generator


class CodecGenerator(nn.Module):
    """Encoder -> quantizer -> decoder, each a registered component built from its spec.

    ``forward(wav [B,1,N]) -> (wav_hat [B,1,ceil(N/hop)*hop], QuantizerOutput)``; the output is not
    trimmed to ``N`` (the trainer's recipe cuts it). ``config`` holds the resolved specs
    (:func:`resolve_spec`), what :meth:`CodecTokenizer.save_pretrained` writes.
    """

    def __init__(
        self,
        encoder: Mapping[str, Any],
        quantizer: Mapping[str, Any],
        decoder: Mapping[str, Any],
        sample_rate: int = 16000,
    ) -> None:
        super().__init__()
        self.sample_rate = int(sample_rate)
        specs = {"encoder": with_context("encoder", encoder, {"sample_rate": self.sample_rate})}
        self.encoder = _build("encoder", specs["encoder"])
        dim = _int_attribute(self.encoder, "encoder", specs["encoder"]["name"], "dimension")
        hop = _int_attribute(self.encoder, "encoder", specs["encoder"]["name"], "hop_length")
        self._after_encoder(dim)
        context = {"sample_rate": self.sample_rate, "hop_length": hop}
        specs["quantizer"] = with_context("quantizer", quantizer, context)
        self.quantizer = _build("quantizer", specs["quantizer"])
        specs["decoder"] = with_context("decoder", decoder, context)
        self.decoder = _build("decoder", specs["decoder"])
        self.dimension = dim
        self.hop_length = hop
        self._check_shapes(specs)
        self.config: dict[str, Any] = {
            **{part: resolve_spec(PARTS[part], spec) for part, spec in specs.items()},
            "sample_rate": self.sample_rate,
        }
        self.components = provenance(self.config)

    def _after_encoder(self, dimension: int) -> None:
        """Hook between the encoder and the quantizer (registration order fixes the state-dict order)."""

    def _check_shapes(self, specs: Mapping[str, Mapping[str, Any]]) -> None:
        names = {part: spec["name"] for part, spec in specs.items()}
        q_dim = _int_attribute(self.quantizer, "quantizer", names["quantizer"], "dimension")
        for attr in ("num_codebooks", "codebook_size"):
            _int_attribute(self.quantizer, "quantizer", names["quantizer"], attr)
        if q_dim != self.dimension:
            raise ConfigError(f"quantizer {names['quantizer']!r} has dimension {q_dim}; the encoder "
                              f"{names['encoder']!r} emits {self.dimension}")
        for attr, want in (("dimension", self.dimension), ("hop_length", self.hop_length)):
            got = getattr(self.decoder, attr, None)
            if got is not None and int(got) != want:
                raise ConfigError(f"decoder {names['decoder']!r} has {attr} {int(got)}; the encoder "
                                  f"{names['encoder']!r} has {attr} {want}")
        self._probe(names)

    @torch.no_grad()
    def _probe(self, names: Mapping[str, str]) -> None:
        """Run a few frames of silence through the parts (eval mode, no RNG, no state change)."""
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            param = next(self.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            n = PROBE_FRAMES * self.hop_length
            latent = self.encoder(torch.zeros(1, 1, n, device=device))
            if latent.dim() != 3 or latent.shape[1] != self.dimension:
                raise ConfigError(f"encoder {names['encoder']!r} returned {tuple(latent.shape)} for [1, 1, {n}]; "
                                  f"expected [1, {self.dimension}, frames]")
            frames = int(latent.shape[-1])
            if frames not in (PROBE_FRAMES, PROBE_FRAMES + 1):
                raise ConfigError(f"encoder {names['encoder']!r} emitted {frames} frames for {n} samples; with "
                                  f"hop_length {self.hop_length} that is {PROBE_FRAMES} (or one more when centred)")
            codes = torch.zeros(1, int(self.quantizer.num_codebooks), frames, dtype=torch.long, device=device)
            wav = self.decoder(self.quantizer.decode(codes))
            want = (1, 1, frames * self.hop_length)
            if tuple(wav.shape) != want:
                raise ConfigError(f"decoder {names['decoder']!r} returned {tuple(wav.shape)} for {frames} frames; the "
                                  f"encoder's hop_length {self.hop_length} needs {list(want)} (decoder hop or "
                                  "dimension disagrees with the encoder's)")
        finally:
            for module, training in modes:
                module.training = training

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def num_codebooks(self) -> int:
        return int(self.quantizer.num_codebooks)

    def forward(self, wav: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        latent = self.encoder(wav)
        qout = self.quantizer(latent, n_q=n_q)
        return self.decoder(qout.quantized), qout

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        return self.quantizer.encode(self.encoder(wav), n_q=n_q)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(codes))


def _int_attribute(module: nn.Module, part: str, name: str, attr: str) -> int:
    value = getattr(module, attr, None)
    if value is None:
        raise ConfigError(f"{part} {name!r} ({type(module).__name__}) has no '{attr}' attribute, which the {part} "
                          "contract requires (docs/components.md)")
    return int(value)


# --------------------------------------------------------------------------- tokenizer


class CodecTokenizer(Tokenizer):
    """A :class:`CodecGenerator` behind the common tokenizer interface.

    ``encode``/``decode`` run without gradients, never initialise or update codebooks and give
    the same result in train and eval mode. ``num_codebooks`` may be set below the generator's
    depth (``n_q`` option) to lower the default bitrate.
    """

    name: ClassVar[str] = "codec"
    #: The registered training recipe a config without `recipe:` trains it with (plugins/recipes).
    default_recipe: ClassVar[str] = "dm_codec_gan"
    loads_pushed_repo_ids: ClassVar[bool] = True  # build_* fetches the snapshot of a repo id
    generator_class: ClassVar[type[CodecGenerator]] = CodecGenerator
    #: Runtime options (not architecture): bounded-memory processing, see ``_chunking``.
    _RUNTIME_OPTIONS: ClassVar[tuple[str, ...]] = ("chunk_seconds", "chunk_context_seconds", "max_batch_seconds")
    _LOAD_OPTIONS: ClassVar[tuple[str, ...]] = ("weights_file", "n_q", "device") + _RUNTIME_OPTIONS

    def __init__(
        self,
        generator: CodecGenerator,
        n_q: int | None = None,
        chunk_seconds: float | None = 60.0,
        chunk_context_seconds: float = 2.0,
        max_batch_seconds: float | None = 60.0,
    ) -> None:
        """``chunk_seconds``: inputs longer than this are encoded/decoded in windows of this length
        with ``chunk_context_seconds`` of context each side (bounded memory; near-exact, see
        ``_chunking``); ``max_batch_seconds``: batches holding more audio run in exact sub-batches.
        ``None`` turns either off."""
        for key, value in (("chunk_seconds", chunk_seconds), ("max_batch_seconds", max_batch_seconds)):
            if value is not None and not float(value) > 0:
                raise ConfigError(f"{key} must be positive or null, got {value!r}")
        if not float(chunk_context_seconds) >= 0:
            raise ConfigError(f"chunk_context_seconds must be >= 0, got {chunk_context_seconds!r}")
        self.chunk_seconds = None if chunk_seconds is None else float(chunk_seconds)
        self.chunk_context_seconds = float(chunk_context_seconds)
        self.max_batch_seconds = None if max_batch_seconds is None else float(max_batch_seconds)
        self.generator = generator
        self.sample_rate = generator.sample_rate
        self.frame_rate = generator.frame_rate
        self.codebook_size = int(generator.quantizer.codebook_size)
        depth = generator.num_codebooks
        if n_q is not None and not 1 <= int(n_q) <= depth:
            raise ConfigError(f"n_q must be between 1 and the model's {depth} codebooks, got {n_q}")
        self.num_codebooks = depth if n_q is None else int(n_q)

    # ---------------------------------------------------------------- construction
    @classmethod
    def generator_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Random-init options -> generator keyword arguments; consumes the keys it uses."""
        missing = [part for part in PARTS if part not in options]
        if missing:
            raise ConfigError(f"{cls.name}: needs a spec for each part, missing {', '.join(missing)} "
                              "(e.g. encoder: {name: seanet_encoder, ...})")
        cfg = {part: dict(options.pop(part)) for part in PARTS}
        if "sample_rate" in options:
            cfg["sample_rate"] = options.pop("sample_rate")
        return cfg

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Every option :meth:`from_options` takes (listed when an unknown one is given)."""
        return (*PARTS, "sample_rate", "n_q", "seed", "device", *cls._RUNTIME_OPTIONS)

    @classmethod
    def from_options(cls, seed: int | None = None, device: str | None = None, **options: Any) -> "CodecTokenizer":
        """Random init from component specs (``encoder``, ``quantizer``, ``decoder``) and ``sample_rate``."""
        options = dict(options)
        runtime = {k: options.pop(k) for k in cls._RUNTIME_OPTIONS if k in options}
        n_q = options.pop("n_q", None) if "n_q" not in cls.architecture_options() else None
        cfg = cls.generator_options(options)
        if options:
            raise ConfigError(f"{cls.name}: unknown option(s) {', '.join(sorted(options))}; "
                              f"valid: {', '.join(sorted(cls.option_names()))}")
        with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
            if seed is not None:
                torch.manual_seed(int(seed))
            generator = cls.generator_class(**cfg)
        tok = cls(generator.eval(), n_q=n_q, **runtime)
        return tok.to(device) if device is not None else tok

    @classmethod
    def architecture_options(cls) -> tuple[str, ...]:
        """Flat architecture keys :meth:`generator_options` consumes (none here; dm_codec's official keys)."""
        return ()

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "CodecTokenizer":
        """Load the layout :meth:`save_pretrained` writes. Options: ``weights_file``, ``n_q`` (default
        depth), ``device``, and the runtime options."""
        unknown = sorted(set(options) - set(cls._LOAD_OPTIONS))
        if unknown:
            raise ConfigError(f"{cls.name}: unknown option(s) {', '.join(unknown)} when loading a checkpoint; "
                              f"valid: {', '.join(cls._LOAD_OPTIONS)} (the architecture comes from the checkpoint)")
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: checkpoint directory not found")
        cfg = read_json_object(directory / CONFIG_NAME, "config")
        generator, n_q = cls._load_generator(directory, cfg, options)
        tok = cls(generator.eval(), n_q=n_q, **{k: options[k] for k in cls._RUNTIME_OPTIONS if k in options})
        device = options.get("device")
        return tok.to(device) if device is not None else tok

    @classmethod
    def _load_generator(cls, directory: Path, cfg: dict[str, Any],
                        options: Mapping[str, Any]) -> tuple[CodecGenerator, int | None]:
        if "tokenizer" not in cfg:
            raise CheckpointError(f"{directory / CONFIG_NAME}: not a tokenizer-bench config (no 'tokenizer' key)")
        return cls._load_ours(directory, cfg, options.get("weights_file")), options.get("n_q", cfg.get("num_codebooks"))

    @classmethod
    def _load_ours(cls, directory: Path, cfg: dict[str, Any], weights_file: str | None) -> CodecGenerator:
        cfg_path = directory / CONFIG_NAME
        if cfg["tokenizer"] != cls.name:
            raise CheckpointError(f"{cfg_path}: written by tokenizer {cfg['tokenizer']!r}, not {cls.name!r}; "
                                  f"load it with {cfg['tokenizer']!r}")
        if cfg.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise CheckpointError(f"{cfg_path}: format_version {cfg['format_version']} is newer than this code "
                                  f"({FORMAT_VERSION}); upgrade tokenizer-bench")
        gen_cfg = cfg.get("generator")
        if not isinstance(gen_cfg, dict):
            raise CheckpointError(f"{cfg_path}: missing the 'generator' object")
        check_components_available(gen_cfg, cfg.get("components"), cfg_path)
        try:
            generator = cls.generator_class(**gen_cfg)
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{cfg_path}: cannot build the generator ({exc})") from exc
        weights = directory / (weights_file or WEIGHTS_NAME)
        load_state_dict_strict(generator, load_safetensors_file(weights), what="generator weights", source=weights)
        return generator

    # ---------------------------------------------------------------- saving
    def save_pretrained(self, directory: str | Path) -> None:
        """``config.json`` + ``model.safetensors`` in ``directory``, each written atomically (weights first)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cfg = {
            "tokenizer": self.name,
            "format_version": FORMAT_VERSION,
            "generator": self.generator.config,
            "components": self.generator.components,
            "num_codebooks": self.num_codebooks,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "codebook_size": self.codebook_size,
        }
        save_safetensors_atomic(self.generator.state_dict(), directory / WEIGHTS_NAME, metadata={"format": "pt"})
        write_json_atomic(directory / CONFIG_NAME, cfg)

    # ---------------------------------------------------------------- interface
    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: torch.device | str) -> "CodecTokenizer":
        self.generator.to(device)
        return self

    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        n_q = self.check_n_q(n_q)
        wav = self.check_wav(wav).to(self.device, torch.float32)
        hop = self.generator.hop_length

        def one(x: torch.Tensor) -> torch.Tensor:
            return self.generator.encode(x, n_q=n_q)

        with torch.no_grad():
            return self._bounded(one, wav, wav.shape[-1] / self.sample_rate,
                                 lambda f, x, c, k: encode_in_windows(f, x, hop, c, k))

    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.num_codebooks:
            raise ValueError(f"{self.name}.decode expects codes [B, Q <= {self.num_codebooks}, T], "
                             f"got {tuple(codes.shape)}")
        hop = self.generator.hop_length
        with torch.no_grad():
            return self._bounded(self.generator.decode, codes.to(self.device), codes.shape[-1] / self.frame_rate,
                                 lambda f, x, c, k: decode_in_windows(f, x, hop, c, k))

    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Each level's codebook vector ``[B, Q, D, T]`` (the quantizer's ``code_vectors``)."""
        self.check_codes(codes)
        vectors = getattr(self.generator.quantizer, "code_vectors", None)
        if vectors is None:
            raise NotApplicableError(f"{self.name}: quantizer {type(self.generator.quantizer).__name__} has no "
                                     "code_vectors(codes)")
        with torch.no_grad():
            return vectors(codes.to(self.device))

    def _bounded(self, run, x: torch.Tensor, seconds: float, in_windows) -> torch.Tensor:
        """``run`` over sub-batches, and over windows when an input is longer than ``chunk_seconds``."""
        chunk = None
        if self.chunk_seconds is not None and seconds > self.chunk_seconds:
            chunk = max(1, round(self.chunk_seconds * self.frame_rate))
            context = round(self.chunk_context_seconds * self.frame_rate)
        per_call = min(seconds, self.chunk_seconds + 2 * self.chunk_context_seconds) if chunk else seconds
        outs = []
        for group in batch_groups(x.shape[0], per_call, self.max_batch_seconds):
            part = x[group]
            outs.append(in_windows(run, part, chunk, context) if chunk else run(part))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def describe(self) -> dict:
        return {**super().describe(), "hop_length": self.generator.hop_length,
                "num_parameters": sum(p.numel() for p in self.generator.parameters())}


def build_from(cls: type[CodecTokenizer], checkpoint: str | Path | None, revision: str | None,
               **options: Any) -> CodecTokenizer:
    """Random init (``checkpoint=None``), a local folder, or a hub repo id (``owner/name``) whose
    snapshot (at ``revision``) is downloaded into the Hugging Face cache on first use (core/hub.py)."""
    if checkpoint is None:
        return cls.from_options(**options)
    raw = str(checkpoint)
    if revision is not None and Path(raw).expanduser().exists():
        raise ConfigError(f"{cls.name}: revision={revision!r} applies to hub repo ids; {raw} is a local folder")
    if not Path(raw).expanduser().exists() and "/" in raw and hub.looks_like_repo_id(raw):
        try:
            checkpoint = hub.fetch_snapshot(raw, revision=revision, what=f"{cls.name} tokenizer",
                                            hint="or pass the exported folder")
        except hub.HubUnavailableError as exc:
            raise hub.HubUnavailableError(f"{exc} ({raw!r} is not a local folder either.)") from None
    return cls.from_pretrained(checkpoint, **options)


def build_codec(checkpoint: str | Path | None = None, revision: str | None = None, **options: Any) -> CodecTokenizer:
    """A codec composed of registered parts: random init from ``encoder``/``quantizer``/``decoder`` specs, or a
    folder written by ``save_pretrained`` (or a hub repo id of one)."""
    return build_from(CodecTokenizer, checkpoint, revision, **options)


def register_tokenizers(register) -> None:
    # default_recipe: read when a config is validated (its sections are the recipe's), before any model is built
    register("codec", build_codec, default_recipe=CodecTokenizer.default_recipe)
