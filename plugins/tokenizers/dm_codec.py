"""DM-Codec: the generator (encoder -> RVQ -> decoder) and its tokenizer (``dm_codec``).

:class:`DMCodecGenerator` is assembled from component specs (``{"name": "seanet_encoder", ...}``)
resolved through the registries, so any registered encoder, quantizer and decoder can be
plugged in. With the default components its state dict is exactly the official
SpeechTokenizer / DM-Codec generator's (``encoder.*``, ``transform.*``, ``quantizer.vq.*``,
``decoder.*``; 103,675,586 parameters at the paper configuration). The ``transform`` head is the
official layout's only (see :mod:`.parity`): a generator trained here has none (the training
config's ``model.semantic_dimension`` is null by default).

:class:`DMCodecTokenizer` wraps a generator behind the common :class:`Tokenizer` interface and
reads/writes two layouts:

* ours: ``config.json`` (``{"tokenizer": "dm_codec", "generator": {component specs}, ...}``) +
  ``model.safetensors``, written atomically;
* the official one: SpeechTokenizer/DM-Codec ``config.json`` (13 architecture keys) + a ``.pt``
  state dict (or a trainer checkpoint dict with a ``generator`` key), loaded strictly with
  ``torch.load(weights_only=True)``.

All reads and writes go through :mod:`tokenizer_bench.core.io` (atomic, fsynced writes; strict
loads whose errors name the file).
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
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.interfaces import QuantizerOutput
from tokenizer_bench.core.io import (
    load_safetensors_file,
    load_state_dict_strict,
    load_torch_file,
    read_json_object,
    save_safetensors_atomic,
    torch_save_atomic,
    write_json_atomic,
)
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer
from tokenizer_bench.plugins.tokenizers._chunking import batch_groups, decode_in_windows, encode_in_windows
from tokenizer_bench.plugins.tokenizers.parity import OfficialTransformHead, state_dict_with_head

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

#: The keys the official model reads from its config.json.
OFFICIAL_ARCH_KEYS: tuple[str, ...] = (
    "n_filters", "strides", "dimension", "semantic_dimension", "bidirectional", "dilation_base",
    "residual_kernel_size", "n_residual_layers", "lstm_layers", "activation", "codebook_size", "n_q",
    "sample_rate",
)

#: The paper's (and SpeechTokenizer hubert_avg's) architecture.
PAPER_CONFIG: dict[str, Any] = {
    "n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "semantic_dimension": 768,
    "bidirectional": True, "dilation_base": 2, "residual_kernel_size": 3, "n_residual_layers": 1,
    "lstm_layers": 2, "activation": "ELU", "codebook_size": 1024, "n_q": 8, "sample_rate": 16000,
}

_SEANET_SHARED = ("n_filters", "strides", "dimension", "dilation_base", "residual_kernel_size",
                  "n_residual_layers", "lstm_layers", "activation")
#: Settings the official code fixes; a generator can be written in the official layout only with these.
_SEANET_FIXED = {"channels": 1, "kernel_size": 7, "last_kernel_size": 7, "compress": 2, "true_skip": False,
                 "causal": False, "pad_mode": "reflect", "norm": "weight_norm", "activation_params": None}


# --------------------------------------------------------------------------- component specs


def _registry(kind: str):
    from tokenizer_bench.core.plugins import get_registry

    return get_registry(kind)


def _split_spec(kind: str, spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ConfigError(f"{kind[:-1]} spec must be a mapping with a 'name' key (e.g. {{'name': ...}}), got {spec!r}")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    return spec["name"], kwargs


def resolve_spec(kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with every keyword default of the factory filled in (what gets saved).

    Saving resolved specs keeps a checkpoint loadable when a component's defaults change later.
    """
    name, kwargs = _split_spec(kind, spec)
    entry = _registry(kind).get(name)
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


def _build(kind: str, spec: Mapping[str, Any]) -> nn.Module:
    name, kwargs = _split_spec(kind, spec)
    return _registry(kind).build(name, **kwargs)


