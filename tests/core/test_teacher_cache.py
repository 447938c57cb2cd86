"""The teacher cache: build once with tiny teachers, read without any teacher, keys, resume, bad inputs."""

import json
import math
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tokenizer_bench import hookimpl
from tokenizer_bench.core import plugins
from tokenizer_bench.core.data import list_utterances
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.teacher_cache import TeacherCache, Transcript, build_teacher_cache
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.plugins.teachers._testing import make_tiny_bert, make_tiny_ctc, make_tiny_hubert


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

SR, HOP = 16000, 320


class FakeSTT:
    """Deterministic STT: "hello world" over the whole clip; silence -> nothing; peak 0.75 -> emoji/CJK."""

    role = "stt"
    sample_rate = SR
    built = 0

    def __init__(self, device: str = "auto") -> None:
        FakeSTT.built += 1

    def transcribe(self, wav):
        d = wav.shape[-1] / SR
        peak = float(wav.abs().max())
        if peak < 1e-4:
            return Transcript.from_words([], source="fake")
        if 0.7 < peak < 0.8:
            return Transcript.from_words([("hello", 0, d / 3), ("😀", d / 3, 2 * d / 3), ("猫", 2 * d / 3, d)])
        return Transcript.from_words([("hello", 0.0, d / 2), ("world", d / 2, d)], source="fake")

    def align(self, wav, text):
        tr = Transcript.from_text(text)
        d = wav.shape[-1] / SR
        for i, w in enumerate(tr.words):
            w.start, w.end = d * i / len(tr.words), d * (i + 1) / len(tr.words)
        return tr


@pytest.fixture(scope="module")
def fake_plugin():
    plugin = types.SimpleNamespace(register_teachers=hookimpl(lambda register: register("fake_stt", FakeSTT)))
    plugins.register_plugin(plugin, name="test-fake-stt")
    yield
    plugins.unregister_plugin(plugin)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"bert": make_tiny_bert(root / "bert"), "hubert": make_tiny_hubert(root / "hubert"), "ctc": make_tiny_ctc(root / "ctc")}


