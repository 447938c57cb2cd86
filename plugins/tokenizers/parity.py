"""DM-Codec's official checkpoint layout: its config keys, its ``.pt`` files and its ``transform`` head.

The official DM-Codec / SpeechTokenizer generator is a :class:`~.codec.CodecGenerator` of
``seanet_encoder`` / ``rvq`` / ``seanet_decoder`` with settings fixed by the official code; its
``config.json`` holds 13 architecture keys (:data:`OFFICIAL_ARCH_KEYS`) and its weights are a
``torch.save`` state dict. This module maps that config to component specs and back
(:func:`specs_from_official_config`, :func:`official_config_from_specs`), reads and writes the
files (:func:`official_state_dict`, :func:`pick_weights`, :func:`save_official_layout`) and keeps
the one module of the official layout the method does not need:

The official generator holds ``transform = nn.Linear(dimension, semantic_dimension)`` (only when
the two sizes differ; otherwise it is an Identity without keys) and applies it to the first RVQ
layer's output to get the distillation student. Here that projection belongs to the distillation
loss, so a generator this project trains has no head (``semantic_dimension: null``), and nothing
in its forward pass is left without a gradient. The head exists only for the official layout:

* at build time, when a config asks for ``semantic_dimension`` (official checkpoints carry the
  head's weights and load strictly), through :class:`OfficialTransformHead`;
* on save, :func:`state_dict_with_head` adds a projection trained elsewhere (e.g. the
  distillation loss's) as ``transform.*`` to a head-less generator's state dict, in the official
  key order (``save_official_layout(..., transform=...)``).

All reads and writes go through :mod:`tokenizer_bench.core.io` (atomic, fsynced writes; strict
loads whose errors name the file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.io import torch_save_atomic, write_json_atomic
from tokenizer_bench.plugins.tokenizers.codec import CONFIG_NAME, resolve_spec

TRANSFORM = "transform"

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



class OfficialTransformHead:
    """Mixin of a generator (an ``nn.Module`` with ``encoder``) that may carry the official head."""

    def add_official_transform(self, dimension: int, semantic_dimension: int | None) -> None:
        """Register ``transform`` when ``semantic_dimension`` differs from ``dimension``.

        Call it right after registering ``encoder``: the official state dict lists the head's keys
        between the encoder's and the quantizer's, and the head's init draws from the RNG there.
        """
        if semantic_dimension is not None and int(semantic_dimension) != int(dimension):
            setattr(self, TRANSFORM, nn.Linear(int(dimension), int(semantic_dimension)))

    def project(self, quantized: torch.Tensor) -> torch.Tensor:
        """RVQ output ``[B, D, T]`` -> ``[B, T, semantic_dimension]``: the official forward's student."""
        x = quantized.transpose(1, 2)
        transform = getattr(self, TRANSFORM, None)
        return transform(x) if transform is not None else x


def state_dict_with_head(state: Mapping[str, torch.Tensor], head: nn.Linear) -> dict[str, torch.Tensor]:
    """``state`` (without ``transform.*``) plus ``head``'s weight and bias right after the encoder's keys."""
    if any(k.startswith(TRANSFORM + ".") for k in state):
        raise ValueError("the generator already has a transform head; pass no transform")
    head_state = {f"{TRANSFORM}.{k}": v.detach().cpu().clone() for k, v in head.state_dict().items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if head_state and not key.startswith("encoder."):
            out.update(head_state)
            head_state = {}
        out[key] = value
    out.update(head_state)
    return out


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


def pick_weights(directory: Path, weights_file: str | None) -> Path:
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


def save_official_layout(generator: nn.Module, directory: str | Path, weights_name: str = "model.pt",
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
