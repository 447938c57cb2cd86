"""``tokenizer-bench encode`` / ``decode``: any registered tokenizer, files in, codes out.

Codes are written one ``.npy`` per input with shape ``[Q, T]`` (int16 when the codebook fits,
else int32), side information (e.g. a timbre vector) in ``<id>.side.npz``, and an ``index.json``
that records the tokenizer, its rates and each input's length so ``decode`` can trim the output.
Inputs of identical length are batched together; inputs of different lengths are never padded
into one batch, so an input's codes do not depend on what else was in the batch (the encoder's
bidirectional LSTM would otherwise carry padding into every frame). Existing outputs are
skipped, so an interrupted run resumes.

Inputs are audio files, shell-style globs (quoted so the shell leaves them alone, ``**`` allowed),
folders and JSONL manifests. One bad input (an unreadable audio file, a damaged code file) is
reported in one line naming it and the run goes on with the rest; the exit code is 1 whenever an
input failed (2 for a usage error before any work, as every command), so scripts notice. Multi-
channel audio is mixed down to mono by averaging channels, as published codecs' command lines
do, with one warning per run; resampling to the tokenizer's rate is announced once per source rate.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import typer

from tokenizer_bench.core.errors import AudioError, ConfigError, TokenizerBenchError
from tokenizer_bench.core.host_memory import reuse_freed_memory_on
from tokenizer_bench.core.io import atomic_path, check_output_folder, child_path, write_json_atomic

if TYPE_CHECKING:  # torch is imported where it is used: the CLI starts without it
    import torch

INDEX = "index.json"
_GLOB_CHARS = frozenset("*?[")
_MANIFEST_SUFFIXES = (".jsonl", ".json")
#: Exceptions a tokenizer raises for an input it cannot take (too short, wrong shape...): they
#: fail that input, not the run. Anything else is a bug and keeps its traceback.
_INPUT_ERRORS = (TokenizerBenchError, ValueError, RuntimeError, IndexError)


def _debug() -> bool:
    """``--debug`` (anywhere on the command line) wants the traceback of the first bad input."""
    return os.environ.get("TOKENIZER_BENCH_DEBUG") == "1"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _progress(enabled: bool) -> Any:
    """A progress bar on stderr, shown only on a terminal (stdout keeps just the summary)."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), disable=not (enabled and sys.stderr.isatty()), transient=True)


def parse_tokenizer_spec(spec: str) -> tuple[str, str | None]:
    """``name`` or ``name:checkpoint`` (the checkpoint may itself contain ':' on Windows-less paths).

    ``name:`` with nothing after the colon (``-t dm_codec:$CKPT`` with ``CKPT`` unset) is a
    :class:`ConfigError`: it would otherwise build a randomly initialised model without a word.
    """
    name, sep, ckpt = spec.partition(":")
    if sep and not ckpt.strip():
        raise ConfigError(f"--tokenizer {spec!r}: the checkpoint after ':' is empty (an unset variable?); give a "
                          f"checkpoint, or just {name.strip()!r} for a randomly initialised model")
    if not name.strip():
        raise ConfigError(f"--tokenizer {spec!r}: no tokenizer name before ':'")
    return name.strip(), (ckpt.strip() or None) if sep else None


def parse_options(options: list[str]) -> dict[str, Any]:
    """Repeated ``--option KEY=VALUE`` as tokenizer options (values read as YAML, as ``--set``)."""
    from tokenizer_bench.core.config import parse_key_values

    return parse_key_values(options, "--option")


def _codes_dtype(codebook_size: int) -> Any:
    return np.int16 if codebook_size <= 2**15 else np.int32


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def _check_run_options(batch_size: int | None, device: str) -> None:
    """Option values that would fail later, mid-run, with an exception from deep inside."""
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ConfigError(f"--device {device!r}: {exc}") from None


def _load(name: str, ckpt: str | None, options: dict[str, Any], device: str) -> Any:
    """The tokenizer in eval mode on ``device``; a device that does not exist here is a ConfigError."""
    from tokenizer_bench.core.api import load_tokenizer

    tok = load_tokenizer(name, checkpoint=ckpt, **options)
    if hasattr(tok, "eval"):
        tok.eval()
    try:
        return tok.to(device) or tok
    except (RuntimeError, AssertionError) as exc:  # "Torch not compiled with CUDA enabled", no such GPU
        raise ConfigError(f"--device {device!r}: not usable here ({exc})") from None