def write_corpus(folder, n_good=100):
    """n_good clips (0.2-0.43 s) incl. one silent and one 'emoji' clip, plus a corrupt and a too-short file."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = {}
    for i in range(n_good):
        n = 3200 + 37 * i
        t = np.arange(n) / SR
        wav = 0.5 * np.sin(2 * np.pi * (200 + 3 * i) * t)
        uid = f"utt{i:03d}"
        if i == 7:
            uid, wav = "silent", np.zeros(n)
        if i == 8:
            uid, wav = "emoji", 0.75 * np.sin(2 * np.pi * 300 * t)
        sf.write(folder / f"{uid}.wav", wav.astype(np.float32), SR, subtype="PCM_16")
        lengths[uid] = n
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really a wave file" * 5)
    sf.write(folder / "tiny.wav", np.full(100, 0.1, np.float32), SR, subtype="PCM_16")
    return lengths


def make_cfg(data, cache_dir, models, **teachers):
    t = {
        "stt": {"name": "fake_stt"},
        "lm": {"name": "lm_hf", "model": str(models["bert"])},
        "sm": {"name": "sm_hf", "model": str(models["hubert"])},
        "cache_dir": str(cache_dir),
        "device": "cpu",
    }
    t.update(teachers)
    return TrainConfig.model_validate(
        {
            "model": {
                "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
                "quantizer": {"name": "rvq"},
                "decoder": {"name": "seanet_decoder"},
            },
            "teachers": t,
            "data": {"train": [str(data)]},
        }
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory, fake_plugin, models):
    root = tmp_path_factory.mktemp("cache")
    lengths = write_corpus(root / "data")
    cfg = make_cfg(root / "data", root / "cache", models)
    utts = list_utterances(cfg.data.train)
    summary = build_teacher_cache(cfg, utts, HOP, progress=False)
    return cfg, utts, lengths, summary


def forbid_teachers(monkeypatch):
    """Any attempt to build a teacher or load a transformers model now fails."""
    import transformers

    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder
    from tokenizer_bench.plugins.teachers.sm import HFSpeechEncoder

    def boom(*a, **k):
        raise AssertionError("a teacher model was loaded")

    for cls in (HFTextEncoder, HFSpeechEncoder, FakeSTT):
        monkeypatch.setattr(cls, "__init__", boom)
    for name in ("AutoModel", "AutoTokenizer", "AutoFeatureExtractor"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", boom)


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


def test_read_back_without_loading_any_teacher(built, monkeypatch):
    cfg, utts, lengths, _ = built
    forbid_teachers(monkeypatch)
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


def test_cached_features_equal_the_teachers_output(built, models):
    from tokenizer_bench.plugins.teachers.aligners import TimestampAligner
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder
    from tokenizer_bench.plugins.teachers.sm import HFSpeechEncoder

    cfg, utts, lengths, _ = built
    n = lengths["utt042"]
    T = math.ceil(n / HOP)
    wav = torch.from_numpy(sf.read(next(u.path for u in utts if u.id == "utt042"), dtype="float32")[0])
    tr = FakeSTT().transcribe(wav)
    lm = TimestampAligner()(HFTextEncoder(str(models["bert"]), device="cpu").encode(tr.text), tr, T, HOP / SR).features
    sm = HFSpeechEncoder(str(models["hubert"]), device="cpu").encode(wav, T, HOP / SR)
    got = TeacherCache.open(cfg, HOP).load("utt042")
    for ref, cached in ((lm, got["lm"]), (sm, got["sm"])):
        rel = (cached - ref).abs().max() / ref.abs().max()
        assert rel < 1e-3  # float16 storage: relative error ~ 2^-11


def test_a_settings_change_never_reuses_stale_features(built, models, tmp_path):
    cfg, utts, _, _ = built
    base = TeacherCache.open(cfg, HOP)
    data = cfg.data.train[0]
    last = TeacherCache.open(make_cfg(data, cfg.teachers.cache_dir, models, lm={"name": "lm_hf", "model": str(models["bert"]), "layers": "last"}), HOP)
    assert last.plan.keys["lm"] != base.plan.keys["lm"]
    assert last.plan.keys["sm"] == base.plan.keys["sm"] and last.plan.keys["transcripts"] == base.plan.keys["transcripts"]
    assert len(last.missing(utts)) == len(utts)  # every LM file must be recomputed
    f32 = TeacherCache.open(make_cfg(data, cfg.teachers.cache_dir, models, cache_dtype="float32"), HOP)
    assert f32.plan.keys["sm"] != base.plan.keys["sm"] and f32.plan.keys["lm"] != base.plan.keys["lm"]
    assert TeacherCache.open(cfg, 240).plan.keys["sm"] != base.plan.keys["sm"]  # another hop length
    interp = make_cfg(data, cfg.teachers.cache_dir, models, aligner={"name": "interpolate"})
    assert TeacherCache.open(interp, HOP).plan.keys["lm"] != base.plan.keys["lm"]
    gpu = make_cfg(data, cfg.teachers.cache_dir, models, sm={"name": "sm_hf", "model": str(models["hubert"]), "device": "cuda"})
    assert TeacherCache.open(gpu, HOP).plan.keys == base.plan.keys  # the device does not change features


def test_resume_after_an_interruption(tmp_path, fake_plugin, models, monkeypatch):
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


def test_dataset_transcripts(tmp_path, fake_plugin, models):
    write_corpus(tmp_path / "data", n_good=4)
    (tmp_path / "data" / "utt000.txt").write_text("the cat sat")
    (tmp_path / "data" / "utt001.txt").write_text("hello")
    data = tmp_path / "data"
    cfg = make_cfg(data, tmp_path / "c1", models, stt=None, sm=None, transcripts="dataset", aligner={"name": "interpolate"})
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


def test_a_teacher_in_the_wrong_slot_is_a_config_error(tmp_path, fake_plugin, models):
    write_corpus(tmp_path / "data", n_good=1)
    cfg = make_cfg(tmp_path / "data", tmp_path / "c", models, lm={"name": "fake_stt"}, sm=None)
    with pytest.raises(ConfigError, match="not a 'lm' teacher"):
        build_teacher_cache(cfg, list_utterances(cfg.data.train), HOP, progress=False)


def test_cli_with_a_tiny_ctc_stt(tmp_path, models):
    import typer
    import yaml
    from typer.testing import CliRunner

    from tokenizer_bench.core.teacher_cache_cli import add_commands

    write_corpus(tmp_path / "data", n_good=4)
    config = {
        "model": {
            "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
            "quantizer": {"name": "rvq"},
            "decoder": {"name": "seanet_decoder"},
        },
        "teachers": {
            "stt": {"name": "stt_hf_ctc", "model": str(models["ctc"])},
            "lm": {"name": "lm_hf", "model": str(models["bert"])},
            "sm": None,
            "device": "cpu",
        },
        "data": {"train": str(tmp_path / "data")},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config))
    app = typer.Typer()
    add_commands(app)

    @app.command("noop")  # a second command keeps typer from collapsing the app into one command
    def _noop() -> None:
        pass

    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app,
        ["cache-teachers", str(tmp_path / "cfg.yaml"), "--limit", "5", "--no-progress", "--set", f"teachers.cache_dir={tmp_path / 'cache'}"],
    )
    assert result.exit_code == 0, result.output
    # sorted ids: corrupt, tiny, utt000, utt001, utt002
    assert "teacher cache" in result.output and "3 computed" in result.output and "2 skipped" in result.output
    assert len(list((tmp_path / "cache" / "lm").glob("*/*.safetensors"))) == 3
