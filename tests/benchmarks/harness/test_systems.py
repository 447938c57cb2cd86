"""System specs (--tokenizers / --baselines) and loading them (benchmarks/harness/systems.py)."""

from __future__ import annotations

import pytest

from tokenizer_bench.benchmarks.harness.systems import SystemSpec, labels_for, load_systems, parse_systems
from tokenizer_bench.core.errors import ConfigError, UnknownComponentError


def test_system_syntax():
    specs = parse_systems("dm_codec:runs/a,identity", "encodec,facodec:/ckpt/fa", ["encodec=/ckpt/enc"])
    assert specs == [SystemSpec("encodec", "/ckpt/enc", True), SystemSpec("facodec", "/ckpt/fa", True),
                     SystemSpec("dm_codec", "runs/a"), SystemSpec("identity")]
    assert parse_systems("x:C:/win/path", None) == [SystemSpec("x", "C:/win/path")]  # split at the first ':'
    with pytest.raises(ConfigError, match="both inline"):
        parse_systems(None, "encodec:/a", ["encodec=/b"])
    with pytest.raises(ConfigError, match="not among --baselines"):
        parse_systems("a", None, ["encodec=/b"])
    with pytest.raises(ConfigError, match="nothing to compare"):
        parse_systems(None, " ")
    with pytest.raises(ConfigError, match="listed twice"):
        parse_systems("a,a", None)
    assert labels_for([SystemSpec("d", "runs/x"), SystemSpec("d", "runs/y")]) == ["d (x)", "d (y)"]


def test_load_systems_checks_names_and_n_q():
    with pytest.raises(UnknownComponentError, match="identty"):
        load_systems([SystemSpec("identty")])
    with pytest.raises(ConfigError, match="--n-q 4"):
        load_systems([SystemSpec("identity")], n_q=4)
    (s,) = load_systems([SystemSpec("identity")])
    assert s.info["bitrate"] == 256000.0 and not s.ranked  # identity is a sanity row