def _source_stamp(path: Path) -> dict[str, int]:
    """Size and modification time of an input, recorded in the index: a changed source is encoded again."""
    st = path.stat()
    return {"source_size": int(st.st_size), "source_mtime_ns": int(st.st_mtime_ns)}


def _batches(items: list[tuple[Any, Any]], batch_size: int) -> list[list[tuple[Any, Any]]]:
    by_length: dict[int, list[tuple[Any, Any]]] = {}
    for item in items:
        by_length.setdefault(item[1].shape[-1], []).append(item)
    out: list[list[tuple[Any, Any]]] = []
    for group in by_length.values():
        out.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return out


# --------------------------------------------------------------------------- inputs
def resolve_inputs(inputs: list[str]) -> list[Any]:
    """The utterances of ``inputs`` (audio files, globs, folders, manifests), sorted by id.

    A single audio file's id is its name without extension. A glob is expanded (sorted, ``**``
    recursive); of its matches, audio files, folders and manifests are used and other files (a
    transcript beside the audio) ignored. A glob matching nothing usable, a missing path, a file
    that is neither audio nor a manifest, and two inputs with the same id are
    :class:`ConfigError` s naming the input, raised before any work.
    """
    from tokenizer_bench.core.audio import AUDIO_EXTENSIONS
    from tokenizer_bench.core.data.corpus import Utterance, list_utterances

    paths: list[Path] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if not path.exists() and _GLOB_CHARS & set(raw):
            matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
            usable = [m for m in matches if m.is_dir() or m.suffix.lower() in AUDIO_EXTENSIONS + _MANIFEST_SUFFIXES]
            if not usable:
                raise ConfigError(f"{raw!r}: the pattern matches no audio file, folder or manifest")
            paths.extend(usable)
        elif not path.exists():
            raise ConfigError(f"{raw}: no such file or folder")
        else:
            paths.append(path)
    seen: dict[str, Path] = {}
    files: set[Path] = set()  # a file reached twice (a glob matching it and its folder) is encoded once
    found = []
    for path in paths:
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
            utts = [Utterance(id=path.stem, path=path, text=None)]
        elif path.is_file() and path.suffix.lower() not in _MANIFEST_SUFFIXES:
            raise ConfigError(f"{path}: not an audio file ({', '.join(AUDIO_EXTENSIONS)}) nor a .jsonl manifest")
        else:
            utts = list_utterances([path])
        for u in utts:
            if u.path.resolve() in files:
                continue
            files.add(u.path.resolve())
            if u.id in seen:
                raise ConfigError(f"two inputs have the id {u.id!r}: {seen[u.id]} and {u.path} "
                                  "(codes are written as <id>.npy; encode them into separate --out folders)")
            seen[u.id] = u.path
            found.append(u)
    return sorted(found, key=lambda u: u.id)


@dataclass
class AudioNotices:
    """Announces, once per run, what ``encode`` did to inputs: downmixing and resampling."""

    target_sr: int
    notify: Callable[[str], None] = _stderr
    normalize: bool = False
    downmixed: int = 0
    resampled: int = 0
    level_warnings: int = 0
    _rates: set[int] = field(default_factory=set)

    def load(self, path: Path) -> Any:
        """``[1, N]`` float32 at the target rate; :class:`AudioError` for an unusable file.

        Warns (one line per file) about a WAV cut off before the end its header declares, audio
        above full scale or clipped, and nearly silent audio; with ``normalize`` each input is
        scaled to a peak of -1 dBFS (:data:`~tokenizer_bench.core.audio.NORMALIZED_PEAK`) first.
        """
        from tokenizer_bench.core.audio import NORMALIZED_PEAK, level_problems, load_audio, resample, wav_truncation

        wav, sr = load_audio(path, None, mono=False)
        cut = wav_truncation(path)
        if cut is not None:
            self.level_warnings += 1
            self.notify(f"warning: {path} is truncated: its header declares {cut[0]} bytes of audio, the file holds "
                        f"{cut[1]} ({100 * cut[1] / max(1, cut[0]):.0f}%); encoding what is there")
        for problem in level_problems(wav):
            self.level_warnings += 1
            fix = "" if self.normalize else " (--normalize scales each input to a -1 dBFS peak)"
            self.notify(f"warning: {path}: {problem}{fix}")
        if self.normalize:
            peak = float(wav.abs().max())
            if peak > 0:
                wav = wav * (NORMALIZED_PEAK / peak)
        if wav.shape[0] > 1:
            if not self.downmixed:
                self.notify(f"warning: {path} has {wav.shape[0]} channels; multi-channel inputs are mixed down "
                            "to mono by averaging the channels (said once per run)")
            self.downmixed += 1
            wav = wav.mean(dim=0, keepdim=True)
        if sr != self.target_sr:
            if sr not in self._rates:
                self.notify(f"note: resampling inputs at {sr} Hz to the tokenizer's {self.target_sr} Hz "
                            f"(first: {path}; said once per rate)")
                self._rates.add(sr)
            self.resampled += 1
            wav = resample(wav, sr, self.target_sr)
        return wav


