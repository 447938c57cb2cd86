"""``--preset NAME``: a published evaluation protocol as data (``benchmarks/harness/presets.yaml``).

Why data: a protocol is a list of choices (draw, ASR, metrics, aggregation, correction) and the
models they need; writing them as code branches would hide them and invite drift. This module
only reads the table, checks it before any work and resolves it into ``CompareConfig`` fields.

The check (:func:`resolve_preset`), before any utterance is touched:

- every metric the preset names must be registered and buildable here, and every hub model it
  ``requires`` must be in the local Hugging Face cache (or downloadable: the hub answers);
- whatever fails is listed at once with what to install / the ``hf download``
  command; with ``allow_stand_ins`` the preset's offline stand-in for that ASR / metric is used
  instead, and the substitution is returned for ``run.json`` and the report's header. Never a
  silent swap: without the flag a missing piece stops the run.

Options the user gives explicitly override the preset's and are recorded as ``overrides``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import ConfigError, MissingDependencyError

#: fields a preset may set, with what an unset CLI option falls back to
FIELDS = ("num_samples", "seed", "asr", "asr_options", "metrics", "metric_options", "aggregation", "correction")


#: environment variable naming another preset table (a lab's own protocols; the tests)
PRESETS_ENV = "TOKENIZER_BENCH_COMPARE_PRESETS"


def presets_path() -> Path:
    if os.environ.get(PRESETS_ENV):
        return Path(os.environ[PRESETS_ENV])
    return Path(__file__).with_name("presets.yaml")


def load_presets(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    import yaml

    p = Path(path) if path else presets_path()
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot read the preset table ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of preset names")
    for name, preset in data.items():
        unknown = set(preset) - set(FIELDS) - {"description", "source", "data", "requires", "stand_ins",
                                                    "published"}
        if unknown:
            raise ConfigError(f"{p}: preset {name!r} has unknown field(s) {', '.join(sorted(unknown))}")
        if not preset.get("source"):
            raise ConfigError(f"{p}: preset {name!r} does not document its source")
    return data


@dataclass
class ResolvedPreset:
    name: str
    values: dict[str, Any]  # CompareConfig fields
    stand_ins: dict[str, str] = field(default_factory=dict)  # what -> note
    overrides: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # for run.json


def _probe() -> bool:
    """Whether downloads can happen now (not offline, the hub answers): the one check in core.hub."""
    return not hub.access().local_only


def model_available(model_id: str) -> bool:
    """A local folder, or a hub id whose ``config.json`` is in the Hugging Face cache."""
    p = Path(model_id).expanduser()
    if p.exists():
        return True
    if p.is_absolute() or str(model_id).startswith((".", "~")) or str(model_id).count("/") > 1:
        return False  # a local path that is not there
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # not installed, or not a valid repo id
        return False
    return isinstance(hit, str)


def metric_problem(name: str, options: dict[str, Any]) -> str | None:
    """Why metric ``name`` (with ``options``) cannot run here, or None."""
    from tokenizer_bench.core.plugins import get_registry

    from tokenizer_bench.benchmarks.harness.selection import unmet_needs

    reg = get_registry("metrics")
    if name not in reg.names():
        return f"metric {name!r} is not registered (no installed plugin provides it)"
    try:
        metric = reg.build(name, **options)
    except Exception as exc:
        return f"metric {name!r}: {type(exc).__name__}: {exc}"
    import torch

    issues = unmet_needs(metric, gpu_available=torch.cuda.is_available())
    return f"metric {name!r}: {'; '.join(issues)}" if issues else None


def resolve_preset(name: str, explicit: dict[str, Any], *, allow_stand_ins: bool = False,
                   table: dict[str, dict[str, Any]] | None = None,
                   model_check: Callable[[str], bool] | None = None,
                   metric_check: Callable[[str, dict], str | None] | None = None,
                   hub_reachable: Callable[[], bool] | None = None) -> ResolvedPreset:
    """Preset values merged under ``explicit`` (non-None CLI values), checked; see module docstring."""
    table = table if table is not None else load_presets()
    if name not in table:
        raise ConfigError(f"--preset {name!r}: unknown; choose one of {', '.join(sorted(table))}")
    preset = table[name]
    model_check = model_check or model_available
    metric_check = metric_check or metric_problem
    hub_reachable = hub_reachable or _probe
    values = {k: preset.get(k) for k in FIELDS if k in preset}
    overrides = []
    for k, v in explicit.items():
        if v is not None:
            if k in values and values[k] != v:
                overrides.append(k)
            values[k] = v
    if "asr" in overrides and explicit.get("asr_options") is None:
        values["asr_options"] = {}  # the preset's model id belongs to the preset's ASR backend
    values.setdefault("metric_options", {})
    values["metric_options"] = {k: dict(v) for k, v in (values.get("metric_options") or {}).items()}
    stand_ins_table = preset.get("stand_ins") or {}
    problems: dict[str, str] = {}  # what ("asr" or metric) -> problem
    reachable: bool | None = None
    for req in preset.get("requires") or []:
        target = req["for"]
        replaced = ({"asr", "asr_options"} & set(overrides) if target == "asr"
                    else target not in (values.get("metrics") or []))
        if replaced:
            continue  # the user replaced the ASR / dropped the metric
        if model_check(req["id"]):
            continue
        if reachable is None:
            reachable = hub_reachable()
        if reachable:
            continue  # downloads on first use, as everywhere in the ecosystem
        problems[target] = (f"{req.get('what', req['id'])}: {req['id']} is not in the local Hugging Face cache and "
                            f"the hub is not reachable; download it where it is: {hub.download_command(req['id'])}")
    for m in values.get("metrics") or []:
        if m in problems:
            continue
        why = metric_check(m, values["metric_options"].get(m, {}))
        if why:
            problems[m] = why
    stand_ins: dict[str, str] = {}
    if problems and allow_stand_ins:
        for what in list(problems):
            sub = stand_ins_table.get(what)
            if not sub:
                continue
            if what == "asr":
                values["asr"] = sub["asr"]
                values["asr_options"] = dict(sub.get("asr_options") or {})
            else:
                metrics = list(values["metrics"])
                new = sub.get("metric", what)
                opts = dict(sub.get("options") or {})
                why = metric_check(new, opts)
                if why:
                    problems[what] += f"; its stand-in cannot run either: {why}"
                    continue
                metrics[metrics.index(what)] = new
                values["metrics"] = list(dict.fromkeys(metrics))
                values["metric_options"].pop(what, None)
                values["metric_options"][new] = opts
            stand_ins[what] = sub.get("note", str(sub))
            del problems[what]
    if problems:
        hint = ("" if allow_stand_ins else
                "\nOr run with --allow-stand-ins to use the preset's offline stand-ins where it has one "
                f"({', '.join(k for k in problems if k in stand_ins_table) or 'none for these'}); they are recorded in "
                "run.json and the report.")
        raise MissingDependencyError(
            f"--preset {name}: cannot reproduce the protocol here:\n  "
            + "\n  ".join(f"{k}: {v}" for k, v in problems.items()) + hint)
    record = {"name": name, "description": preset.get("description"), "source": " ".join(str(preset["source"]).split()),
              "data": preset.get("data"), "stand_ins": stand_ins, "overrides": overrides}
    if preset.get("published"):
        record["published"] = preset["published"]
    return ResolvedPreset(name, values, stand_ins, overrides, record)
