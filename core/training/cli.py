"""``tokenizer-bench train``, ``export`` and ``download`` (wired in by the main CLI).

Launch on several GPUs or nodes with ``accelerate launch`` or ``torchrun`` in front of the same
command (see docs/training.md); nothing in the command changes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer


def add_commands(app: typer.Typer) -> None:
    @app.command("train")
    def train_command(
        config: str = typer.Argument(..., help="Config file or packaged config name (see `tokenizer-bench configs`)."),
        set_: Optional[List[str]] = typer.Option(
            None, "--set", help="Override a config key, e.g. --set trainer.max_steps=100 (repeatable)."
        ),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in the output dir."),
        output_dir: Optional[str] = typer.Option(
            None, "--output-dir", "-o", help="Run folder (default: trainer.output_dir of the config)."
        ),
    ) -> None:
        """Train a tokenizer with its recipe from a config; exports it with save_pretrained at the end."""
        from tokenizer_bench.core.training.trainer import train

        summary = train(config, list(set_ or []), output_dir=output_dir, resume=resume)
        if int(os.environ.get("RANK", "0")) != 0:
            return  # one summary per run, not per process
        typer.echo(
            f"done: step {summary['step']}, epoch {summary['epoch']}, run {summary['run_dir']}"
            + (" (stopped by the time budget trainer.max_minutes)" if summary.get("stopped_by") == "max_minutes"
               else "")
            + (f", tokenizer {summary['export_dir']}" if summary["export_dir"] else "")
            + (f", {summary['skipped']} unreadable item(s) skipped" if summary["skipped"] else "")
        )

    @app.command("export")
    def export_command(
        run_dir: str = typer.Argument(..., help="A training run folder (holds config.yaml and checkpoints/)."),
        out_dir: str = typer.Argument(..., help="Where to write the tokenizer (save_pretrained layout)."),
        checkpoint: Optional[str] = typer.Option(None, "--checkpoint", help="e.g. step_00001000 (default: latest)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace what OUT_DIR holds (refused otherwise)."),
    ) -> None:
        """Write a run's generator as a tokenizer folder that load_tokenizer(..., checkpoint=OUT_DIR) reads."""
        from tokenizer_bench.core.training.export import export_run

        out = export_run(run_dir, out_dir, checkpoint, overwrite=overwrite)
        typer.echo(f"exported {run_dir} -> {out}")

    @app.command("download")
    def download_command(
        config: Optional[str] = typer.Argument(None, help="Use the data.download section of this config."),
        subsets: Optional[List[str]] = typer.Option(None, "--subset", help="LibriSpeech subset (repeatable)."),
        root: Optional[str] = typer.Option(None, "--root", help="Folder that receives LibriSpeech/<subset>."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="Mirror (default: OpenSLR)."),
    ) -> None:
        """Download LibriSpeech subsets (resumable, checksum-verified, extracted atomically)."""
        from tokenizer_bench.core.data.download import DEFAULT_BASE_URL, download_librispeech

        checksums: dict[str, str] = {}
        keep = False
        if config is not None:
            from tokenizer_bench.core.config import load_config
            from tokenizer_bench.core.train_config import TrainConfig

            cfg = load_config(config, TrainConfig)
            dl = cfg.data.download
            if dl is None:
                raise typer.BadParameter(f"{config} has no data.download section")
            subsets = subsets or dl.subsets
            root = root or dl.root
            base_url = base_url or dl.base_url
            checksums, keep = dl.checksums, dl.keep_archive
        if not subsets:
            raise typer.BadParameter("name a config with data.download, or pass --subset")
        done = download_librispeech(
            subsets, root or "data", base_url=base_url or DEFAULT_BASE_URL, checksums=checksums,
            keep_archive=keep, progress=_progress,
        )
        for d in done:
            typer.echo(str(Path(d)))


def _progress(subset: str):
    import sys

    last = [0]

    def report(done: int, total: int | None) -> None:
        mb = done >> 20
        if mb - last[0] >= 64 or (total is not None and done == total):
            last[0] = mb
            of = f" of {total >> 20} MiB" if total else " MiB"
            print(f"{subset}: {mb}{of}", file=sys.stderr, flush=True)

    return report
