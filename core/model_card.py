"""The README.md (model card) uploaded with a tokenizer: what it is, how it was trained, how it scores.

Why generated: a card written by hand drifts from the weights it describes. Every number here is
read from the files being uploaded — the tokenizer's own ``describe()`` (rates, codebooks, bitrate,
computed by the loaded model), its ``config.json`` (architecture), the training run's
``config.yaml`` beside the export (the recipe's components, data, schedule) and, when given, the ``results.md`` of a
``tokenizer-bench compare`` run — so the card cannot claim what the upload does not hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from tokenizer_bench.core.errors import ConfigError


def _yaml_block(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()


def _component(spec: Any) -> str:
    if isinstance(spec, Mapping):
        name = spec.get("name", "?")
        model = spec.get("model")
        return f"{name} ({model})" if model else str(name)
    return str(spec)


def _recipe_components(run_config: Mapping[str, Any]) -> list[str]:
    """The components named in the recipe's own sections (e.g. ``- teachers.lm: lm_hf (bert-base-uncased)``,
    ``- discriminators: mpd, msd``): every section but core's, which the card shows itself."""
    from tokenizer_bench.core.train_config import TrainConfig

    lines = []
    for section, value in run_config.items():
        if section in TrainConfig.model_fields:
            continue
        if isinstance(value, Mapping):
            lines += [f"- {section}.{key}: {_component(spec)}" for key, spec in value.items()
                      if isinstance(spec, Mapping) and spec.get("name")]
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) and v.get("name") for v in value):
            lines.append(f"- {section}: {', '.join(_component(v) for v in value)}")
    return lines


def read_run_config(export_dir: str | Path) -> tuple[dict | None, Path | None]:
    """The training config of the run an export came from (``<run>/config.yaml`` beside ``<run>/tokenizer``).

    ``(None, None)`` when the export stands alone (e.g. written by ``save_pretrained``); an unreadable
    file is a :class:`ConfigError` naming it, since publishing a wrong card is worse than none.
    """
    import yaml

    for candidate in (Path(export_dir) / "config.yaml", Path(export_dir).parent / "config.yaml"):
        if candidate.is_file():
            try:
                data = yaml.safe_load(candidate.read_text())
            except yaml.YAMLError as exc:
                raise ConfigError(f"{candidate}: not valid YAML ({exc})") from None
            if isinstance(data, dict) and "model" in data:
                return data, candidate
    return None, None


def build_model_card(repo_id: str, info: Mapping[str, Any], config: Mapping[str, Any] | None = None,
                     run_config: Mapping[str, Any] | None = None, results_md: str | None = None,
                     loads_by_repo_id: bool = False) -> str:
    """Markdown with a YAML header (library, tags) for the hub.

    ``info``: the tokenizer's ``describe()``; ``config``: its ``config.json``; ``run_config``: the
    training config; ``results_md``: a ``compare`` results table (Markdown), copied verbatim;
    ``loads_by_repo_id``: the tokenizer's factory takes the repo id itself (else the card shows
    ``snapshot_download`` and loading the folder, which works for every tokenizer).
    """
    name = str(info.get("name", "tokenizer"))
    header = {"library_name": "tokenizer-bench", "tags": ["audio", "speech-tokenizer", "neural-codec", name],
              "pipeline_tag": "audio-to-audio"}
    lines = ["---", _yaml_block(header), "---", "", f"# {repo_id}", "",
             f"A `{name}` speech tokenizer trained with tokenizer-bench and published with `tokenizer-bench push`.",
             "", "## Use", "", "```python",
             "from tokenizer_bench.core.api import load_tokenizer", ""]
    if loads_by_repo_id:
        lines.append(f'tok = load_tokenizer("{name}", "{repo_id}")  # downloads into the Hugging Face cache once')
    else:
        lines += ["from huggingface_hub import snapshot_download", "",
                  f'tok = load_tokenizer("{name}", snapshot_download("{repo_id}"))  # the folder, cached once']
    lines += ["codes = tok.encode(wav)   # wav [B, 1, N] at tok.sample_rate -> codes [B, Q, T]",
              "audio = tok.decode(codes)", "```", "", "## Model", "", "| property | value |", "|---|---|"]
    rows = [("tokenizer", f"`{name}`"),
            ("sample rate", f"{info.get('sample_rate')} Hz"),
            ("frame rate", f"{float(info.get('frame_rate', 0)):g} Hz"),
            ("codebooks", str(info.get("num_codebooks"))),
            ("codebook size", str(info.get("codebook_size"))),
            ("bitrate (all codebooks)", f"{float(info.get('bitrate', 0)):g} bit/s")]
    for key in ("hop_length", "num_parameters"):
        if key in info:
            rows.append((key.replace("_", " "), f"{info[key]:,}" if isinstance(info[key], int) else str(info[key])))
    gen = (config or {}).get("generator") if config else None
    if isinstance(gen, Mapping):
        for part in ("encoder", "quantizer", "decoder"):
            if part in gen:
                rows.append((part, _component(gen[part])))
    lines += [f"| {k} | {v} |" for k, v in rows]
    if run_config:
        lines += ["", "## Training", ""]
        recipe = run_config.get("recipe")
        if isinstance(recipe, Mapping) and recipe.get("name"):
            lines.append(f"- recipe: `{recipe['name']}`")
        lines += _recipe_components(run_config)
        losses = run_config.get("losses") or {}
        if isinstance(losses, Mapping):
            for term, spec in losses.items():
                if isinstance(spec, Mapping):
                    args = {k: v for k, v in spec.items() if k not in ("name", "weight")}
                    weight = f" × {spec['weight']:g}" if isinstance(spec.get("weight"), (int, float)) else ""
                    detail = f" `{json.dumps(args, sort_keys=True)}`" if args else ""
                    lines.append(f"- loss {term}: {spec.get('name')}{weight}{detail}")
        data = run_config.get("data") or {}
        if data.get("train"):
            lines.append(f"- training data: {', '.join(f'`{d}`' for d in data['train'])}")
        trainer = run_config.get("trainer") or {}
        for key in ("max_steps", "max_epochs", "lr", "batch_size"):
            if trainer.get(key) is not None:
                lines.append(f"- {key}: {trainer[key]}")
        if data.get("batch_size") is not None:
            lines.append(f"- batch size: {data['batch_size']}, segment {data.get('segment_seconds')} s")
        lines += ["", "<details><summary>Full training config</summary>", "", "```yaml", _yaml_block(run_config),
                  "```", "", "</details>"]
    if results_md:
        lines += ["", "## Evaluation (`tokenizer-bench compare`)", "", results_md.strip()]
    return "\n".join(lines) + "\n"


__all__ = ["build_model_card", "read_run_config"]
