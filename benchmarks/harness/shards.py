"""Scale-out: ``--shard i/N`` evaluates one of N disjoint utterance subsets; ``merge_runs`` joins them.

Why this shape: every (system, utterance) record is independent, so the cheapest correct way to use
several processes or GPUs is to split the *utterances* and join the *records*. No process talks to
another; a shard is an ordinary, resumable ``compare`` run folder, and the merged folder is rendered
by the same code as a single run, so its tables are the single run's tables.

- Shard ``i`` of ``N`` (0-based, ``0 <= i < N``) takes the utterances at positions ``i, i + N,
  i + 2N, ...`` of the drawn sample (id order), so shards are disjoint, cover the sample, and have
  sizes within one of each other whatever the utterance lengths.
- Each shard's ``run.json`` records ``shard = {index, count, total, sample_hash}`` where
  ``sample_hash`` identifies the whole drawn sample (ids in order). The merge refuses folders that
  drew different samples, ran different systems / metrics / ASR (different record keys), repeat or
  miss a shard index.
- The merge writes ``run.json`` (the first shard's, without ``shard``), the union of the utterance
  lists in sample order, every shard's records, their example audio, and the consistency checks
  (computed only by shard 0); then renders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.io import write_json_atomic

from tokenizer_bench.benchmarks.harness.dataset import (
    EvalUtterance,
    pick_examples,
    read_utterance_list,
    write_utterance_list,
)

#: configuration fields that may differ between shards (where and how fast, not what is computed)
_FREE_FIELDS = {"out", "shard", "device", "workers", "batch_size"}


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"i/N"`` -> ``(i, N)``; None when not sharding."""
    if value is None:
        return None
    idx, sep, count = str(value).partition("/")
    try:
        i, n = int(idx), int(count)
    except ValueError:
        raise ConfigError(f"--shard {value!r}: expected I/N with integers, e.g. 0/4") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {value!r}: expected I/N with 0 <= I < N (0-based), e.g. 0/4 ... 3/4")
    return i, n


def shard_utterances(utts: Sequence[EvalUtterance], shard: tuple[int, int] | None) -> list[EvalUtterance]:
    if shard is None:
        return list(utts)
    i, n = shard
    return [u for k, u in enumerate(utts) if k % n == i]


def sample_hash(utts: Sequence[EvalUtterance]) -> str:
    from tokenizer_bench.benchmarks.harness.systems import stable_hash

    return stable_hash([u.id for u in utts])


def shard_manifest(shard: tuple[int, int], all_utts: Sequence[EvalUtterance]) -> dict[str, Any]:
    return {"index": shard[0], "count": shard[1], "total": len(all_utts), "sample_hash": sample_hash(all_utts)}


def _load(folder: Path) -> dict[str, Any]:
    path = folder / "run.json"
    if not path.is_file():
        raise ConfigError(f"{path}: not found; --merge needs folders written by `compare --shard I/N`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None


def _comparable(run: dict[str, Any]) -> dict[str, Any]:
    cfg = {k: v for k, v in run.get("config", {}).items() if k not in _FREE_FIELDS}
    return {"config": cfg, "systems": [(s["label"], s["key"]) for s in run["systems"]],
            "ground_truth": run.get("ground_truth"), "metrics": sorted(run["metrics"])}


def merge_runs(folders: Sequence[str | Path], out: str | Path) -> Path:
    """Join the shard folders into ``out`` (created); ConfigError names the first inconsistency."""
    from tokenizer_bench.benchmarks.harness.records import RECORDS_NAME, RUN_NAME, UTTERANCES_NAME, RecordStore

    folders = [Path(f) for f in folders]
    if not folders:
        raise ConfigError("--merge needs at least one shard folder")
    out = Path(out)
    if any(f.resolve() == out.resolve() for f in folders):
        raise ConfigError(f"--out {out} is one of the shard folders; merge into a new folder")
    runs = [_load(f) for f in folders]
    first = runs[0]
    seen: dict[int, Path] = {}
    for f, run in zip(folders, runs):
        sh = run.get("shard")
        if not sh:
            raise ConfigError(f"{f}/run.json: not a shard (written without --shard I/N)")
        if (sh["count"], sh["sample_hash"]) != (first["shard"]["count"], first["shard"]["sample_hash"]):
            raise ConfigError(f"{f}: shard of another draw ({sh['count']} shards, sample {sh['sample_hash']}) than "
                              f"{folders[0]} ({first['shard']['count']} shards, sample "
                              f"{first['shard']['sample_hash']})")
        if _comparable(run) != _comparable(first):
            raise ConfigError(f"{f}: ran other systems, metrics, ASR or settings than {folders[0]}; "
                              "shards must come from the same command with only --shard/--out/--device changed")
        if sh["index"] in seen:
            raise ConfigError(f"{f}: shard {sh['index']} is also {seen[sh['index']]}")
        seen[sh["index"]] = f
    missing = sorted(set(range(first["shard"]["count"])) - set(seen))
    if missing:
        raise ConfigError(f"--merge: shard(s) {', '.join(map(str, missing))} of {first['shard']['count']} missing")

    utts: dict[str, EvalUtterance] = {}
    for f in folders:
        for u in read_utterance_list(f / UTTERANCES_NAME):
            utts[u.id] = u
    ordered = sorted(utts.values(), key=lambda u: u.id)  # the sample's order (dataset.sample_utterances)
    if len(ordered) != first["shard"]["total"] or sample_hash(ordered) != first["shard"]["sample_hash"]:
        raise ConfigError(f"--merge: the shards' utterance lists do not make up the drawn sample of "
                          f"{first['shard']['total']} utterances (got {len(ordered)})")
    out.mkdir(parents=True, exist_ok=True)
    store = RecordStore(out / RECORDS_NAME)
    if store.path.exists():
        store.path.unlink()  # a merge is rebuilt from the shards every time
    lines = []
    for f in folders:
        for rec in RecordStore(f / RECORDS_NAME).load().values():
            lines.append(json.dumps(rec, ensure_ascii=False, allow_nan=False) + "\n")
        if (f / "audio").is_dir():
            shutil.copytree(f / "audio", out / "audio", dirs_exist_ok=True)
    store.path.write_text("".join(lines), encoding="utf-8")
    from tokenizer_bench.benchmarks.harness.consistency import CONSISTENCY_NAME

    for f, run in zip(folders, runs):
        if run["shard"]["index"] == 0 and (f / CONSISTENCY_NAME).is_file():
            shutil.copyfile(f / CONSISTENCY_NAME, out / CONSISTENCY_NAME)
    merged = dict(first)
    merged["shard"] = None
    merged["merged_from"] = [str(seen[i]) for i in sorted(seen)]
    merged["num_utterances"] = len(ordered)
    merged["examples"] = pick_examples(ordered, int(first["config"].get("report_examples", 3)))
    merged["config"] = dict(first["config"], shard=None, out=str(out))
    write_utterance_list(out / UTTERANCES_NAME, ordered)
    write_json_atomic(out / RUN_NAME, merged)
    return out