def specs_from_official_config(cfg: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Official 13-key config -> :class:`DMCodecGenerator` keyword arguments.

    The decoder LSTM is unidirectional whatever ``bidirectional`` says (the official model forces it).
    """
    missing = [k for k in OFFICIAL_ARCH_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{source}: missing official architecture key(s) {', '.join(missing)}")
    shared = {k: cfg[k] for k in _SEANET_SHARED}
    shared["strides"] = list(shared["strides"])
    return {
        "encoder": {"name": "seanet_encoder", **shared, "bidirectional": bool(cfg["bidirectional"])},
        "quantizer": {"name": "rvq", "dimension": cfg["dimension"], "n_q": cfg["n_q"],
                      "codebook_size": cfg["codebook_size"]},
        "decoder": {"name": "seanet_decoder", **shared, "bidirectional": False},
        "semantic_dimension": cfg["semantic_dimension"],
        "sample_rate": cfg["sample_rate"],
    }


def official_config_from_specs(gen_config: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`specs_from_official_config`; ConfigError when the official layout cannot express it."""
    enc = resolve_spec("encoders", gen_config["encoder"])
    dec = resolve_spec("decoders", gen_config["decoder"])
    q = resolve_spec("quantizers", gen_config["quantizer"])
    problems = []
    if enc["name"] != "seanet_encoder" or dec["name"] != "seanet_decoder" or q["name"] != "rvq":
        problems.append("components must be seanet_encoder / rvq / seanet_decoder")
    else:
        for key, val in _SEANET_FIXED.items():
            for side, spec in (("encoder", enc), ("decoder", dec)):
                if spec.get(key) != val:
                    problems.append(f"{side}.{key}={spec.get(key)!r} (official: {val!r})")
        for key in _SEANET_SHARED:
            if enc.get(key) != dec.get(key):
                problems.append(f"encoder.{key}={enc.get(key)!r} differs from decoder.{key}={dec.get(key)!r}")
        if q["dimension"] != enc["dimension"]:
            problems.append("quantizer.dimension differs from encoder.dimension")
        if dec.get("trim_right_ratio", 1.0) != 1.0:
            problems.append("decoder.trim_right_ratio must be 1.0")
    if problems:
        raise ConfigError("generator cannot be written in the official layout: " + "; ".join(problems))
    sem = gen_config.get("semantic_dimension")
    cfg = {k: enc[k] for k in _SEANET_SHARED}
    cfg.update(bidirectional=bool(enc["bidirectional"]), codebook_size=q["codebook_size"], n_q=q["n_q"],
               semantic_dimension=enc["dimension"] if sem is None else sem, sample_rate=gen_config["sample_rate"])
    return {k: cfg[k] for k in OFFICIAL_ARCH_KEYS}


def generator_config_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """Random-init options -> generator config. Consumes the keys it uses from ``options``.

    Flat official keys (``n_filters``, ``strides``, ..., defaults = the paper) fill the default
    seanet/rvq specs; explicit ``encoder`` / ``quantizer`` / ``decoder`` specs replace them. A new
    generator has no official ``transform`` head unless ``semantic_dimension`` asks for one: the
    method's projection lives in the distillation loss, and an unused head breaks DDP.
    """
    flat = {**PAPER_CONFIG, "semantic_dimension": None}
    for key in OFFICIAL_ARCH_KEYS:
        if key in options:
            flat[key] = options.pop(key)
    cfg = specs_from_official_config(flat, source="options")
    for part in ("encoder", "quantizer", "decoder"):
        if part in options:
            cfg[part] = dict(options.pop(part))
    return cfg


# --------------------------------------------------------------------------- generator


class DMCodecGenerator(OfficialTransformHead, nn.Module):
    """Encoder -> residual VQ -> decoder.

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
        super().__init__()
        defaults = specs_from_official_config(PAPER_CONFIG)
        specs = {
            "encoder": dict(encoder) if encoder is not None else defaults["encoder"],
            "quantizer": dict(quantizer) if quantizer is not None else defaults["quantizer"],
            "decoder": dict(decoder) if decoder is not None else defaults["decoder"],
        }
        self.encoder = _build("encoders", specs["encoder"])
        dim = int(getattr(self.encoder, "dimension"))
        self.add_official_transform(dim, semantic_dimension)
        self.quantizer = _build("quantizers", specs["quantizer"])
        self.decoder = _build("decoders", specs["decoder"])
        if int(self.quantizer.dimension) != dim:
            raise ConfigError(f"quantizer dimension {self.quantizer.dimension} != encoder dimension {dim}")
        dec_dim = getattr(self.decoder, "dimension", dim)
        if int(dec_dim) != dim:
            raise ConfigError(f"decoder dimension {dec_dim} != encoder dimension {dim}")
        self.sample_rate = int(sample_rate)
        self.dimension = dim
        self.semantic_dimension = dim if semantic_dimension is None else int(semantic_dimension)
        self.hop_length = int(self.encoder.hop_length)
        self.config = {
            **{k: resolve_spec(k + "s", v) for k, v in specs.items()},
            "semantic_dimension": semantic_dimension,
            "sample_rate": self.sample_rate,
        }

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def num_codebooks(self) -> int:
        return int(self.quantizer.num_codebooks)

    def forward(self, wav: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, QuantizerOutput]:
        """``wav [B,1,N]`` -> (``wav_hat [B,1,frames*hop]``, quantizer output).

        Like the official model the output is not trimmed to ``N``; it is ``ceil(N/hop)*hop`` long.
        """
        latent = self.encoder(wav)
        qout = self.quantizer(latent, n_q=n_q)
        return self.decoder(qout.quantized), qout

    @torch.no_grad()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        return self.quantizer.encode(self.encoder(wav), n_q=n_q)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.decode(codes))


# --------------------------------------------------------------------------- files


def official_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """A generator state dict from a loaded ``.pt``: plain, trainer dict (``generator``), ``module.``-prefixed."""
    if isinstance(obj, Mapping) and "generator" in obj and isinstance(obj["generator"], Mapping):
        obj = obj["generator"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a generator state dict (or a trainer checkpoint with a "
                              "'generator' entry)")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _pick_weights(directory: Path, weights_file: str | None) -> Path:
    if weights_file is not None:
        p = Path(weights_file)
        p = p if p.is_absolute() else directory / p
        if not p.is_file():
            raise CheckpointError(f"{p}: weights file not found")
        return p
    found = sorted(directory.glob("*.pt"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{directory}: official layout needs a .pt state dict next to config.json; none found "
                              "(pass weights_file=... to name it)")
    raise CheckpointError(f"{directory}: several .pt files ({', '.join(p.name for p in found)}); choose one with "
                          "weights_file=...")


def save_official_layout(generator: DMCodecGenerator, directory: str | Path, weights_name: str = "model.pt",
                         extra_config: Mapping[str, Any] | None = None, transform: nn.Linear | None = None) -> Path:
    """Write ``config.json`` (the 13 official keys, plus ``extra_config``) and ``weights_name`` (torch.save).

    What the official ``SpeechTokenizer``/DM-Codec ``Model`` loads. ``transform``: a projection
    (latent -> semantic size) saved as the official ``transform`` head of a generator that has
    none (:func:`.parity.state_dict_with_head`); ``semantic_dimension`` is then its output size.
    Returns the directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = official_config_from_specs(generator.config)
    state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    if transform is not None:
        if transform.in_features != cfg["dimension"]:
            raise ConfigError(f"transform takes {transform.in_features} features; the generator's latent has "
                              f"{cfg['dimension']}")
        state = state_dict_with_head(state, transform)
        cfg["semantic_dimension"] = int(transform.out_features)
    if extra_config:
        cfg = {**dict(extra_config), **cfg}
    torch_save_atomic(state, directory / weights_name)
    write_json_atomic(directory / CONFIG_NAME, cfg)
    return directory


# --------------------------------------------------------------------------- tokenizer


class DMCodecTokenizer(Tokenizer):
    """A :class:`DMCodecGenerator` behind the common tokenizer interface.

    ``encode``/``decode`` run without gradients, never initialise or update codebooks and give
    the same result in train and eval mode. ``num_codebooks`` may be set below the generator's
    depth (``n_q`` option) to lower the default bitrate.
    """

    name: ClassVar[str] = "dm_codec"
    #: The registered training recipe a config without `recipe:` trains it with (plugins/recipes).
    default_recipe: ClassVar[str] = "dm_codec_gan"
    loads_pushed_repo_ids: ClassVar[bool] = True  # build_dm_codec fetches the snapshot of a repo id
    #: File name :meth:`save_official` uses by default.
    official_weights_name: ClassVar[str] = "model.pt"
    #: Runtime options (not architecture): bounded-memory processing, see ``_chunking``.
    _RUNTIME_OPTIONS: ClassVar[tuple[str, ...]] = ("chunk_seconds", "chunk_context_seconds", "max_batch_seconds")
    _LOAD_OPTIONS: ClassVar[tuple[str, ...]] = ("weights_file", "n_q", "device") + _RUNTIME_OPTIONS

    def __init__(
        self,
        generator: DMCodecGenerator,
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
    def from_options(cls, seed: int | None = None, device: str | None = None, **options: Any) -> "DMCodecTokenizer":
        """Random init. Options: the 13 official keys (defaults = the paper) and/or component specs."""
        options = dict(options)
        runtime = {k: options.pop(k) for k in cls._RUNTIME_OPTIONS if k in options}
        cfg = generator_config_from_options(options)
        if options:
            valid = ", ".join(sorted(OFFICIAL_ARCH_KEYS + cls._RUNTIME_OPTIONS
                                     + ("encoder", "quantizer", "decoder", "seed", "device")))
            raise ConfigError(f"{cls.name}: unknown option(s) {', '.join(sorted(options))}; valid: {valid}")
        with torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext():
            if seed is not None:
                torch.manual_seed(int(seed))
            generator = DMCodecGenerator(**cfg)
        tok = cls(generator.eval(), **runtime)
        return tok.to(device) if device is not None else tok

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "DMCodecTokenizer":
        """Load our layout (``config.json`` with a ``tokenizer`` key + safetensors) or the official one.

        Options: ``weights_file`` (official layout: which ``.pt``), ``n_q`` (default depth), ``device``.
        """
        unknown = sorted(set(options) - set(cls._LOAD_OPTIONS))
        if unknown:
            raise ConfigError(f"{cls.name}: unknown option(s) {', '.join(unknown)} when loading a checkpoint; "
                              f"valid: {', '.join(cls._LOAD_OPTIONS)} (the architecture comes from the checkpoint)")
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: checkpoint directory not found")
        cfg_path = directory / CONFIG_NAME
        cfg = read_json_object(cfg_path, "config")
        if "tokenizer" in cfg:
            generator = cls._load_ours(directory, cfg, options.get("weights_file"))
            n_q = options.get("n_q", cfg.get("num_codebooks"))
        elif all(k in cfg for k in OFFICIAL_ARCH_KEYS):
            generator = cls._load_official(directory, cfg, options.get("weights_file"))
            n_q = options.get("n_q")
        else:
            missing = [k for k in OFFICIAL_ARCH_KEYS if k not in cfg]
            raise CheckpointError(f"{cfg_path}: neither a tokenizer-bench config (no 'tokenizer' key) nor an official "
                                  f"SpeechTokenizer/DM-Codec config (missing {', '.join(missing)})")
        tok = cls(generator.eval(), n_q=n_q, **{k: options[k] for k in cls._RUNTIME_OPTIONS if k in options})
        device = options.get("device")
        return tok.to(device) if device is not None else tok

    @classmethod
    def _load_ours(cls, directory: Path, cfg: dict[str, Any], weights_file: str | None) -> DMCodecGenerator:
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
        try:
            generator = DMCodecGenerator(**gen_cfg)
        except (ConfigError, TypeError) as exc:
            raise CheckpointError(f"{cfg_path}: cannot build the generator ({exc})") from exc
        weights = directory / (weights_file or WEIGHTS_NAME)
        load_state_dict_strict(generator, load_safetensors_file(weights), what="generator weights", source=weights)
        return generator

    @classmethod
    def _load_official(cls, directory: Path, cfg: dict[str, Any], weights_file: str | None) -> DMCodecGenerator:
        try:
            generator = DMCodecGenerator(**specs_from_official_config(cfg, source=str(directory / CONFIG_NAME)))
        except ConfigError as exc:
            raise CheckpointError(f"{directory / CONFIG_NAME}: {exc}") from exc
        weights = _pick_weights(directory, weights_file)
        state = official_state_dict(load_torch_file(weights), weights)
        load_state_dict_strict(generator, state, what="generator weights", source=weights)
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
            "num_codebooks": self.num_codebooks,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "codebook_size": self.codebook_size,
        }
        save_safetensors_atomic(self.generator.state_dict(), directory / WEIGHTS_NAME, metadata={"format": "pt"})
        write_json_atomic(directory / CONFIG_NAME, cfg)

    def save_official(self, directory: str | Path, weights_name: str | None = None) -> Path:
        """Write the official layout (``config.json`` + ``.pt``); see :func:`save_official_layout`."""
        return save_official_layout(self.generator, directory, weights_name or self.official_weights_name)

    # ---------------------------------------------------------------- interface
    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device: torch.device | str) -> "DMCodecTokenizer":
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
            from tokenizer_bench.core.errors import NotApplicableError

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


