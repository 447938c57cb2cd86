"""Corpus preparation and the demo corpus (the train/export commands run in test_trainer.py)."""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training.data import ensure_corpus

from tokenizer_bench.plugins.recipes import _testing as _tiny


def test_missing_data_without_a_recipe_is_a_clear_error(tmp_path):
    data = _tiny.tiny_config(tmp_path / "nowhere", tmp_path)
    with pytest.raises(ConfigError, match="not found.*data.download"):
        ensure_corpus(validate(data, TrainConfig), say=lambda s: None)


def test_demo_corpus_is_synthesised(tmp_path):
    pytest.importorskip("espeakng_loader")
    from tokenizer_bench.core.data import list_utterances
    from tokenizer_bench.core.data.demo_corpus import SENTENCES, build_demo_corpus

    root = build_demo_corpus(tmp_path / "demo", num_utterances=3, sample_rate=16000)
    utts = list_utterances([root])
    assert len(utts) == 3
    for u in utts:
        wav, sr = sf.read(u.path)
        assert sr == 16000 and 0.8 < len(wav) / sr < 8  # a spoken sentence
        assert np.abs(wav).max() > 0.05  # not silence
        assert u.text and u.text.split()[0].isupper()
    assert utts[0].text == " ".join(SENTENCES[0].upper().replace(".", "").split())
    assert (root / ".complete").is_file()
    mtime = utts[0].path.stat().st_mtime
    build_demo_corpus(root, num_utterances=3)  # complete: left as is
    assert utts[0].path.stat().st_mtime == mtime
