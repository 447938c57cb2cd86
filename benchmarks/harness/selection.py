"""Choosing metrics (VERSA style) and building the ASR backend.

Every metric declares its needs (:class:`tokenizer_bench.core.interfaces.MetricNeeds`). With no
``--metrics`` the harness runs every registered metric whose needs are met and lists the others
as disabled, each with its reason. A metric the user *asked for* whose needs are not met is an
error before any work, listing every problem at once.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Sequence

from tokenizer_bench.core.errors import ConfigError, MissingDependencyError
from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

#: Default display order (the paper's Table 1 first); other metrics follow alphabetically.
PREFERRED_ORDER = ("bitrate", "wer", "wil", "visqol", "stoi", "pesq", "mel_distance", "si_sdr",
                   "rtf_encode", "rtf_decode")


@dataclass
class MetricInfo:
    """What reports need to know about a metric, stored in ``run.json`` for ``--render-only``: the
    metric's :class:`~tokenizer_bench.core.interfaces.MetricMeta` as declared, its registered name,
    its kind (declared or from its needs) and its scoring rate."""

    name: str
    display: str
    unit: str
    decimals: int
    display_scale: float
    higher_is_better: bool
    kind: str  # "audio" | "text" | "system"
    ranked: bool
    sample_rate: int | None
    corpus: bool  # the table shows corpus_score over all utterances (MetricMeta.aggregate == "corpus")

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def declaration_problems(metric: Any) -> list[str]:
    """What is missing from a metric's declaration (:class:`~tokenizer_bench.core.interfaces.Metric`);
    such a metric is disabled with these reasons, or refused when asked for by name."""
    problems = []
    if not isinstance(getattr(metric, "needs", None), MetricNeeds):
        problems.append("declares no `needs = MetricNeeds(...)` (tokenizer_bench.core.interfaces)")
    meta = getattr(metric, "meta", None)
    if not isinstance(meta, MetricMeta):
        problems.append("declares no `meta = MetricMeta(higher_is_better=..., ...)` (tokenizer_bench.core.interfaces): "
                        "how its values are printed and ranked")
    elif meta.aggregate == "corpus" and not callable(getattr(metric, "corpus_score", None)):
        problems.append('declares MetricMeta(aggregate="corpus") but has no corpus_score(references, hypotheses)')
    return problems


def metric_kind(metric: Any) -> str:
    """The declared ``meta.kind``, else from the needs: a transcript or reference text makes a text
    metric, reference audio an audio metric, neither a system metric (MetricMeta documents this)."""
    if metric.meta.kind is not None:
        return metric.meta.kind
    needs: MetricNeeds = metric.needs
    if needs.transcript or needs.reference_text:
        return "text"
    return "audio" if needs.reference_audio else "system"


def describe_metric(name: str, metric: Any) -> MetricInfo:
    meta: MetricMeta = metric.meta
    return MetricInfo(
        name=name,
        display=meta.display if meta.display is not None else name,
        unit=meta.unit,
        decimals=meta.decimals,
        display_scale=meta.display_scale,
        higher_is_better=meta.higher_is_better,
        kind=metric_kind(metric),
        ranked=meta.ranked,
        sample_rate=metric.needs.sample_rate,
        corpus=meta.aggregate == "corpus",
    )


def unmet_needs(metric: Any, *, gpu_available: bool) -> list[str]:
    needs: MetricNeeds = metric.needs
    problems = []
    for module in needs.packages:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            problems.append(f"Python module {module!r} is not installed")
    if needs.gpu and not gpu_available:
        problems.append("needs a GPU (CUDA) and none is available")
    return problems


@dataclass
class MetricSelection:
    active: dict[str, Any] = field(default_factory=dict)  # name -> metric object, display order
    disabled: dict[str, str] = field(default_factory=dict)  # name -> reason

    def info(self) -> dict[str, MetricInfo]:
        return {n: describe_metric(n, m) for n, m in self.active.items()}

    @property
    def needs_transcripts(self) -> bool:
        return any(metric_kind(m) == "text" for m in self.active.values())


def _ordered(names: Sequence[str]) -> list[str]:
    pref = [n for n in PREFERRED_ORDER if n in names]
    return pref + sorted(n for n in names if n not in PREFERRED_ORDER)


def select_metrics(requested: Sequence[str] | None, *, gpu_available: bool | None = None,
                   options: dict[str, dict[str, Any]] | None = None) -> MetricSelection:
    """Build the metrics to run; see module docstring for the explicit-vs-default rule.

    ``options`` maps a metric name to its constructor options (``registry.build(name, **options)``).
    """
    from tokenizer_bench.core.plugins import get_registry

    if gpu_available is None:
        import torch

        gpu_available = torch.cuda.is_available()
    registry = get_registry("metrics")
    explicit = requested is not None
    names = list(dict.fromkeys(requested)) if explicit else registry.names()
    if explicit and not names:
        raise ConfigError("--metrics is empty; name at least one metric or omit the option for all of them")
    for n in names:
        registry.get(n)  # UnknownComponentError listing the available names
    selection = MetricSelection()
    problems = []
    for name in _ordered(names):
        try:
            metric = registry.build(name, **(options or {}).get(name, {}))
        except MissingDependencyError as exc:
            issues = [str(exc)]
        except Exception as exc:  # a broken metric plugin disables that metric, with its reason
            issues = [f"failed to build: {type(exc).__name__}: {exc}"]
        else:
            issues = declaration_problems(metric) or unmet_needs(metric, gpu_available=gpu_available)
        if issues:
            reason = "; ".join(issues)
            if explicit:
                problems.append(f"{name}: {reason}")
            selection.disabled[name] = reason
        else:
            selection.active[name] = metric
    if problems:
        raise MissingDependencyError(
            "requested metric(s) cannot run here:\n  " + "\n  ".join(problems)
            + "\nInstall what is missing, or leave these metrics out of --metrics."
        )
    if not selection.active:
        raise MissingDependencyError(
            "no metric can run here: " + "; ".join(f"{k}: {v}" for k, v in selection.disabled.items())
        )
    return selection


def parse_options(items: Sequence[str], flag: str) -> dict[str, Any]:
    """``key=value`` pairs, values read as YAML (:func:`tokenizer_bench.core.config.parse_value`)."""
    from tokenizer_bench.core.config import parse_key_values

    return parse_key_values(items, flag)


def parse_metric_options(items: Sequence[str], flag: str = "--metric-option") -> dict[str, dict[str, Any]]:
    """``METRIC.KEY=VALUE`` pairs grouped by metric: ``{"speaker_similarity": {"backend": "resemblyzer"}}``."""
    grouped: dict[str, list[str]] = {}
    for item in items:
        metric, dot, rest = item.partition(".")
        if not dot or not metric.strip() or "=" not in rest:
            raise ConfigError(f"{flag} {item!r}: expected METRIC.KEY=VALUE, "
                              "e.g. speaker_similarity.backend=resemblyzer")
        grouped.setdefault(metric.strip(), []).append(rest)
    return {metric: parse_options(pairs, flag) for metric, pairs in grouped.items()}


def build_asr(name: str, options: dict[str, Any]) -> Any:
    """Build (and load) the ASR backend; unknown names/options and missing models stop the run."""
    from tokenizer_bench.core.plugins import get_registry

    asr = get_registry("asr_backends").build(name, **options)
    for attr in ("transcribe", "describe"):
        if not callable(getattr(asr, attr, None)):
            raise ConfigError(f"ASR backend {name!r} has no {attr}() method")
    return asr
