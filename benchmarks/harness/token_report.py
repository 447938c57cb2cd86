"""``compare --token-stats`` and ``compare --probe``: run them over a compare run's rows, store
their results beside the records (``token_stats.json``, ``token_probe.json``, so re-rendering
needs no model) and render their sections for results.md / results.json / report.html.

The computations live in :mod:`.tokens` and :mod:`.probe`; this module only connects them to
the harness (rows = the run's loaded systems, evaluation utterances = the probe's test split).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from tokenizer_bench.core.audio import load_audio, resample
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import write_json_atomic

from tokenizer_bench.benchmarks.harness import probe as P
from tokenizer_bench.benchmarks.harness.tokens import stats_markdown, token_statistics

STATS_NAME = "token_stats.json"
PROBE_NAME = "token_probe.json"
STATS_NOTE = ("Token statistics over the evaluation utterances: per codebook, utilisation = distinct codes used / "
              "codebook size, entropy of the code histogram (bits) and perplexity 2^H; entropy-coded bit/s = sum of "
              "the codebooks' entropies x frame rate (an ideal unigram entropy coder per codebook), next to the "
              "nominal bitrate.")
PROBE_NOTE = ("Token-content probe: a small CTC character recogniser trained on the frozen code embeddings (rvq1 = "
              "first codebook alone, sum = all codebooks summed) of a train split and scored by corpus CER on the "
              "evaluation utterances (speakers disjoint from the train split); the reference row trains the same probe "
              "on the original audio's log-mel frames. 95 % CI: bootstrap over test utterances. Lower = more text in "
              "the tokens.")


def run_token_stats(systems: Sequence[Any], utterances: Sequence[Any], out: Path,
                    progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Encode every utterance once per row and write the statistics to ``token_stats.json``."""
    result: dict[str, Any] = {}
    for system in systems:
        tok = system.tokenizer
        sr = int(system.info.get("sample_rate", tok.sample_rate))

        def wavs():
            for i, u in enumerate(utterances):
                wav, wav_sr = load_audio(u.path)
                if progress:
                    progress(f"{system.label} (token stats)", i, len(utterances))
                yield resample(wav, wav_sr, sr).reshape(1, 1, -1)

        try:
            result[system.label] = token_statistics(tok, wavs(), n_q=system.info.get("n_q"))
        except Exception as exc:  # a tokenizer that cannot encode some utterance: say so in the table
            result[system.label] = f"failed: {type(exc).__name__}: {exc}"
    write_json_atomic(Path(out) / STATS_NAME, result)
    return result


