"""``tokenizer-bench migrate-config OLD.yaml``: rewrite a training config of the older form.

The older form kept the distillation settings in a top-level ``distillation:`` section and the
eq. 10 weights in ``losses.weights``, with commitment always added; the trainer also passed
``semantic_dimension: null`` and ``tokenizer: dm_codec`` by default. Now every term is one entry
of ``losses`` with its ``weight`` and arguments (commitment and distillation included), and the
``model`` keys are the tokenizer's constructor arguments. A file without ``extends`` gets every
term the old defaults implied; a file that ``extends`` another keeps only what it sets, moved
to where it now lives; a term an override replaces by another loss gets the recipe's default
weight (what the old weights table gave it unless its base changed that weight). YAML comments
are not carried over (the rewrite prints a note).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tokenizer_bench.plugins.recipes.gan_distillation import (  # the older form's weights table: the same defaults
    DEFAULT_WEIGHTS as OLD_WEIGHTS,
)

#: The older form's distillation defaults (its DistillationConfig).
OLD_DISTILLATION: dict[str, Any] = {"lm": {"target": "rvq1"}, "sm": None, "lambda_lm": 0.5, "lambda_sm": 0.5,
                                    "scale": 1.0, "share_projection": None, "mask_silence": False}
TERM_ORDER = ("mel", "waveform", "commitment", "distillation", "adversarial", "feature_matching")
_ABSENT = object()


def is_old_form(data: dict[str, Any]) -> bool:
    losses = data.get("losses")
    return "distillation" in data or (isinstance(losses, dict) and "weights" in losses)


def _distillation_term(section: dict[str, Any]) -> dict[str, Any]:
    section = dict(section)
    loss = section.pop("loss", None) or {}
    name = loss.get("name", "distillation") if isinstance(loss, dict) else "distillation"
    if name == "lm_sm_distillation":  # one loss for one or two teachers now
        name = "distillation"
    extra = {k: v for k, v in loss.items() if k != "name"} if isinstance(loss, dict) else {}
    return {"name": name, **section, **extra}


def migrate_config(data: dict[str, Any]) -> dict[str, Any]:
    """The new form of one config file's mapping (before ``extends`` is resolved)."""
    out = copy.deepcopy(data)
    root = "extends" not in out
    losses = dict(out.pop("losses", None) or {})
    weights = dict(losses.pop("weights", None) or {})
    distill = out.pop("distillation", _ABSENT)
    new: dict[str, Any] = {}
    if root:
        model = out.setdefault("model", {})
        model.setdefault("tokenizer", "dm_codec")
        model.setdefault("semantic_dimension", None)
        w = {**OLD_WEIGHTS, **weights}
        d = {**OLD_DISTILLATION, **(distill if isinstance(distill, dict) else {})}
        for term in TERM_ORDER:
            if term == "commitment":
                new[term] = {"name": "commitment", "weight": w[term]}
            elif term == "distillation":
                if d.get("lm") is not None or d.get("sm") is not None:
                    new[term] = {**_distillation_term(d), "weight": w[term]}
            elif losses.get(term) is not None:
                new[term] = {**losses[term], "weight": w[term]}
        new.update({k: v for k, v in losses.items() if k not in new and k not in TERM_ORDER})
    else:
        for term, spec in losses.items():
            new[term] = dict(spec) if isinstance(spec, dict) else spec
        if isinstance(distill, dict):
            if "lm" in distill and "sm" in distill and distill["lm"] is None and distill["sm"] is None:
                new["distillation"] = None
            else:
                section = _distillation_term(distill)
                if "loss" not in distill:
                    section.pop("name")  # merges into the base's distillation term
                new["distillation"] = section
        for term, value in weights.items():
            if new.get(term, {}) is None:
                continue
            new.setdefault(term, {})["weight"] = float(value)
    if new or root:
        out["losses"] = new
    order = ["extends", "name", "seed", "model", "recipe", "teachers", "discriminators", "losses"]
    return {**{k: out[k] for k in order if k in out}, **{k: v for k, v in out.items() if k not in order}}


def migrate_file(path: str | Path) -> str:
    """The rewritten YAML text of ``path`` (a ConfigError naming the file when it is not a mapping)."""
    import yaml

    from tokenizer_bench.core.errors import ConfigError

    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a YAML mapping")
    return yaml.safe_dump(migrate_config(data), sort_keys=False, allow_unicode=True)


def add_commands(cli: Any) -> None:
    import typer

    @cli.command("migrate-config")
    def migrate_config_command(
        config: Path = typer.Argument(..., help="A training config of the older form (one file; its `extends` stay)."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of printing."),
    ) -> None:
        """Rewrite an older training config (top-level `distillation:`, `losses.weights`) into the loss mapping."""
        from tokenizer_bench.core.io import write_text_atomic

        text = migrate_file(config)
        note = f"# migrated from {config.name} by tokenizer-bench migrate-config (YAML comments are not carried over)\n"
        if output is None:
            typer.echo(note + text, nl=False)
        else:
            write_text_atomic(output, note + text)
            typer.echo(f"wrote {output}")
