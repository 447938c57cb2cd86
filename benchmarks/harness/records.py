"""Per-utterance records: an append-only JSONL file that makes runs resumable.

Each line is one (system, utterance) result. A record is appended, flushed and fsynced as soon
as it is computed, so an interrupted run loses at most the utterance in flight; restarting
recomputes only (system, utterance) pairs without a complete record, and a finished run can be
re-rendered without recomputing anything.

Records are keyed by ``(system_key, utt_id)``. ``system_key`` is a hash of everything that
determines the result (tokenizer name, checkpoint fingerprint, ``n_q``, ASR settings), so a
changed configuration never reuses stale records. When a key appears twice, the later line wins.
A line cut short by a crash is dropped (and removed before the next append).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: The files of a compare run folder, named in one place (the runner writes them, shards merge them).
RECORDS_NAME = "records.jsonl"
RUN_NAME = "run.json"
UTTERANCES_NAME = "utterances.jsonl"


class RecordStore:
    """Append-only JSONL store of per-utterance records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.skipped_lines = 0

    def load(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Records by ``(system_key, utt_id)``; malformed lines are counted in :attr:`skipped_lines`."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        self.skipped_lines = 0
        if not self.path.exists():
            return out
        with open(self.path, "r", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    key = (rec["system_key"], rec["utt_id"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    self.skipped_lines += 1
                    continue
                out[key] = rec
        return out

    def _repair_tail(self) -> None:
        """Cut a trailing partial line (a crash mid-write) so the next append starts cleanly."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) == b"\n":
                return
            data = self.path.read_bytes()
            cut = data.rfind(b"\n") + 1  # 0 when the file holds a single partial line
            fh.truncate(cut)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Append one record durably (flush + fsync)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:  # pragma: no cover
        pass
    return str(obj)