def run_compare_probe(systems: Sequence[Any], utterances: Sequence[Any], out: Path, train_dir: str | Path,
                      cfg: P.ProbeConfig, transcripts: str | Path | None = None,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train and score the probe for every row (and the log-mel reference); writes ``token_probe.json``."""
    texts = P.cached_transcripts(transcripts) if transcripts else None
    train = P.load_split(train_dir, texts)
    test, no_text = [], [u.id for u in utterances if not u.text]
    if len(no_text) == len(utterances):
        raise ConfigError("probe: no evaluation utterance has a reference transcript to score the probe against")
    for u in utterances:
        if not u.text:
            continue  # counted in the table's header (test.without_text)
        wav, _ = load_audio(u.path, 16000)
        test.append((u.id, P.speaker_of(u.id), wav[0], u.text))
    toks = {s.label: (s.tokenizer, s.info.get("n_q")) for s in systems}
    rows = P.run_probe_rows(toks, train, test, cfg, reference=True, log=log)
    payload = {"probe": cfg.model_dump(), "train": {"source": str(train_dir), "n": len(train),
                                                   "transcripts": str(transcripts) if transcripts else "official"},
               "test": {"n": len(test), "without_text": no_text},
               "rows": {k: (v if isinstance(v, str) else v.to_json()) for k, v in rows.items()}}
    write_json_atomic(Path(out) / PROBE_NAME, payload)
    return payload


def load_extras(out: Path) -> dict[str, Any]:
    """What ``--token-stats`` / ``--probe`` stored in ``out`` (absent ones are left out)."""
    found = {}
    for key, name in (("token_stats", STATS_NAME), ("token_probe", PROBE_NAME)):
        path = Path(out) / name
        if path.is_file():
            try:
                found[key] = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    return found


def _probe_rows(probe: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, v in probe["rows"].items():
        if isinstance(v, str):
            rows.append([key, "–", v])
        else:
            lo, hi = v.get("ci95") or (float("nan"), float("nan"))
            rows.append([key, f"{v['cer']:.3f}", f"[{lo:.3f}, {hi:.3f}]"])
    return rows


PROBE_HEAD = ["features", "CER ↓", "95 % CI"]


def _skipped(probe: dict[str, Any]) -> str:
    n = len(probe["test"].get("without_text") or [])
    return f" ({n} without a reference transcript not scored)" if n else ""


def extras_markdown(extras: dict[str, Any]) -> str:
    parts = []
    if "token_stats" in extras:
        parts += ["", "## Token statistics", "", STATS_NOTE, "", stats_markdown(extras["token_stats"])]
    if "token_probe" in extras:
        pr = extras["token_probe"]
        parts += ["", "## Token-content probe", "", PROBE_NOTE,
                  f"Train: {pr['train']['n']} utterances of {pr['train']['source']} (transcripts: "
                  f"{pr['train']['transcripts']}); test: {pr['test']['n']} evaluation utterances"
                  f"{_skipped(pr)}; probe {pr['probe']}.", "",
                  "| " + " | ".join(PROBE_HEAD) + " |", "|---|---:|---|"]
        parts += ["| " + " | ".join(r) + " |" for r in _probe_rows(pr)]
    return "\n".join(parts) + ("\n" if parts else "")


def extras_html(extras: dict[str, Any]) -> str:
    parts = []
    if "token_stats" in extras:
        parts.append(f"<h2>Token statistics</h2><p class='note'>{html.escape(STATS_NOTE)}</p>")
        md = stats_markdown(extras["token_stats"]).splitlines()
        head = [c.strip() for c in md[0].strip("|").split("|")]
        parts.append("<table id='token-stats'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                     + "</tr></thead><tbody>")
        for line in md[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        parts.append("</tbody></table>")
    if "token_probe" in extras:
        pr = extras["token_probe"]
        parts.append(f"<h2>Token-content probe</h2><p class='note'>{html.escape(PROBE_NOTE)} Train: "
                     f"{pr['train']['n']} utterances ({html.escape(str(pr['train']['transcripts']))}); test: "
                     f"{pr['test']['n']}{html.escape(_skipped(pr))}.</p>")
        parts.append("<table id='token-probe'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in PROBE_HEAD)
                     + "</tr></thead><tbody>")
        for row in _probe_rows(pr):
            parts.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in row) + "</tr>")
        parts.append("</tbody></table>")
    return "".join(parts)


def extras_json(extras: dict[str, Any]) -> dict[str, Any]:
    """For results.json: the statistics and the probe's CERs (per-utterance errors stay in token_probe.json)."""
    out: dict[str, Any] = {}
    if "token_stats" in extras:
        out["token_stats"] = extras["token_stats"]
    if "token_probe" in extras:
        pr = extras["token_probe"]
        out["token_probe"] = {**{k: v for k, v in pr.items() if k != "rows"},
                              "rows": {k: v if isinstance(v, str) else {x: y for x, y in v.items()
                                                                        if x != "per_utterance"}
                                       for k, v in pr["rows"].items()}}
    return out


def run_extras(systems: Sequence[Any], utterances: Sequence[Any], out: Path, token_stats: bool,
               probe: dict[str, Any] | None, progress: Callable[[str, int, int], None] | None = None) -> None:
    """What the runner calls after the rows: ``--token-stats`` and/or ``--probe`` (CompareConfig.probe)."""
    if token_stats:
        run_token_stats(systems, utterances, out, progress=progress)
    if probe:
        settings = dict(probe)
        train, transcripts = settings.pop("train"), settings.pop("transcripts", None)
        torch.manual_seed(int(settings.get("seed", 0)))
        run_compare_probe(systems, utterances, out, train, P.ProbeConfig(**settings), transcripts)