# --------------------------------------------------------------------------- encode
def encode_files(
    inputs: list[str],
    tokenizer_spec: str,
    out_dir: Path,
    n_q: int | None = None,
    batch_size: int = 1,
    device: str = "cpu",
    options: dict[str, Any] | None = None,
    progress: bool = True,
    notify: Callable[[str], None] = _stderr,
    overwrite: bool = False,
    normalize: bool = False,
) -> dict[str, Any]:
    """Encode every input; returns counts and ``failed`` (input id -> one-line reason).

    ``out_dir`` may not be a tokenizer or training-run folder unless ``overwrite``. An input
    already encoded is skipped unless its source changed since (size or modification time).
    """
    import torch

    _check_run_options(batch_size, device)
    name, ckpt = parse_tokenizer_spec(tokenizer_spec)
    check_output_folder(out_dir, "encode", overwrite)
    utterances = resolve_inputs(inputs)
    tok = _load(name, ckpt, options or {}, device)
    try:
        n_q_eff = tok.check_n_q(n_q)
    except ValueError as exc:
        raise ConfigError(f"--n-q: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / INDEX
    index = _read_index(index_path) if index_path.exists() else {"items": {}}
    header = {
        "tokenizer": name,
        "checkpoint": ckpt,
        "options": options or {},
        "sample_rate": tok.sample_rate,
        "frame_rate": tok.frame_rate,
        "num_codebooks": n_q_eff,
        "codebook_size": tok.codebook_size,
        "side_info_keys": list(tok.side_info_keys),
        "weights_sha256": tok.weights_sha256(),
    }
    for key in ("tokenizer", "checkpoint", "num_codebooks", "weights_sha256"):
        if key in index and index[key] != header[key]:
            raise TokenizerBenchError(
                f"{index_path}: written with {key}={index[key]!r}, now {header[key]!r}; use another --out directory"
            )
    index.update(header)
    notices = AudioNotices(int(tok.sample_rate), notify, normalize=normalize)
    todo, failed, already, changed = [], {}, 0, 0
    for utt in utterances:
        try:
            target = child_path(out_dir, utt.id, ".npy", "utterance id")
        except ConfigError as exc:
            failed[utt.id] = f"{utt.path}: {exc}"
            continue
        meta = index["items"].get(utt.id)
        if target.exists() and isinstance(meta, dict):
            stamp = _source_stamp(utt.path) if utt.path.exists() else {}
            if all(meta.get(k, v) == v for k, v in stamp.items()) and meta.get("normalized", False) == normalize:
                already += 1
                continue
            changed += 1
            notify(f"note: {utt.path} changed since it was encoded (or --normalize differs); encoding it again")
        try:
            wav = notices.load(utt.path)
        except AudioError as exc:
            if _debug():
                raise
            failed[utt.id] = str(exc)
            continue
        todo.append((utt, wav))
    dtype = _codes_dtype(tok.codebook_size)

    def run(batch: list[tuple[Any, Any]]) -> tuple[Any, dict[str, Any]]:
        wav = torch.stack([w for _, w in batch]).to(device)
        with torch.inference_mode(), reuse_freed_memory_on(device):
            return tok.encode_with_side(wav, n_q=n_q_eff)

    encoded = 0
    with _progress(progress) as bar:
        task = bar.add_task("encoding", total=len(todo))
        for batch in _batches(todo, max(1, batch_size)):
            try:
                results = [(batch, run(batch))]
            except _INPUT_ERRORS:
                if _debug() and len(batch) == 1:
                    raise
                results = []
                for item in batch:  # find the input the tokenizer failed on; the others still count
                    try:
                        results.append(([item], run([item])))
                    except _INPUT_ERRORS as exc:
                        if _debug():
                            raise
                        failed[item[0].id] = f"{item[0].path}: encoding failed ({type(exc).__name__}: {exc})"
            for part, (codes, side) in results:
                for i, (utt, w) in enumerate(part):
                    if side:
                        with atomic_path(out_dir / f"{utt.id}.side.npz") as tmp:
                            with open(tmp, "wb") as fh:
                                np.savez(fh, **{k: v[i].detach().float().cpu().numpy() for k, v in side.items()})
                    _save_npy(out_dir / f"{utt.id}.npy", codes[i].detach().cpu().numpy().astype(dtype))
                    index["items"][utt.id] = {"source": str(utt.path), "num_samples": int(w.shape[-1]),
                                              **_source_stamp(utt.path), "normalized": normalize}
                    encoded += 1
            write_json_atomic(index_path, index)
            bar.advance(task, len(batch))
    write_json_atomic(index_path, index)
    return {"encoded": encoded, "total": len(utterances),
            "skipped_existing": already, "changed": changed, "warnings": notices.level_warnings,
            "failed": failed, "downmixed": notices.downmixed, "resampled": notices.resampled}


# --------------------------------------------------------------------------- decode
def _read_index(path: Path) -> dict[str, Any]:
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenizerBenchError(f"{path}: not a readable index ({exc})") from None
    if not isinstance(index, dict) or not isinstance(index.get("items"), dict):
        raise TokenizerBenchError(f"{path}: not an index written by 'tokenizer-bench encode' (no 'items' mapping)")
    return index


def read_codes(path: Path, tokenizer: Any) -> torch.Tensor:
    """The codes of one file as int64 ``[B, Q, T]``, or a :class:`TokenizerBenchError` naming the
    file and the one thing wrong with it (unreadable, not integers, empty, shape, range)."""
    import torch

    if not path.is_file():
        raise TokenizerBenchError(f"{path}: missing (listed in {INDEX} but not on disk)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise TokenizerBenchError(f"{path}: cannot read ({exc.strerror})") from None
    if magic[:1] == b"\x80":  # a pickle: np.load would call it "pickled data"; never unpickled
        raise TokenizerBenchError(f"{path}: a Python pickle, not a .npy array of codes (refused: pickles can run code)")
    if magic != b"\x93NUMPY" and magic[:4] != b"PK\x03\x04":
        raise TokenizerBenchError(f"{path}: not a .npy file (no NumPy header; {len(magic)} leading byte(s) "
                                  f"{magic.hex()})")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise TokenizerBenchError(f"{path}: not a readable .npy array (truncated or corrupt: {exc})") from None
    if not isinstance(arr, np.ndarray):  # np.load returns an NpzFile for a .npz archive
        arr.close()
        raise TokenizerBenchError(f"{path}: an .npz archive, not a .npy array of codes")
    if not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise TokenizerBenchError(f"{path}: codes have dtype {arr.dtype}; expected integers (codebook indices)")
    if arr.size == 0:
        raise TokenizerBenchError(f"{path}: empty array (shape {list(arr.shape)})")
    if arr.ndim not in (2, 3):
        raise TokenizerBenchError(f"{path}: shape {list(arr.shape)} is neither [Q, T] nor [B, Q, T]")
    codes = torch.from_numpy(arr.astype(np.int64))
    codes = codes[None] if codes.dim() == 2 else codes
    try:
        tokenizer.check_codes(codes)
    except ValueError as exc:
        raise TokenizerBenchError(f"{path}: {exc}") from None
    return codes


def _read_side(path: Path, keys: tuple[str, ...], batch: int) -> dict[str, Any] | None:
    import torch

    if not path.is_file():
        if keys:
            raise TokenizerBenchError(f"{path}: missing; this tokenizer decodes with side information "
                                      f"({', '.join(keys)}) that 'encode' writes there")
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            side = {k: torch.from_numpy(np.asarray(z[k], np.float32)) for k in z.files}
    except Exception as exc:  # zipfile/numpy raise many types for a damaged archive
        raise TokenizerBenchError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})") from None
    missing = [k for k in keys if k not in side]
    if missing:
        raise TokenizerBenchError(f"{path}: lacks {', '.join(missing)}")
    return {k: (v[None] if batch == 1 else v) for k, v in side.items()}


