"""``tokenizer-bench compare``: the benchmark command, added to a typer app by :func:`add_commands`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def add_commands(app: typer.Typer) -> None:
    """Add the ``compare`` and ``compare-merge`` commands to ``app``."""

    @app.command("compare")
    def compare(
        tokenizers: Optional[str] = typer.Option(
            None, "--tokenizers", help="Tokenizers under test: name[:checkpoint][@label][,...] (e.g. "
                                       "dm_codec:runs/a/tokenizer,dm_codec:runs/b/tokenizer@b-run,identity); two "
                                       "exports of one tokenizer are labelled by their run folders."),
        baselines: Optional[str] = typer.Option(
            None, "--baselines", help="Baseline tokenizers, listed first: name[:checkpoint][,...] (e.g. "
                                      "encodec,facodec,speechtokenizer)."),
        baseline_checkpoint: List[str] = typer.Option(
            [], "--baseline-checkpoint", help="NAME=CHECKPOINT for a baseline (repeatable); same as name:CHECKPOINT in "
                                              "--baselines."),
        data: List[Path] = typer.Option(
            [], "--data", help="LibriSpeech folder, JSONL manifest (path, text optional) or audio folder "
                               "(repeatable)."),
        num_samples: Optional[int] = typer.Option(
            None, "--num-samples", help="Draw this many utterances (paper: 300); all when omitted."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the utterance draw and of the significance "
                                                                "bootstrap (default 42)."),
        metrics: Optional[str] = typer.Option(
            None, "--metrics", help="Comma-separated metrics; omitted = every metric whose dependencies are "
                                    "installed."),
        asr: Optional[str] = typer.Option(
            None, "--asr", help="(default hf_whisper) ""ASR backend for WER/WIL: hf_whisper (paper: whisper-medium), "
                                                       "faster_whisper (offline tiny.en), "
            "hf_ctc (CTC; --asr-option model=facebook/hubert-large-ls960-ft as in codec tables)."),
        asr_option: List[str] = typer.Option(
            [], "--asr-option", help="KEY=VALUE option of the ASR backend (repeatable), e.g. "
                                     "model=/models/whisper-medium."),
        metric_option: List[str] = typer.Option(
            [], "--metric-option", help="METRIC.KEY=VALUE constructor option of a metric (repeatable), e.g. "
            "speaker_similarity.backend=resemblyzer (offline stand-in) or speaker_similarity.model=DIR."),
        out: Path = typer.Option(..., "--out", help="Output folder (records, tables, plots, report.html)."),
        save_audio: bool = typer.Option(False, "--save-audio", help="Keep every reconstruction as 16-bit WAV under "
                                                                    "OUT/audio."),
        n_q: Optional[str] = typer.Option(
            None, "--n-q", help="Codebooks per tokenizer (default: all); a list (1,2,4,8) evaluates every depth a "
                                "tokenizer has: "
            "tables per depth and a rate-quality plot."),
        aggregate: Optional[str] = typer.Option(
            None, "--aggregate", help="common (default: every row over the utterances all rows scored) or per-row."),
        correction: Optional[str] = typer.Option(
            None, "--correction", help="Multiple-comparison correction of the ASO tables: none (default, the paper), "
                                       "bonferroni, holm."),
        preset: Optional[str] = typer.Option(
            None, "--preset", help="Published protocol (benchmarks/harness/presets.yaml): dmcodec, xcodec2. Explicit "
                                   "options override it."),
        allow_stand_ins: bool = typer.Option(
            False, "--allow-stand-ins", help="With --preset: use its offline stand-ins for models that are not "
                                             "available (recorded)."),
        shard: Optional[str] = typer.Option(
            None, "--shard", help="I/N: evaluate only the I-th (0-based) of N disjoint utterance subsets; join with "
                                  "compare-merge."),
        merge: List[Path] = typer.Option(
            [], "--merge", help="Shard folder to merge into --out (repeatable; same as compare-merge DIR... --out "
                                "OUT)."),
        consistency: bool = typer.Option(
            False, "--consistency", help="Also check batched vs single and chunked vs whole encoding per row."),
        consistency_chunk: float = typer.Option(1.0, "--consistency-chunk", help="Chunk length (s) of the "
                                                                                 "chunked-encoding check."),
        token_stats: bool = typer.Option(
            False, "--token-stats", help="Also write per-codebook utilisation, entropy, perplexity and entropy-coded "
                                         "bit/s per row "
            "(one extra encode per utterance and row)."),
        probe: bool = typer.Option(
            False, "--probe", help="Also train the token-content CTC probe per row (rvq1, sum) and on log-mel "
                                   "(reference); "
            "needs --probe-train."),
        probe_train: Optional[Path] = typer.Option(
            None, "--probe-train", help="Probe train split (LibriSpeech folder; speakers disjoint from --data)."),
        probe_transcripts: Optional[Path] = typer.Option(
            None, "--probe-transcripts", help="Teacher cache whose STT transcripts label --probe-train utterances "
                                              "without .trans.txt."),
        probe_steps: int = typer.Option(400, "--probe-steps", help="Probe training steps (batch 8)."),
        probe_option: List[str] = typer.Option(
            [], "--probe-option", help="KEY=VALUE probe setting (repeatable): hidden, conv_layers, kernel_size, "
                                       "lstm_layers, "
            "batch_size, lr, seed."),
        device: str = typer.Option("cpu", "--device", help="Device for the tokenizers (cpu, cuda, cuda:1)."),
        workers: int = typer.Option(1, "--workers", help="Processes for the audio metrics (ViSQOL is the slow one)."),
        batch_size: int = typer.Option(8, "--batch-size", help="Utterances per ASR batch."),
        report_examples: int = typer.Option(3, "--report-examples", help="Audio players in report.html (shortest "
                                                                         "utterances)."),
        aso_iterations: int = typer.Option(1000, "--aso-iterations", help="Bootstrap iterations of the ASO test."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG figures (faster rendering)."),
        render_only: bool = typer.Option(False, "--render-only", help="Re-render the outputs of OUT from its records; "
                                                                      "compute nothing."),
    ) -> None:
        """Compare tokenizers on an evaluation set: WER/WIL, ViSQOL, STOI, ... with significance and a report."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from tokenizer_bench.core.errors import ConfigError

        from tokenizer_bench.benchmarks.harness.report import render_outputs
        from tokenizer_bench.benchmarks.harness.runner import CompareConfig, run_compare, unscored_rows
        from tokenizer_bench.benchmarks.harness.selection import parse_metric_options, parse_options
        from tokenizer_bench.benchmarks.harness.systems import parse_systems

        import sys

        # not a terminal (CI logs, pipes): rich would wrap the wide table at 80 columns
        console = Console() if sys.stdout.isatty() else Console(width=200)
        if merge:
            from tokenizer_bench.benchmarks.harness.shards import merge_runs

            merge_runs(merge, out)
            render_outputs(out, console=console, plots=not no_plots, aggregation=aggregate, correction=correction)
            console.print(f"merged {len(merge)} shard(s) into {out}")
            return
        if render_only:
            written = render_outputs(out, console=console, plots=not no_plots, aggregation=aggregate,
                                     correction=correction)
            console.print(f"re-rendered {len(written)} outputs in {out}")
            return
        if not data:
            raise ConfigError("--data is required (a LibriSpeech folder or a JSONL manifest)")
        if workers < 1 or batch_size < 1:
            raise ConfigError("--workers and --batch-size must be at least 1")
        explicit = {
            "num_samples": num_samples, "seed": seed, "asr": asr,
            "asr_options": parse_options(asr_option, "--asr-option") if asr_option else None,
            "metrics": [m.strip() for m in metrics.split(",") if m.strip()] if metrics is not None else None,
            "metric_options": parse_metric_options(metric_option) if metric_option else None,
            "aggregation": aggregate, "correction": correction,
        }
        preset_record = None
        if preset is not None:
            from tokenizer_bench.benchmarks.harness.presets import resolve_preset

            resolved = resolve_preset(preset, explicit, allow_stand_ins=allow_stand_ins)
            values, preset_record = resolved.values, resolved.record
            for what, note in resolved.stand_ins.items():
                console.print(f"[yellow]preset {preset}: stand-in for {what}:[/yellow] {note}")
        elif allow_stand_ins:
            raise ConfigError("--allow-stand-ins only applies with --preset")
        else:
            values = dict(explicit)
        defaults = {"seed": 42, "asr": "hf_whisper", "asr_options": {}, "aggregation": "common", "correction": "none",
                    "metric_options": {}}
        values = {k: (v if v is not None else defaults.get(k)) for k, v in {**defaults, **values}.items()}
        cfg = CompareConfig(
            systems=parse_systems(tokenizers, baselines, baseline_checkpoint),
            data=[str(d) for d in data],
            out=out,
            num_samples=values["num_samples"],
            seed=values["seed"],
            metrics=values["metrics"],
            metric_options=values["metric_options"],
            asr=values["asr"],
            asr_options=values["asr_options"],
            save_audio=save_audio,
            n_q=_depths_arg(n_q),
            aggregation=values["aggregation"],
            correction=values["correction"],
            shard=shard,
            consistency=consistency,
            consistency_chunk_s=consistency_chunk,
            token_stats=token_stats,
            probe=_probe_config(probe, probe_train, probe_transcripts, probe_steps, probe_option),
            preset=preset_record,
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
        empty = unscored_rows(out)
        for label, reason in empty.items():
            print(f"failed: row {label} scored none of its utterances (first: {reason})", file=sys.stderr, flush=True)
        if empty:  # tables exist, but a row without a single score is no result: scripts must notice
            raise typer.Exit(code=1)

    @app.command("compare-merge")
    def compare_merge(
        shards: List[Path] = typer.Argument(..., help="Shard folders written by compare --shard I/N (all N of them)."),
        out: Path = typer.Option(..., "--out", help="Folder of the merged run (records, tables, report)."),
        no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG figures."),
    ) -> None:
        """Merge the shards of one comparison into a single run folder and render it (same tables as one process)."""
        from rich.console import Console

        import sys

        from tokenizer_bench.benchmarks.harness.report import render_outputs
        from tokenizer_bench.benchmarks.harness.shards import merge_runs

        console = Console() if sys.stdout.isatty() else Console(width=200)
        merge_runs(shards, out)
        render_outputs(out, console=console, plots=not no_plots)
        console.print(f"merged {len(shards)} shard(s) into {out}")


def _probe_config(enabled: bool, train: Path | None, transcripts: Path | None, steps: int, options: list[str]):
    """The ``--probe*`` options as ``CompareConfig.probe`` (None when --probe is off)."""
    from tokenizer_bench.core.errors import ConfigError

    if not enabled:
        if train is not None or transcripts is not None or options:
            raise ConfigError("--probe-train / --probe-transcripts / --probe-option only apply with --probe")
        return None
    if train is None:
        raise ConfigError("--probe needs --probe-train DIR (a split whose speakers are not in --data)")
    from tokenizer_bench.benchmarks.harness.probe import ProbeConfig, check_split
    from tokenizer_bench.benchmarks.harness.selection import parse_options

    try:
        cfg = ProbeConfig(steps=steps, **parse_options(options, "--probe-option"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"--probe-option: {exc}") from exc
    check_split(train, transcripts)  # before any system is scored
    return {"train": str(train), "transcripts": str(transcripts) if transcripts else None, **cfg.model_dump()}


def _depths_arg(value: str | None) -> int | list[int] | None:
    """``--n-q 8`` stays one depth (an error where a tokenizer lacks it); ``1,2,4`` is a sweep."""
    from tokenizer_bench.benchmarks.harness.systems import parse_depths

    if value is None:
        return None
    depths = parse_depths(value)
    return depths[0] if "," not in value else depths
