"""``tokenizer-bench compare``: the benchmark command, added to a typer app by :func:`add_commands`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def add_commands(app: typer.Typer) -> None:
    """Add the ``compare`` command to ``app``."""

    @app.command("compare")
    def compare(
        tokenizers: Optional[str] = typer.Option(
            None, "--tokenizers", help="Tokenizers under test: name[:checkpoint][,...] (e.g. dm_codec:runs/best,identity)."),
        baselines: Optional[str] = typer.Option(
            None, "--baselines", help="Baseline tokenizers, listed first: name[:checkpoint][,...] (e.g. encodec,facodec,speechtokenizer)."),
        baseline_checkpoint: List[str] = typer.Option(
            [], "--baseline-checkpoint", help="NAME=CHECKPOINT for a baseline (repeatable); same as name:CHECKPOINT in --baselines."),
        data: List[Path] = typer.Option(
            [], "--data", help="LibriSpeech folder, JSONL manifest (path, text optional) or audio folder (repeatable)."),
        num_samples: Optional[int] = typer.Option(
            None, "--num-samples", help="Draw this many utterances (paper: 300); all when omitted."),
        seed: int = typer.Option(42, "--seed", help="Seed of the utterance draw and of the significance bootstrap."),
        metrics: Optional[str] = typer.Option(
            None, "--metrics", help="Comma-separated metrics; omitted = every metric whose dependencies are installed."),
        asr: str = typer.Option(
            "hf_whisper", "--asr", help="ASR backend for WER/WIL: hf_whisper (paper: whisper-medium), faster_whisper (offline tiny.en), hf_ctc."),
        asr_option: List[str] = typer.Option(
            [], "--asr-option", help="KEY=VALUE option of the ASR backend (repeatable), e.g. model=/models/whisper-medium."),
        out: Path = typer.Option(..., "--out", help="Output folder (records, tables, plots, report.html)."),
        save_audio: bool = typer.Option(False, "--save-audio", help="Keep every reconstruction as 16-bit WAV under OUT/audio."),
        n_q: Optional[int] = typer.Option(None, "--n-q", help="Codebooks to use for every tokenizer (default: all)."),
        device: str = typer.Option("cpu", "--device", help="Device for the tokenizers (cpu, cuda, cuda:1)."),
        workers: int = typer.Option(1, "--workers", help="Processes for the audio metrics (ViSQOL is the slow one)."),
        batch_size: int = typer.Option(8, "--batch-size", help="Utterances per ASR batch."),
        report_examples: int = typer.Option(3, "--report-examples", help="Audio players in report.html (shortest utterances)."),
        aso_iterations: int = typer.Option(1000, "--aso-iterations", help="Bootstrap iterations of the ASO test."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG figures (faster rendering)."),
        render_only: bool = typer.Option(False, "--render-only", help="Re-render the outputs of OUT from its records; compute nothing."),
    ) -> None:
        """Compare tokenizers on an evaluation set: WER/WIL, ViSQOL, STOI, ... with significance and a report."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from tokenizer_bench.core.errors import ConfigError

        from .report import render_outputs
        from .runner import CompareConfig, run_compare
        from .selection import parse_options
        from .systems import parse_systems

        import sys

        # not a terminal (CI logs, pipes): rich would wrap the wide table at 80 columns
        console = Console() if sys.stdout.isatty() else Console(width=200)
        if render_only:
            written = render_outputs(out, console=console, plots=not no_plots)
            console.print(f"re-rendered {len(written)} outputs in {out}")
            return
        if not data:
            raise ConfigError("--data is required (a LibriSpeech folder or a JSONL manifest)")
        if workers < 1 or batch_size < 1:
            raise ConfigError("--workers and --batch-size must be at least 1")
        cfg = CompareConfig(
            systems=parse_systems(tokenizers, baselines, baseline_checkpoint),
            data=[str(d) for d in data],
            out=out,
            num_samples=num_samples,
            seed=seed,
            metrics=[m.strip() for m in metrics.split(",") if m.strip()] if metrics is not None else None,
            asr=asr,
            asr_options=parse_options(asr_option, "--asr-option"),
            save_audio=save_audio,
            n_q=n_q,
            device=device,
            workers=workers,
            batch_size=batch_size,
            report_examples=report_examples,
            aso_iterations=aso_iterations,
            plots=not no_plots,
        )
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=False) as progress:
            tasks: dict[str, int] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
                progress.update(tasks[label], completed=done)

            result = run_compare(cfg, progress=on_progress, render=False)
        render_outputs(out, console=console, plots=not no_plots)
        c = result["counts"]
        console.print(f"{c['computed']} record(s) computed, {c['reused']} reused; outputs in {out}")