def _num_samples(meta: Any, where: Path) -> int | None:
    """The ``num_samples`` of an index item (None: not recorded); TokenizerBenchError for a wrong type."""
    n = meta.get("num_samples") if isinstance(meta, dict) else None
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise TokenizerBenchError(f"{where}: num_samples must be a positive integer, got {n!r}")
    return n


def decode_files(codes_dir: Path, out_dir: Path, tokenizer_spec: str | None = None, device: str = "cpu",
                 options: dict[str, Any] | None = None, progress: bool = True,
                 overwrite: bool = False) -> dict[str, Any]:
    """Decode every listed code file; returns counts and ``failed`` (id -> one-line reason).

    A ``[B, Q, T]`` file with ``B > 1`` becomes ``<id>-<b>.wav`` per batch row. Names in the index
    that lead outside ``codes_dir`` or ``out_dir``, a wrong-typed ``num_samples`` and a decoder
    output with NaN/inf fail that item. Codes recorded with other weights (the index's
    ``weights_sha256``) are refused before any work.
    """
    import torch
    from tokenizer_bench.core.audio import save_audio

    _check_run_options(None, device)
    check_output_folder(out_dir, "decode", overwrite)
    index_path = codes_dir / INDEX
    if not index_path.exists():
        raise TokenizerBenchError(f"{index_path}: missing; is {codes_dir} the output of 'tokenizer-bench encode'?")
    index = _read_index(index_path)
    if tokenizer_spec:
        name, ckpt = parse_tokenizer_spec(tokenizer_spec)
    else:
        raw_name, raw_ckpt = index.get("tokenizer"), index.get("checkpoint")
        if not isinstance(raw_name, str) or not (raw_ckpt is None or isinstance(raw_ckpt, str)):
            raise TokenizerBenchError(f"{index_path}: 'tokenizer' must be a name and 'checkpoint' a path or null")
        name, ckpt = raw_name, raw_ckpt
    saved_options = index.get("options") or {}
    if not isinstance(saved_options, dict):
        raise TokenizerBenchError(f"{index_path}: 'options' must be a mapping, got {type(saved_options).__name__}")
    tok = _load(name, ckpt, {**saved_options, **(options or {})}, device)
    recorded = index.get("weights_sha256")
    if recorded is not None:
        found = tok.weights_sha256()
        if found != recorded:
            raise TokenizerBenchError(
                f"{index_path}: these codes were made with other weights than {name}"
                f"{':' + ckpt if ckpt else ''} has now (weights hash {str(recorded)[:12]}... at encode, "
                f"{str(found)[:12]}... now): decoding them would give noise. Decode with the tokenizer that made "
                "them (re-exported? encode again)")
    written, skipped, failed = 0, 0, {}
    with _progress(progress) as bar:
        task = bar.add_task("decoding", total=len(index["items"]))
        for utt_id, meta in index["items"].items():
            bar.advance(task)
            try:
                code_path = child_path(codes_dir, utt_id, ".npy", f"{index_path}: item")
                wav_path = child_path(out_dir, utt_id, ".wav", f"{index_path}: item")
                n = _num_samples(meta, code_path)
            except TokenizerBenchError as exc:
                failed[str(utt_id)] = str(exc)
                continue
            if wav_path.exists():
                skipped += 1
                continue
            try:
                codes = read_codes(code_path, tok)
                side = _read_side(codes_dir / f"{utt_id}.side.npz", tuple(tok.side_info_keys), codes.shape[0])
                with torch.inference_mode(), reuse_freed_memory_on(device):
                    try:
                        wav = tok.decode(codes.to(device),
                                         side={k: v.to(device) for k, v in side.items()} if side else None)
                    except _INPUT_ERRORS as exc:
                        raise TokenizerBenchError(f"{code_path}: decoding failed "
                                                  f"({type(exc).__name__}: {exc})") from exc
                if not bool(torch.isfinite(wav).all()):
                    raise TokenizerBenchError(f"{code_path}: the decoder produced NaN or infinite samples; "
                                              "nothing written (a diverged or damaged model?)")
            except TokenizerBenchError as exc:
                if _debug():
                    raise
                failed[utt_id] = str(exc)
                continue
            for b in range(wav.shape[0]):
                target = wav_path if wav.shape[0] == 1 else out_dir / f"{utt_id}-{b}.wav"
                save_audio(target, wav[b, :, :n] if n else wav[b], tok.sample_rate)
            written += 1
    return {"decoded": written, "skipped_existing": skipped, "total": len(index["items"]), "failed": failed}


