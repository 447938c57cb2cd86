"""``tokenizer-bench push`` and ``Tokenizer.push_to_hub`` against the local hub emulation.

A tiny dm_codec is trained for 4 steps (plugins/recipes/_testing.py, fake teacher cache) and its
export pushed; the emulation records exactly what the upload sent. The round trip must load back
by repo id with codes identical to the local export's. The card's numbers are checked against the
tiny config by hand: hop 4·4 = 16 samples at 16 kHz -> 1000 frames/s; 3 codebooks of 8 codes ->
1000 · 3 · log2(8) = 9000 bit/s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))
from _hub_emulation import HubEmulation, closed_port_endpoint, go_offline, point_hub_at  # noqa: E402

from tokenizer_bench.plugins.recipes import _testing as _tiny  # noqa: E402

CLI = str(Path(sys.executable).parent / "tokenizer-bench")
RESULTS_MD = "| system | WER | STOI |\n|---|---|---|\n| tiny | 99.0 | 0.123 |\n"


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory) -> Path:
    """A trained run's export (``<run>/tokenizer``, with ``<run>/config.yaml`` beside it)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tinyrun")
    summary = _tiny.tiny_trainer(root).fit()
    return Path(summary["export_dir"])


@pytest.fixture
def emu(monkeypatch, tmp_path):
    server = HubEmulation().start()
    point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf_home")
    yield server
    server.stop()


def _run_cli(args: list[str], env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TOKENIZER_BENCH_OFFLINE"))}
    env.update(env_extra)
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=240)


def _wav() -> torch.Tensor:
    return torch.randn(2, 1, 800, generator=torch.Generator().manual_seed(5)) * 0.1


