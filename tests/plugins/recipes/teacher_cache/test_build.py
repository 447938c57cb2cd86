"""Building the cache with tiny teachers: every outcome recorded, features equal the teachers', resume."""

import json
import math
from pathlib import Path

import pytest
import soundfile as sf
import torch

from tokenizer_bench.core.data import list_utterances
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache, num_codec_frames
from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

SR, HOP = 16000, 320


def test_num_codec_frames_counts_a_partial_last_frame():
    assert [num_codec_frames(n, 320) for n in (1, 319, 320, 321, 3200, 3201)] == [1, 1, 1, 2, 10, 11]


def test_summary_records_every_outcome(built):
    cfg, utts, lengths, summary = built
    assert summary.total == 102 and summary.computed == 100 and summary.reused == 0
    reasons = dict(summary.skipped)
    assert set(reasons) == {"corrupt", "tiny"}
    assert reasons["corrupt"].startswith("unreadable audio") and "corrupt.wav" in reasons["corrupt"]
    assert "too short: 100 samples" in reasons["tiny"]
    assert summary.empty_transcripts == ["silent"]
    assert summary.unk_tokens == {"emoji": 2}  # the tiny vocabulary has neither 😀 nor 猫
    assert summary.seconds_of_audio == pytest.approx(sum(lengths.values()) / SR)
    assert summary.bytes_on_disk > 0
    report = list((Path(cfg.teachers.cache_dir) / "reports").glob("*.json"))
    assert len(report) == 1 and json.loads(report[0].read_text())["skipped"][0][0] == "corrupt"


def test_cached_features_equal_the_teachers_output(built, models, fake_stt):
    from tokenizer_bench.plugins.teachers.aligners import TimestampAligner
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder
    from tokenizer_bench.plugins.teachers.sm import HFSpeechEncoder

    cfg, utts, lengths, _ = built
    n = lengths["utt042"]
    T = math.ceil(n / HOP)
    wav = torch.from_numpy(sf.read(next(u.path for u in utts if u.id == "utt042"), dtype="float32")[0])
    tr = fake_stt().transcribe(wav)
    lm = TimestampAligner()(HFTextEncoder(str(models["bert"]), device="cpu").encode(tr.text), tr, T, HOP / SR).features
    sm = HFSpeechEncoder(str(models["hubert"]), device="cpu").encode(wav, T, HOP / SR)
    got = TeacherCache.open(cfg, HOP).load("utt042")
    for ref, cached in ((lm, got["lm"]), (sm, got["sm"])):
        rel = (cached - ref).abs().max() / ref.abs().max()
        assert rel < 1e-3  # float16 storage: relative error ~ 2^-11


def test_resume_after_an_interruption(tmp_path, fake_plugin, models, monkeypatch, make_cfg, write_corpus):
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder

    write_corpus(tmp_path / "data", n_good=10)
    cfg = make_cfg(tmp_path / "data", tmp_path / "cache", models)
    utts = [u for u in list_utterances(cfg.data.train) if u.id not in ("corrupt", "tiny")]
    real_encode = HFTextEncoder.encode
    calls = []

    def flaky(self, text):
        calls.append(text)
        if len(calls) == 5:
            raise RuntimeError("power cut")
        return real_encode(self, text)

    monkeypatch.setattr(HFTextEncoder, "encode", flaky)
    with pytest.raises(RuntimeError, match="power cut") as info:
        build_teacher_cache(cfg, utts, HOP, progress=False)
    assert any(utts[4].id in note for note in getattr(info.value, "__notes__", [utts[4].id]))
    cache = TeacherCache.open(cfg, HOP)
    assert cache.missing(utts) == [u.id for u in utts[4:]]
    assert not list(cache.stores["lm"].dir.glob(".*.tmp"))  # no half-written files
    calls.clear()
    monkeypatch.setattr(HFTextEncoder, "encode", lambda self, text: (calls.append(text), real_encode(self, text))[1])
    summary = build_teacher_cache(cfg, utts, HOP, progress=False)
    assert summary.reused == 4 and summary.computed == 6 and len(calls) == 6
    assert cache.missing(utts) == []


def test_dataset_transcripts(tmp_path, fake_plugin, models, make_cfg, write_corpus):
    write_corpus(tmp_path / "data", n_good=4)
    (tmp_path / "data" / "utt000.txt").write_text("the cat sat")
    (tmp_path / "data" / "utt001.txt").write_text("hello")
    data = tmp_path / "data"
    cfg = make_cfg(data, tmp_path / "c1", models, stt=None, sm=None, transcripts="dataset",
                   aligner={"name": "interpolate"})
    utts = list_utterances(cfg.data.train)
    summary = build_teacher_cache(cfg, utts, HOP, progress=False)
    assert summary.computed == 2
    assert dict(summary.skipped)["utt002"] == "no transcript in the dataset (teachers.transcripts: dataset)"
    cache = TeacherCache.open(cfg, HOP)
    assert cache.enabled == ("lm",) and cache.transcript("utt000").text == "the cat sat"
    assert cache.load("utt000")["lm_mask"].all()  # interpolate covers every frame
    # timings for the dataset's words need an STT; the error says what to do
    with pytest.raises(ConfigError, match="needs word timings"):
        TeacherCache.open(make_cfg(data, tmp_path / "c2", models, stt=None, transcripts="dataset"), HOP)
    with pytest.raises(ConfigError, match="teachers.stt is not set"):
        TeacherCache.open(make_cfg(data, tmp_path / "c2", models, stt=None), HOP)
    # with an STT, the dataset's words are timed by it (FakeSTT.align spreads them evenly)
    timed = make_cfg(data, tmp_path / "c3", models, sm=None, transcripts="dataset")
    build_teacher_cache(timed, utts, HOP, progress=False)
    words = TeacherCache.open(timed, HOP).transcript("utt000").words
    assert [w.word for w in words] == ["the", "cat", "sat"] and words[1].start == pytest.approx(words[0].end)


def test_a_teacher_in_the_wrong_slot_is_a_config_error(tmp_path, fake_plugin, models, make_cfg, write_corpus):
    write_corpus(tmp_path / "data", n_good=1)
    cfg = make_cfg(tmp_path / "data", tmp_path / "c", models, lm={"name": "fake_stt"}, sm=None)
    with pytest.raises(ConfigError, match="not a 'lm' teacher"):
        build_teacher_cache(cfg, list_utterances(cfg.data.train), HOP, progress=False)
