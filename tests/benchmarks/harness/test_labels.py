"""Row labels of compare: two trained runs' exports (both folders named ``tokenizer``) get
unique labels without renaming, ``@label`` sets one, collisions are an error showing @label."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tokenizer_bench.benchmarks.harness.labels import checkpoint_labels, split_label
from tokenizer_bench.benchmarks.harness.systems import SystemSpec, labels_for, parse_systems
from tokenizer_bench.core.errors import ConfigError


def test_two_run_exports_are_labelled_by_their_run_folder():
    specs = parse_systems("dm_codec:runs/a/tokenizer,dm_codec:runs/b/tokenizer", None)
    assert labels_for(specs) == ["dm_codec (a)", "dm_codec (b)"]


def test_shortest_distinguishing_tail():
    assert checkpoint_labels(["runs/x/best", "old/x/best"]) == ["runs", "old"]  # every shared tail dropped
    assert checkpoint_labels(["a/x", "b/y/x"]) == ["a", "y"]
    assert checkpoint_labels(["p/a/t", "q/a/t", "r/b/t"]) == ["p/a", "q/a", "r/b"]  # one depth for all
    assert checkpoint_labels(["runs/a/tokenizer", "runs/a/best"]) == ["tokenizer", "best"]
    assert checkpoint_labels(["owner/repo", "other/repo"]) == ["owner", "other"]
    assert checkpoint_labels(["runs/a/tokenizer"]) == ["tokenizer"]
    # the old rule is kept where it already told them apart
    assert labels_for([SystemSpec("d", "runs/x"), SystemSpec("d", "runs/y")]) == ["d (x)", "d (y)"]
    # a tokenizer listed once keeps its plain name, and one without a checkpoint too
    assert labels_for(parse_systems("dm_codec,dm_codec:runs/a/tokenizer,identity", None)) == [
        "dm_codec", "dm_codec (tokenizer)", "identity"]


def test_explicit_label_syntax():
    assert split_label("dm_codec:runs/a/tokenizer@big") == ("dm_codec:runs/a/tokenizer", "big")
    assert split_label("identity@sanity") == ("identity", "sanity")
    assert split_label("dm_codec:runs/exp@2/tokenizer") == ("dm_codec:runs/exp@2/tokenizer", None)  # a path
    specs = parse_systems("dm_codec:runs/a/tokenizer@big,dm_codec:runs/b/tokenizer", "encodec@EnCodec 24")
    assert specs[0] == SystemSpec("encodec", None, baseline=True, label="EnCodec 24")
    assert specs[1].checkpoint == "runs/a/tokenizer"
    assert labels_for(specs) == ["EnCodec 24", "big", "dm_codec"]  # the only unlabelled dm_codec row
    with pytest.raises(ConfigError, match="empty label"):
        parse_systems("dm_codec:runs/a@", None)


def test_colliding_labels_are_an_error_showing_the_label_syntax():
    with pytest.raises(ConfigError, match=r"share the row label 'x'.*name:checkpoint@label"):
        labels_for(parse_systems("dm_codec:runs/a@x,dm_codec:runs/b@x", None))
    with pytest.raises(ConfigError, match="reserved"):
        labels_for(parse_systems("dm_codec@Ground truth", None))


def test_compare_cli_gives_unique_labels_to_two_run_exports(tmp_path, speech_set):
    """The real `tokenizer-bench compare` on two runs' exports (identity stands in for dm_codec:
    labels depend only on the spec text; identity loads from a folder in milliseconds)."""
    for run in ("a", "b"):
        export = tmp_path / "runs" / run / "tokenizer"
        export.mkdir(parents=True)
        (export / "config.json").write_text(json.dumps({"name": "identity", "sample_rate": 16000}))
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_BENCH_DEBUG"}
    res = subprocess.run(
        [sys.executable, "-m", "tokenizer_bench.core.cli.app", "compare",
         "--tokenizers", "identity:runs/a/tokenizer,identity:runs/b/tokenizer", "--data", str(speech_set),
         "--metrics", "bitrate", "--num-samples", "2", "--out", "out", "--no-plots", "--aso-iterations", "10"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    labels = [s["label"] for s in json.loads((tmp_path / "out" / "run.json").read_text())["systems"]]
    assert labels == ["identity (a)", "identity (b)"]
