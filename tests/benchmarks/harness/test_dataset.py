"""Evaluation sets and the seeded draw (procedure documented in benchmarks/harness/dataset.py)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tokenizer_bench.benchmarks.harness.dataset import (EvalUtterance, load_eval_set, read_utterance_list,
                                                        sample_utterances, write_utterance_list)
from tokenizer_bench.core.errors import ConfigError


def _utts(n):
    return [EvalUtterance(f"spk-{i:03d}", f"/x/{i}.flac", None) for i in range(n)]


def test_draw_is_the_k_smallest_sha256_keys_in_id_order():
    utts = _utts(50)
    got = sample_utterances(utts, 7, seed=42)
    keys = sorted((hashlib.sha256(f"42:{u.id}".encode()).hexdigest(), u.id) for u in utts)
    assert [u.id for u in got] == sorted(i for _, i in keys[:7])


def test_draw_is_reproducible_nested_and_seed_dependent():
    utts = _utts(100)
    a = sample_utterances(utts, 30, seed=42)
    assert a == sample_utterances(list(reversed(utts)), 30, seed=42)  # input order does not matter
    assert {u.id for u in sample_utterances(utts, 10, seed=42)} <= {u.id for u in a}
    assert a != sample_utterances(utts, 30, seed=43)
    assert sample_utterances(utts, None, seed=42) == utts


def test_too_many_samples_is_an_error():
    with pytest.raises(ConfigError, match="exceeds the 5 utterances"):
        sample_utterances(_utts(5), 6, seed=0)


def test_manifest_with_optional_text_and_list_roundtrip(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "b.wav").write_bytes(b"")
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "b.wav", "text": "HI"}) + "\n"
                                      + json.dumps({"path": "a.wav"}) + "\n")
    utts = load_eval_set([tmp_path / "m.jsonl"])
    assert [(u.id, u.text) for u in utts] == [("a", None), ("b", "HI")]
    write_utterance_list(tmp_path / "list.jsonl", utts)
    assert read_utterance_list(tmp_path / "list.jsonl") == utts


@pytest.mark.integration
def test_librispeech_folder(librispeech_mini):
    utts = load_eval_set([librispeech_mini / "test-other"])
    assert len(utts) == 100 and all(u.text for u in utts)
    assert len(sample_utterances(utts, 10, seed=42)) == 10