def build_dm_codec(checkpoint: str | Path | None = None, revision: str | None = None,
                   **options: Any) -> DMCodecTokenizer:
    """DM-Codec tokenizer: random init from options (paper config by default) or ``from_pretrained(checkpoint)``.

    ``checkpoint`` may be a hub repo id (``owner/name``, e.g. one published with ``tokenizer-bench
    push``) when no such local folder exists: its snapshot (at ``revision``) is downloaded into the
    Hugging Face cache on first use (see core/hub.py).
    """
    if checkpoint is None:
        return DMCodecTokenizer.from_options(**options)
    raw = str(checkpoint)
    if revision is not None and Path(raw).expanduser().exists():
        raise ConfigError(f"dm_codec: revision={revision!r} applies to hub repo ids; {raw} is a local folder")
    if not Path(raw).expanduser().exists() and "/" in raw and hub.looks_like_repo_id(raw):
        try:
            checkpoint = hub.fetch_snapshot(raw, revision=revision, what="dm_codec tokenizer",
                                            hint="or pass the exported folder")
        except hub.HubUnavailableError as exc:
            raise hub.HubUnavailableError(f"{exc} ({raw!r} is not a local folder either.)") from None
    return DMCodecTokenizer.from_pretrained(checkpoint, **options)


def register_tokenizers(register) -> None:
    register("dm_codec", build_dm_codec)
