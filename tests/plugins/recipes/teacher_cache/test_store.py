"""Reading the cache back: shapes, masks, metadata, misses, without loading any teacher; file names."""

import hashlib
import math

import pytest
import torch

from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache
from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache, file_stem

HOP = 320


def forbid_teachers(monkeypatch, fake_stt):
    """Any attempt to build a teacher or load a transformers model now fails."""
    import transformers

    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder
    from tokenizer_bench.plugins.teachers.sm import HFSpeechEncoder

    def boom(*a, **k):
        raise AssertionError("a teacher model was loaded")

    for cls in (HFTextEncoder, HFSpeechEncoder, fake_stt):
        monkeypatch.setattr(cls, "__init__", boom)
    for name in ("AutoModel", "AutoTokenizer", "AutoFeatureExtractor"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", boom)


def test_read_back_without_loading_any_teacher(built, monkeypatch, fake_stt):
    cfg, utts, lengths, _ = built
    forbid_teachers(monkeypatch, fake_stt)
    cache = TeacherCache.open(cfg, HOP)
    assert cache.enabled == ("lm", "sm")
    assert cache.missing(utts) == ["corrupt", "tiny"]
    for uid, n in lengths.items():
        feats = cache.load(uid)
        T = math.ceil(n / HOP)
        assert feats["lm"].shape == (T, 16) and feats["lm"].dtype == torch.float32
        assert feats["lm_mask"].shape == (T,) and feats["lm_mask"].dtype == torch.bool
        assert feats["sm"].shape == (T, 12)
        if uid == "silent":  # empty transcript: no LM features, mask all false; SM still there
            assert not feats["lm_mask"].any() and not feats["lm"].any() and torch.isfinite(feats["sm"]).all()
        else:  # the fake words cover the whole clip
            assert feats["lm_mask"].all()
    meta = cache.metadata("emoji")
    assert meta["transcript"]["text"] == "hello 😀 猫" and meta["lm"]["unk_tokens"] == 2
    with pytest.raises(KeyError, match="cache-teachers"):
        cache.load("corrupt")
    # a rerun finds everything done and builds no teacher
    again = build_teacher_cache(cfg, utts, HOP, progress=False)
    assert again.reused == 100 and again.computed == 0 and len(again.skipped) == 2
    assert again.empty_transcripts == ["silent"] and again.unk_tokens == {"emoji": 2}


def test_a_damaged_file_is_a_miss_naming_the_file(built, tmp_path):
    cfg, _, _, _ = built
    cache = TeacherCache.open(cfg, HOP)
    other = TeacherCache(tmp_path, cache.plan, cache.sample_rate, cache.hop_length)
    for name in other.enabled:
        other.stores[name].path("utt000").parent.mkdir(parents=True)
        other.stores[name].path("utt000").write_bytes(b"not safetensors")
    with pytest.raises(KeyError, match="unreadable cache file.*delete it"):
        other.load("utt000")


def test_file_stem_keeps_safe_ids_and_hashes_unsafe_ones():
    assert file_stem("1089-134686-0000") == "1089-134686-0000"
    assert file_stem("a/b c") == "a_b_c-" + hashlib.sha1(b"a/b c").hexdigest()[:10]
    assert file_stem(".hidden") == "hidden-" + hashlib.sha1(b".hidden").hexdigest()[:10]
    assert file_stem("///") == "utt-" + hashlib.sha1(b"///").hexdigest()[:10]


def test_load_frames_reads_the_rows_of_a_crop(tmp_path):
    """The sliced read equals the whole read cropped, in the stored dtype, short at the end."""
    from tokenizer_bench.core.config import validate
    from tokenizer_bench.core.train_config import TrainConfig
    from tokenizer_bench.plugins.recipes import _testing as _tiny

    corpus = _tiny.make_corpus(tmp_path, n=1, seconds=(0.2,))  # 3200 samples = 200 frames of 16
    cfg = validate(_tiny.tiny_config(corpus, tmp_path), TrainConfig)
    _tiny.write_fake_cache(cfg, corpus)
    cache = TeacherCache.open(cfg, _tiny.HOP)
    whole = cache.load("1-1-0000", dtype=torch.float16)
    assert whole["lm"].shape[0] == 200
    for start, length, rows in ((0, 7, 7), (50, 100, 100), (190, 25, 10), (200, 5, 0), (260, 5, 0)):
        part = cache.load_frames("1-1-0000", start, length)
        assert set(part) == set(whole) == {"lm", "lm_mask", "sm"}
        for k, v in part.items():
            assert v.dtype == (torch.bool if k == "lm_mask" else torch.float16)  # as stored: no cast
            assert v.shape[0] == rows
            assert torch.equal(v, whole[k][start : start + length])
    with pytest.raises(Exception, match="no cached LM"):
        cache.load_frames("nope", 0, 5)
