"""Consistency checks users keep asking codec authors about (DAC #39/#45, SNAC #32), per row:

- **batched vs one at a time**: ``B`` utterances cropped to a common length (the shortest of them,
  so no padding enters) encoded as one ``[B, 1, N]`` batch and one by one; padding-free batching
  should give identical codes (batch-dependent normalisation or padding masks make it differ);
- **chunked vs whole**: the same utterances concatenated into one long input, encoded whole and in
  chunks of ``chunk_s`` seconds (rounded to whole frames) whose codes are concatenated; a codec
  with a receptive field beyond the chunk (or LSTMs, like DM-Codec's encoder) gives other codes at
  chunk edges. Each chunk is decoded on its own and the waveforms are concatenated, against the
  whole input's decode.

Reported as measured differences, never a pass/fail guess: fraction of differing codes over the
compared frames (0.0 = identical), frame-count mismatch, max |waveform difference|. Opt-in
(``--consistency``): it costs ``3 B + chunks`` extra encode/decode calls per row. Results are written
to ``consistency.jsonl`` (one line per row, keyed by the row's record key) so re-rendering needs no
model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from tokenizer_bench.core.audio import load_audio, resample
from tokenizer_bench.core.io import write_text_atomic

CONSISTENCY_NAME = "consistency.jsonl"
BATCH = 3


def code_difference(a: torch.Tensor, b: torch.Tensor) -> dict[str, Any]:
    """Fraction of differing codes over the common ``[.., Q, T]`` frames, and the frame mismatch."""
    t = min(a.shape[-1], b.shape[-1])
    if a.shape[:-1] != b.shape[:-1]:
        return {"codes_differ_fraction": None, "frames": [int(a.shape[-1]), int(b.shape[-1])],
                "note": f"code shapes {tuple(a.shape)} vs {tuple(b.shape)}"}
    if t == 0:
        return {"codes_differ_fraction": None, "frames": [int(a.shape[-1]), int(b.shape[-1])], "note": "no frames"}
    diff = (a[..., :t] != b[..., :t]).float().mean().item()
    return {"codes_differ_fraction": float(diff), "frames": [int(a.shape[-1]), int(b.shape[-1])]}


def wave_difference(a: torch.Tensor, b: torch.Tensor) -> float | None:
    n = min(a.shape[-1], b.shape[-1])
    if not n:
        return None
    d = float((a[..., :n].float() - b[..., :n].float()).abs().max().item())
    return d if math.isfinite(d) else None


def _enc(tok: Any, x: torch.Tensor, n_q: int) -> tuple[torch.Tensor, dict]:
    codes, side = tok.encode_with_side(x, n_q=n_q)
    return codes.detach().cpu(), side or {}


def _dec(tok: Any, codes: torch.Tensor, side: dict, device: str) -> torch.Tensor:
    return tok.decode(codes.to(device), side=side or None).detach().float().cpu()


def check_batched(tok: Any, wavs: Sequence[torch.Tensor], n_q: int, device: str) -> dict[str, Any]:
    n = min(w.shape[-1] for w in wavs)
    x = torch.stack([w[..., :n].reshape(1, -1) for w in wavs]).to(device)  # [B, 1, n]
    with torch.inference_mode():
        bc, bside = _enc(tok, x, n_q)
        bw = _dec(tok, bc, bside, device)
        singles = [_enc(tok, x[i : i + 1], n_q) for i in range(x.shape[0])]
        sw = [_dec(tok, c, s, device) for c, s in singles]
    sc = torch.cat([c for c, _ in singles], dim=0)
    out = code_difference(bc, sc)
    diffs = [wave_difference(bw[i : i + 1], sw[i]) for i in range(len(sw))]
    out["max_abs_wave_diff"] = None if None in diffs else max(diffs)
    out.update(batch=int(x.shape[0]), samples=int(n))
    return out


def check_chunked(tok: Any, wav: torch.Tensor, n_q: int, chunk_s: float, device: str) -> dict[str, Any]:
    hop = int(round(tok.sample_rate / tok.frame_rate))
    chunk = max(1, int(round(chunk_s * tok.frame_rate))) * hop
    n = (wav.shape[-1] // chunk) * chunk  # whole chunks only, so both sides see the same samples
    if n < 2 * chunk:
        return {"codes_differ_fraction": None, "note": f"input shorter than two chunks of {chunk} samples"}
    x = wav[..., :n].reshape(1, 1, -1).to(device)
    with torch.inference_mode():
        wc, wside = _enc(tok, x, n_q)
        ww = _dec(tok, wc, wside, device)
        parts = [_enc(tok, x[..., s : s + chunk], n_q) for s in range(0, n, chunk)]
        cw = torch.cat([_dec(tok, c, s, device) for c, s in parts], dim=-1)
    cc = torch.cat([c for c, _ in parts], dim=-1)
    out = code_difference(wc, cc)
    out["max_abs_wave_diff"] = wave_difference(ww, cw)
    out.update(chunk_samples=int(chunk), chunks=len(parts), samples=int(n))
    return out


def run_consistency(systems: Sequence[Any], utterances: Sequence[Any], out: Path, *, device: str = "cpu",
                    chunk_s: float = 1.0, progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Both checks for every row on the first ``BATCH`` readable utterances; writes ``consistency.jsonl``."""
    lines = []
    total = len(systems)
    for k, system in enumerate(systems):
        tok = system.tokenizer
        sr = int(system.info["sample_rate"])
        entry: dict[str, Any] = {"system": system.label, "system_key": system.key, "n_q": system.info["n_q"]}
        wavs, ids = [], []
        for u in utterances:
            if len(wavs) == BATCH:
                break
            try:
                w, wsr = load_audio(u.path)
            except Exception:  # unreadable files are reported by the main run
                continue
            wavs.append(resample(w, wsr, sr).reshape(-1))
            ids.append(u.id)
        entry["utterances"] = ids
        for name, fn in (("batched", lambda: check_batched(tok, wavs, system.info["n_q"], device)),
                         ("chunked", lambda: check_chunked(tok, torch.cat(wavs), system.info["n_q"], chunk_s, device))):
            try:
                entry[name] = fn() if wavs else {"codes_differ_fraction": None, "note": "no readable utterance"}
            except Exception as exc:  # a tokenizer that cannot batch or chunk: that is the finding
                entry[name] = {"codes_differ_fraction": None, "error": f"{type(exc).__name__}: {exc}"}
        lines.append(json.dumps(entry, allow_nan=False) + "\n")
        if progress:
            progress("consistency checks", k + 1, total)
    path = Path(out) / CONSISTENCY_NAME
    write_text_atomic(path, "".join(lines))
    return path


def load_consistency(out: Path) -> list[dict[str, Any]]:
    path = Path(out) / CONSISTENCY_NAME
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
