"""The append-only record store (benchmarks/harness/records.py)."""

from __future__ import annotations

import json

import pytest

from tokenizer_bench.benchmarks.harness.records import RecordStore


def test_record_store_appends_durably_and_survives_a_cut_line(tmp_path):
    store = RecordStore(tmp_path / "r.jsonl")
    store.append({"system_key": "k", "utt_id": "a", "v": 1})
    store.append({"system_key": "k", "utt_id": "a", "v": 2})  # later line wins
    with open(tmp_path / "r.jsonl", "a") as fh:
        fh.write('{"system_key": "k", "utt_id": "b", "v"')  # crash mid-write
    loaded = store.load()
    assert loaded == {("k", "a"): {"system_key": "k", "utt_id": "a", "v": 2}} and store.skipped_lines == 1
    store.append({"system_key": "k", "utt_id": "b", "v": 3})
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert [json.loads(x)["v"] for x in lines] == [1, 2, 3]
    with pytest.raises(ValueError):
        store.append({"system_key": "k", "utt_id": "c", "v": float("nan")})  # JSON has no NaN
