"""``tokenizer-bench cache-teachers CONFIG``: fill the teacher feature cache before training.

Added by the recipes plugin (``register_commands`` in :mod:`tokenizer_bench.plugins.recipes`); the
work is :func:`.build.build_teacher_cache`, for a config whose recipe reads the ``teachers`` section
of :mod:`tokenizer_bench.plugins.recipes.gan_distillation_config`.
The codec's hop length (which fixes the frame grid the features are stored on) comes from the
encoder's ``strides``/``ratios`` in the config when present, otherwise from building the encoder
alone and reading its ``hop_length``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import typer

from tokenizer_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from tokenizer_bench.plugins.recipes.teacher_cache.build import CacheSummary


def hop_length_from_config(cfg: Any) -> int:
    """Samples per codec frame for ``cfg.model.encoder`` (no full model is built)."""
    encoder = cfg.model.encoder
    for key in ("strides", "ratios"):
        values = encoder.kwargs.get(key)
        if values:
            try:
                return int(math.prod(int(v) for v in values))
            except (TypeError, ValueError):
                raise ConfigError(f"model.encoder.{key}: expected a list of integers, got {values!r}") from None
    built = encoder.build("encoders")
    hop = getattr(built, "hop_length", None)
    if not isinstance(hop, int) or hop < 1:
        raise ConfigError(f"model.encoder {encoder.name!r} exposes no integer hop_length; "
                          "cannot place teacher features on frames")
    return hop


def cache_teachers(
    config: str,
    overrides: list[str] | None = None,
    limit: int | None = None,
    split: str = "train",
    progress: bool = True,
) -> "CacheSummary":
    """Load the config, list its utterances and build the cache; returns the :class:`CacheSummary`."""
    from tokenizer_bench.core.config import load_config
    from tokenizer_bench.core.data import list_utterances
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig

    from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache

    cfg = load_config(config, TrainConfig, overrides or [])
    if not isinstance(cfg, GanDistillationConfig):
        raise ConfigError(f"{config}: cache-teachers fills the cache of the `teachers` section that recipe "
                          f"dm_codec_gan declares; this config's recipe ({type(cfg).__name__}) has none")
    if split not in ("all", "train", "valid"):
        raise ConfigError(f"--split: expected all, train or valid, got {split!r}")
    utterances = []
    if split in ("all", "train"):  # what the trainer distils on
        utterances += list_utterances(cfg.data.train, cfg.data.format, cfg.data.max_utterances)
    if split in ("all", "valid") and cfg.data.valid:  # the first data.valid_utterances, as validation uses
        limit_valid = getattr(cfg.data, "valid_utterances", cfg.data.max_utterances)
        utterances += list_utterances(cfg.data.valid, cfg.data.format, limit_valid)
    # the same utterance may be listed by both splits only by mistake; keep the first
    first: dict[str, Any] = {}
    for u in utterances:
        first.setdefault(u.id, u)
    utterances = list(first.values())
    if limit is not None:
        utterances = utterances[:limit]
    hop = hop_length_from_config(cfg)
    return build_teacher_cache(cfg, utterances, hop, progress=progress)


def render_summary(summary: "CacheSummary", console: Any = None) -> None:
    """A rich table of the run (and the first skipped utterances with reasons)."""
    from rich.console import Console
    from rich.table import Table

    s = summary
    console = console or Console()
    table = Table(title="teacher cache", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("cache", f"{s.cache_dir}  ({', '.join(f'{k}={v}' for k, v in s.keys.items()) or 'no teachers'})")
    table.add_row("utterances", f"{s.total} listed, {s.computed} computed, {s.reused} already cached, "
                                f"{len(s.skipped)} skipped")
    table.add_row("audio", f"{s.hours:.3f} h cached")
    table.add_row("disk", f"{s.bytes_on_disk / 1e9:.3f} GB ({s.bytes_on_disk / 1e6:.1f} MB)")
    table.add_row("empty transcripts", f"{len(s.empty_transcripts)} (LM mask all false)")
    table.add_row("with unknown tokens", f"{len(s.unk_tokens)} utterances, {sum(s.unk_tokens.values())} tokens")
    table.add_row("time", f"{s.elapsed_s:.1f} s")
    console.print(table)
    for uid, reason in s.skipped[:20]:
        console.print(f"  skipped {uid}: {reason}")
    if len(s.skipped) > 20:
        console.print(f"  ... and {len(s.skipped) - 20} more (see the report JSON)")


def add_commands(app: typer.Typer) -> None:
    """Add ``cache-teachers`` to ``app``."""

    @app.command("cache-teachers")
    def cache_teachers_command(
        config: str = typer.Argument(..., help="Training config (file or packaged name)."),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a key: --set teachers.lm.layers=last"),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N utterances (sorted by id)."),
        split: str = typer.Option("train", "--split", help="train (what the trainer distils on), valid or all."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    ) -> None:
        """Compute the frozen teachers' features once per utterance and store them (resumable)."""
        summary = cache_teachers(config, set_ or [], limit, split, progress=not no_progress)
        render_summary(summary)
