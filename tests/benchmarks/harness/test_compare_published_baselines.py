"""The issue-25 command: every baseline the harness knows, by hub id, in one compare.

``compare --baselines encodec,speechtokenizer,facodec,dac,mimi,xcodec,xcodec2,neucodec,snac
--tokenizers identity --data <librispeech-mini>/test-other --num-samples 4``: each baseline loads
its DEFAULT hub id, served by the local hub emulation with tiny random-init weights (FACodec's
published repo holds only the two weight files, so its released sizes are patched to the tiny ones
for the test). Cheap metrics (bitrate, STOI) keep it short; the table must have every row. Then
``--n-q 1,2,4,8`` on the multi-codebook baselines draws the rate-quality plot with a line (two or
more depths) per baseline.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from tokenizer_bench.core.api import load_tokenizer

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "plugins" / "tokenizers"))
from _hub_emulation import HubEmulation, point_hub_at  # noqa: E402
from _tiny_codecs import BUILDERS, build_all  # noqa: E402

BASELINES = ["encodec", "speechtokenizer", "facodec", "dac", "mimi", "xcodec", "xcodec2", "neucodec", "snac"]
FA_ENC = {"ngf": 2, "up_ratios": [2, 4, 5, 5], "out_channels": 8}
FA_DEC = {"in_channels": 8, "upsample_initial_channel": 16, "up_ratios": [5, 5, 4, 2], "vq_dim": 8,
          "codebook_dim": 4, "timbre_hidden": 8, "timbre_filter_size": 16, "timbre_layers": 1, "timbre_heads": 2,
          "num_phone_classes": 5, "num_speaker_classes": 7}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``{hub id: folder}`` of tiny models for all nine baselines, in their published layouts."""
    from transformers import EncodecConfig, EncodecModel

    from tokenizer_bench.plugins.tokenizers import encodec, facodec, speechtokenizer

    root = tmp_path_factory.mktemp("served")
    folders = {BUILDERS[n][0]: p for n, p in build_all(root).items()}
    torch.manual_seed(0)
    EncodecModel(EncodecConfig(num_filters=2, hidden_size=8, codebook_dim=8, num_lstm_layers=1,
                               num_residual_layers=1)).save_pretrained(str(root / "encodec"))
    folders[encodec.HUB_ID] = root / "encodec"
    st = load_tokenizer("speechtokenizer", random_init=True, seed=0, n_filters=2, dimension=16,
                        semantic_dimension=12, codebook_size=32, lstm_layers=1)
    st.save_official(root / "st" / speechtokenizer.DEFAULT_VARIANT, "SpeechTokenizer.pt")
    folders[speechtokenizer.DEFAULT_REPO] = root / "st"
    fa = facodec.FACodecTokenizer.build(FA_ENC, FA_DEC)
    fa.save_pretrained(root / "facodec")
    (root / "facodec" / facodec.CONFIG_FILE).unlink()  # the published repo: the two .bin files only
    folders[facodec.HUB_ID] = root / "facodec"
    return folders


@pytest.fixture
def emu(monkeypatch, tmp_path, served):
    from tokenizer_bench.plugins.tokenizers import facodec

    server = HubEmulation().start()
    point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf_home")
    for repo, folder in served.items():
        server.add_folder(repo, folder)
    monkeypatch.setattr(facodec, "RELEASED_ENCODER_ARGS", {**facodec.RELEASED_ENCODER_ARGS, **FA_ENC})
    monkeypatch.setattr(facodec, "RELEASED_DECODER_ARGS", {**facodec.RELEASED_DECODER_ARGS, **FA_DEC})
    yield server
    server.stop()


def _run(app: typer.Typer, args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)


def test_every_baseline_by_hub_id_in_one_table(emu, librispeech_mini, tmp_path, harness_app):
    out = tmp_path / "run"
    _run(harness_app, ["compare", "--baselines", ",".join(BASELINES), "--tokenizers", "identity",
          "--data", str(librispeech_mini / "test-other"), "--num-samples", "4", "--metrics", "bitrate,stoi",
          "--out", str(out), "--aso-iterations", "20", "--no-plots", "--report-examples", "0"])
    for repo in [BUILDERS[n][0] for n in BUILDERS]:
        assert any(p.startswith(f"/{repo}/resolve/") for p in emu.downloads()), repo  # first-use downloads
    res = json.loads((out / "results.json").read_text())
    assert list(res["rows"]) == BASELINES + ["identity"]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    errors = {(r.get("system"), m): e for r in records for m, e in r.get("metric_errors", {}).items()}
    assert not errors, errors
    for label, row in res["rows"].items():  # every codec ran on every utterance
        assert row["n_failed"] == 0 and row["metrics"]["bitrate"]["n"] == 4, (label, row["failures"], row["n_missing"],
                                                                          row["metrics"]["bitrate"]["exclusion_reasons"])
        stoi = row["metrics"]["stoi"]
        # random-init weights may give a degenerate waveform STOI refuses; then the reason is recorded
        assert stoi["n"] + stoi["excluded"] == 4 and (stoi["n"] == 4 or stoi["exclusion_reasons"]), (label, stoi)
    assert res["rows"]["identity"]["metrics"]["stoi"]["mean"] == pytest.approx(1.0)
    kbps = {label: row["metrics"]["bitrate"]["mean"] for label, row in res["rows"].items()}
    assert kbps["xcodec2"] == kbps["neucodec"] == 800.0  # 50 Hz x 16 bit
    assert kbps["dac"] == 6000.0 and kbps["mimi"] == 1100.0 and kbps["xcodec"] == 4000.0
    assert kbps["snac"] == pytest.approx(24000 / 512 * (1 / 4 + 1 / 2 + 1) * 12)  # 984 bit/s, streams at own rates
    table = (out / "results.md").read_text()
    for name in BASELINES:
        assert f"| {name} " in table


def test_depth_sweep_draws_a_line_per_multi_codebook_baseline(emu, librispeech_mini, tmp_path, harness_app):
    out = tmp_path / "sweep"
    multi = ["encodec", "speechtokenizer", "dac", "mimi", "xcodec", "snac"]
    _run(harness_app, ["compare", "--baselines", ",".join(multi), "--data", str(librispeech_mini / "test-other"),
          "--num-samples", "1", "--metrics", "bitrate,stoi", "--n-q", "1,2,4,8", "--out", str(out),
          "--aso-iterations", "20", "--report-examples", "0"])
    rows = json.loads((out / "results.json").read_text())["rows"]
    for name in multi:
        depths = [int(k.rsplit("=", 1)[1]) for k in rows if k.startswith(f"{name} @ n_q=")]
        assert len(depths) >= 2 and depths == sorted(depths), (name, depths)  # >= 2 points: a line
        rates = [rows[f"{name} @ n_q={d}"]["metrics"]["bitrate"]["mean"] for d in depths]
        assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert (out / "plots" / "rate_quality.png").stat().st_size > 10_000