# --------------------------------------------------------------------------- commands
def summary_line(verb: str, summary: dict[str, Any], out: Path) -> str:
    """``encoded 3 of 4; 1 failed: bad -> codes`` (already-done inputs counted as done)."""
    done = summary.get("encoded", summary.get("decoded", 0)) + summary["skipped_existing"]
    failed = summary["failed"]
    text = f"{verb} {done} of {summary['total']}"
    if summary["skipped_existing"]:
        text += f" ({summary['skipped_existing']} already done)"
    if failed:
        text += f"; {len(failed)} failed: {', '.join(failed)}"
    return f"{text} -> {out}"


def _finish(verb: str, summary: dict[str, Any], out: Path) -> None:
    for reason in summary["failed"].values():
        _stderr(f"failed: {reason}")
    typer.echo(summary_line(verb, summary, out))
    if summary["failed"]:
        raise typer.Exit(code=1)


def add_commands(app: typer.Typer) -> None:
    @app.command("encode")
    def encode_command(
        inputs: list[str] = typer.Argument(
            ..., help="Audio files, globs (quote them: 'in/**/*.wav'), folders (LibriSpeech or plain) or JSONL "
                      "manifests. Multi-channel audio is mixed down to mono (averaged, one warning); other "
                      "sample rates are resampled to the tokenizer's (announced once)."),
        tokenizer: str = typer.Option(..., "--tokenizer", "-t", help="name or name:checkpoint"),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder for <id>.npy codes."),
        n_q: int = typer.Option(None, "--n-q", help="Codebooks to keep (lower bitrate)."),
        batch_size: int = typer.Option(8, "--batch-size", help="Inputs of equal length per batch."),
        device: str = typer.Option("cpu", "--device"),
        option: list[str] = typer.Option([], "--option", help="Tokenizer option KEY=VALUE (repeatable)."),
        normalize: bool = typer.Option(False, "--normalize", help="Scale each input to a peak of -1 dBFS first."),
        overwrite: bool = typer.Option(False, "--overwrite",
                                       help="Allow --out to be a folder that holds a tokenizer or a training run."),
    ) -> None:
        """Encode audio to discrete codes with any registered tokenizer.

        A bad input is reported in one line and skipped; the exit code is 1 when any input failed.
        Inputs above full scale, clipped, nearly silent or truncated are warned about.
        """
        summary = encode_files(inputs, tokenizer, out, n_q, batch_size, device, parse_options(option),
                               overwrite=overwrite, normalize=normalize)
        _finish("encoded", summary, out)

    @app.command("decode")
    def decode_command(
        codes_dir: Path = typer.Argument(..., help="Output folder of 'tokenizer-bench encode'."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for 16-bit WAV files."),
        tokenizer: str = typer.Option(None, "--tokenizer", "-t", help="Override the tokenizer recorded in index.json."),
        device: str = typer.Option("cpu", "--device"),
        option: list[str] = typer.Option([], "--option", help="Tokenizer option KEY=VALUE (repeatable)."),
        overwrite: bool = typer.Option(False, "--overwrite",
                                       help="Allow --out to be a folder that holds a tokenizer or a training run."),
    ) -> None:
        """Decode codes written by 'encode' back to 16-bit WAV at the tokenizer's rate.

        Each code file must be an integer .npy of shape [Q, T] or [B, Q, T] with Q at most the
        tokenizer's codebooks and values inside the codebook; a bad file is reported in one line
        and skipped, and the exit code is 1 when any file failed.
        """
        summary = decode_files(codes_dir, out, tokenizer, device, parse_options(option), overwrite=overwrite)
        _finish("decoded", summary, out)