def test_cli_push_then_load_by_repo_id(export_dir, emu, tmp_path, monkeypatch):
    results = tmp_path / "results.md"
    results.write_text("# compare\n\n" + RESULTS_MD)
    proc = _run_cli(["push", str(export_dir), "owner/tiny-dm", "--compare-results", str(results)],
                    {"HF_ENDPOINT": emu.endpoint, "HF_HOME": str(tmp_path / "pusher_home")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pushed" in proc.stdout and "owner/tiny-dm" in proc.stdout

    files = emu.files("owner/tiny-dm")
    # the export's weights hash travels with it, so a download can be checked (docs/cli_errors.md)
    assert sorted(files) == [".gitattributes", "README.md", "config.json", "model.safetensors", "weights_hash.json"]
    assert files["config.json"] == (export_dir / "config.json").read_bytes()
    assert files["model.safetensors"] == (export_dir / "model.safetensors").read_bytes()
    assert len(emu.commit_payloads) == 1  # one commit holds the export and its card
    card = files["README.md"].decode()
    assert card.startswith("---\n") and "library_name: tokenizer-bench" in card
    for row in ("| frame rate | 1000 Hz |", "| codebooks | 3 |", "| codebook size | 8 |",
                "| bitrate (all codebooks) | 9000 bit/s |", "| sample rate | 16000 Hz |"):
        assert row in card, row
    assert "- teachers.lm: lm_hf (fake-lm)" in card and "- teachers.sm: sm_hf (fake-sm)" in card  # recipe sections
    assert "corpus" in card and "max_steps: 4" in card  # training data and schedule of the run
    assert RESULTS_MD.strip() in card
    assert 'load_tokenizer("dm_codec", "owner/tiny-dm")' in card

    local = load_tokenizer("dm_codec", str(export_dir))
    remote = load_tokenizer("dm_codec", "owner/tiny-dm")
    assert torch.equal(remote.encode(_wav()), local.encode(_wav()))
    assert sorted(set(p.rsplit("/", 1)[-1] for p in emu.downloads())) == [
        ".gitattributes", "README.md", "config.json", "model.safetensors", "weights_hash.json"]  # the hash is checked
    n = len(emu.downloads())
    go_offline(monkeypatch)
    again = load_tokenizer("dm_codec", "owner/tiny-dm")  # offline: from the cache of the first load
    assert torch.equal(again.encode(_wav()), local.encode(_wav())) and len(emu.downloads()) == n


def test_push_to_hub_api_private_branch_round_trip(export_dir, emu):
    tok = load_tokenizer("dm_codec", str(export_dir))
    url = tok.push_to_hub("owner/api-dm", private=True, branch="dev", commit_message="first upload")
    assert url.startswith(emu.endpoint) and "/owner/api-dm/commit/" in url
    assert emu.repos["owner/api-dm"]["private"] is True
    assert "model.safetensors" not in emu.files("owner/api-dm", "main")  # only the branch got the commit
    assert {"config.json", "model.safetensors", "README.md"} <= set(emu.files("owner/api-dm", "dev"))
    header = emu.commit_payloads[-1][0]["value"]
    assert header["summary"] == "first upload"
    back = load_tokenizer("dm_codec", "owner/api-dm", revision="dev")
    from tokenizer_bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="applies to hub repo ids"):
        load_tokenizer("dm_codec", str(export_dir), revision="dev")
    assert torch.equal(back.encode(_wav()), tok.encode(_wav()))
    # no run config beside a save_pretrained folder: the card has the model, no training section
    assert "## Training" not in emu.files("owner/api-dm", "dev")["README.md"].decode()


def test_push_offline_or_unreachable_sends_nothing_and_says_why(export_dir, emu, tmp_path):
    proc = _run_cli(["--offline", "push", str(export_dir), "owner/x"],
                    {"HF_ENDPOINT": emu.endpoint, "HF_HOME": str(tmp_path / "h")})
    assert proc.returncode == 2 and "uploads are off" in proc.stderr and "Traceback" not in proc.stderr
    assert emu.requests == []
    t0 = time.monotonic()
    proc = _run_cli(["push", str(export_dir), "owner/x"],
                    {"HF_ENDPOINT": closed_port_endpoint(), "HF_HOME": str(tmp_path / "h")})
    assert proc.returncode == 2 and "unreachable" in proc.stderr and "nothing was uploaded" in proc.stderr
    assert time.monotonic() - t0 < 60  # process start included; the hub part is the 4 s probe at most


def test_push_refuses_bad_input(export_dir, emu, tmp_path):
    from tokenizer_bench.core.errors import CheckpointError, ConfigError
    from tokenizer_bench.core.publish import push_export

    with pytest.raises(CheckpointError, match="no config JSON"):
        push_export(tmp_path, "owner/x")
    with pytest.raises(ConfigError, match="expected owner/name"):
        push_export(export_dir, "not a repo")
    with pytest.raises(ConfigError, match="no such file"):
        push_export(export_dir, "owner/x", compare_results=tmp_path / "missing.md")
    assert emu.requests == []


def test_dm_codec_missing_repo_id_says_it_is_not_a_folder_either(emu):
    with pytest.raises(Exception, match="'owner/absent' is not a local folder either"):
        load_tokenizer("dm_codec", "owner/absent")


def test_card_of_a_tokenizer_without_repo_id_loading_shows_the_snapshot_form(emu, tmp_path):
    from tokenizer_bench.plugins.tokenizers.encodec import EncodecTokenizer

    assert not EncodecTokenizer.loads_pushed_repo_ids
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    tok = EncodecTokenizer(EncodecModel(EncodecConfig(num_filters=2, hidden_size=8, codebook_dim=8,
                                                      num_lstm_layers=1, num_residual_layers=1)))
    tok.push_to_hub("owner/enc")
    card = emu.files("owner/enc")["README.md"].decode()
    assert 'load_tokenizer("encodec", snapshot_download("owner/enc"))' in card
    # 24 kHz model, hop 320 -> 75 Hz; 6 kbps = 8 codebooks x 10 bits x 75 Hz
    assert "| frame rate | 75 Hz |" in card and "| bitrate (all codebooks) | 6000 bit/s |" in card
    from huggingface_hub import snapshot_download

    back = load_tokenizer("encodec", snapshot_download("owner/enc"))
    wav = _wav()
    assert torch.equal(back.encode(wav), tok.encode(wav))
    # a saved folder: its name comes from encodec_config.json (config.json is transformers')
    from tokenizer_bench.core.errors import CheckpointError
    from tokenizer_bench.core.publish import push_export

    tok.save_pretrained(tmp_path / "enc")
    push_export(tmp_path / "enc", "owner/enc2")
    assert "encodec_config.json" in emu.files("owner/enc2")
    (tmp_path / "enc" / "encodec_config.json").unlink()
    with pytest.raises(CheckpointError, match="--tokenizer NAME"):
        push_export(tmp_path / "enc", "owner/enc3")
    push_export(tmp_path / "enc", "owner/enc3", tokenizer_name="encodec")
