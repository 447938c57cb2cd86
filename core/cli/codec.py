"""``tokenizer-bench encode`` / ``decode``: any registered tokenizer, files in, codes out.

Codes are written one ``.npy`` per input with shape ``[Q, T]`` (int16 when the codebook fits,
else int32), side information (e.g. FACodec's timbre) in ``<id>.side.npz``, and an ``index.json``
that records the tokenizer, its rates and each input's length so ``decode`` can trim the output.
Inputs of identical length are batched together; inputs of different lengths are never padded
into one batch, so an input's codes do not depend on what else was in the batch (the encoder's
bidirectional LSTM would otherwise carry padding into every frame). Existing outputs are
skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from ..errors import AudioError, TokenizerBenchError
from ..host_memory import reuse_freed_memory_on
from ..io import atomic_path, write_json_atomic

INDEX = "index.json"


def parse_tokenizer_spec(spec: str) -> tuple[str, str | None]:
    """``name`` or ``name:checkpoint`` (the checkpoint may itself contain ':' on Windows-less paths)."""
    name, sep, ckpt = spec.partition(":")
    return name.strip(), (ckpt.strip() or None) if sep else None


def parse_options(options: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for text in options:
        if "=" not in text:
            raise TokenizerBenchError(f"--option {text!r}: expected KEY=VALUE")
        key, _, raw = text.partition("=")
        out[key.strip()] = yaml.safe_load(raw)
    return out


def _codes_dtype(codebook_size: int) -> Any:
    return np.int16 if codebook_size <= 2**15 else np.int32


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def _batches(items: list[tuple[Any, Any]], batch_size: int) -> list[list[tuple[Any, Any]]]:
    by_length: dict[int, list[tuple[Any, Any]]] = {}
    for item in items:
        by_length.setdefault(item[1].shape[-1], []).append(item)
    out = []
    for group in by_length.values():
        out.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return out


def encode_files(
    inputs: list[str],
    tokenizer_spec: str,
    out_dir: Path,
    n_q: int | None = None,
    batch_size: int = 1,
    device: str = "cpu",
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    import torch
    from rich.progress import Progress

    from ..api import load_tokenizer
    from ..audio import load_audio
    from ..data.corpus import list_utterances

    name, ckpt = parse_tokenizer_spec(tokenizer_spec)
    tok = load_tokenizer(name, checkpoint=ckpt, **(options or {}))
    if hasattr(tok, "eval"):
        tok.eval()
    tok = tok.to(device) or tok
    n_q_eff = tok.check_n_q(n_q)
    utterances = list_utterances(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / INDEX
    index = json.loads(index_path.read_text()) if index_path.exists() else {"items": {}}
    header = {
        "tokenizer": name,
        "checkpoint": ckpt,
        "options": options or {},
        "sample_rate": tok.sample_rate,
        "frame_rate": tok.frame_rate,
        "num_codebooks": n_q_eff,
        "codebook_size": tok.codebook_size,
        "side_info_keys": list(tok.side_info_keys),
    }
    for key in ("tokenizer", "checkpoint", "num_codebooks"):
        if key in index and index[key] != header[key]:
            raise TokenizerBenchError(
                f"{index_path}: written with {key}={index[key]!r}, now {header[key]!r}; use another --out directory"
            )
    index.update(header)
    todo, failed = [], {}
    for utt in utterances:
        if (out_dir / f"{utt.id}.npy").exists() and utt.id in index["items"]:
            continue
        try:
            wav, _ = load_audio(utt.path, tok.sample_rate)
        except AudioError as exc:
            failed[utt.id] = str(exc)
            continue
        todo.append((utt, wav))
    dtype = _codes_dtype(tok.codebook_size)
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("encoding", total=len(todo))
        for batch in _batches(todo, max(1, batch_size)):
            wav = torch.stack([w for _, w in batch]).to(device)
            with torch.inference_mode(), reuse_freed_memory_on(device):
                codes, side = tok.encode_with_side(wav, n_q=n_q_eff)
            for i, (utt, w) in enumerate(batch):
                if side:
                    with atomic_path(out_dir / f"{utt.id}.side.npz") as tmp:
                        with open(tmp, "wb") as fh:
                            np.savez(fh, **{k: v[i].detach().float().cpu().numpy() for k, v in side.items()})
                _save_npy(out_dir / f"{utt.id}.npy", codes[i].detach().cpu().numpy().astype(dtype))
                index["items"][utt.id] = {"source": str(utt.path), "num_samples": int(w.shape[-1])}
            write_json_atomic(index_path, index)
            bar.advance(task, len(batch))
    write_json_atomic(index_path, index)
    return {"encoded": len(todo), "skipped_existing": len(utterances) - len(todo) - len(failed), "failed": failed}


def decode_files(codes_dir: Path, out_dir: Path, tokenizer_spec: str | None = None, device: str = "cpu",
                 options: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Any]:
    import torch
    from rich.progress import Progress

    from ..api import load_tokenizer
    from ..audio import save_audio

    index_path = codes_dir / INDEX
    if not index_path.exists():
        raise TokenizerBenchError(f"{index_path}: missing; is {codes_dir} the output of 'tokenizer-bench encode'?")
    index = json.loads(index_path.read_text())
    if tokenizer_spec:
        name, ckpt = parse_tokenizer_spec(tokenizer_spec)
    else:
        name, ckpt = index["tokenizer"], index.get("checkpoint")
    tok = load_tokenizer(name, checkpoint=ckpt, **{**index.get("options", {}), **(options or {})})
    if hasattr(tok, "eval"):
        tok.eval()
    tok = tok.to(device) or tok
    written = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("decoding", total=len(index["items"]))
        for utt_id, meta in index["items"].items():
            target = out_dir / f"{utt_id}.wav"
            if not target.exists():
                codes = torch.from_numpy(np.load(codes_dir / f"{utt_id}.npy").astype(np.int64))[None].to(device)
                side = None
                side_path = codes_dir / f"{utt_id}.side.npz"
                if side_path.exists():
                    with np.load(side_path) as z:
                        side = {k: torch.from_numpy(z[k])[None].to(device) for k in z.files}
                with torch.inference_mode(), reuse_freed_memory_on(device):
                    wav = tok.decode(codes, side=side)
                save_audio(target, wav[0, :, : meta["num_samples"]], tok.sample_rate)
                written += 1
            bar.advance(task)
    return {"decoded": written, "total": len(index["items"])}


def add_commands(app: typer.Typer) -> None:
    from rich.console import Console

    console = Console()

    @app.command("encode")
    def encode_command(
        inputs: list[str] = typer.Argument(..., help="Audio files, folders (LibriSpeech or plain) or JSONL manifests."),
        tokenizer: str = typer.Option(..., "--tokenizer", "-t", help="name or name:checkpoint"),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder for <id>.npy codes."),
        n_q: int = typer.Option(None, "--n-q", help="Codebooks to keep (lower bitrate)."),
        batch_size: int = typer.Option(8, "--batch-size", help="Inputs of equal length per batch."),
        device: str = typer.Option("cpu", "--device"),
        option: list[str] = typer.Option([], "--option", help="Tokenizer option KEY=VALUE (repeatable)."),
    ) -> None:
        """Encode audio to discrete codes with any registered tokenizer."""
        summary = encode_files(inputs, tokenizer, out, n_q, batch_size, device, parse_options(option))
        console.print(f"encoded {summary['encoded']}, already done {summary['skipped_existing']}, "
                      f"failed {len(summary['failed'])} -> {out}")
        for utt_id, reason in summary["failed"].items():
            console.print(f"  [yellow]skipped[/] {utt_id}: {reason}")

    @app.command("decode")
    def decode_command(
        codes_dir: Path = typer.Argument(..., help="Output folder of 'tokenizer-bench encode'."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for 16-bit WAV files."),
        tokenizer: str = typer.Option(None, "--tokenizer", "-t", help="Override the tokenizer recorded in index.json."),
        device: str = typer.Option("cpu", "--device"),
        option: list[str] = typer.Option([], "--option", help="Tokenizer option KEY=VALUE (repeatable)."),
    ) -> None:
        """Decode codes written by 'encode' back to 16-bit WAV at the tokenizer's rate."""
        summary = decode_files(codes_dir, out, tokenizer, device, parse_options(option))
        console.print(f"decoded {summary['decoded']} of {summary['total']} -> {out}")
