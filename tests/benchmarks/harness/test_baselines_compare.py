"""``compare --baselines encodec,facodec,speechtokenizer`` on local random-init checkpoint folders."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.plugins.tokenizers.facodec import FACodecTokenizer


def _checkpoints(root):
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    enc = root / "encodec"
    EncodecModel(EncodecConfig(num_filters=2, hidden_size=8, codebook_dim=8, num_lstm_layers=1,
                               num_residual_layers=1)).save_pretrained(str(enc))
    st = load_tokenizer("speechtokenizer", random_init=True, seed=0, n_filters=2, dimension=16,
                        semantic_dimension=12, codebook_size=32, lstm_layers=1)
    st.generator.train()
    st.generator(torch.randn(1, 1, 6400))  # k-means initialises the codebooks from data
    st.generator.eval()
    st_dir = st.save_official(root / "speechtokenizer_hubert_avg")
    fa = FACodecTokenizer.build(
        {"ngf": 2, "up_ratios": [2, 4, 5, 5], "out_channels": 8},
        {"in_channels": 8, "upsample_initial_channel": 16, "up_ratios": [5, 5, 4, 2], "vq_dim": 8,
         "codebook_dim": 4, "timbre_hidden": 8, "timbre_filter_size": 16, "timbre_layers": 1,
         "timbre_heads": 2, "num_phone_classes": 5, "num_speaker_classes": 7},
    )
    fa_dir = root / "facodec"
    fa.save_pretrained(fa_dir)
    return enc, fa_dir, st_dir


def test_three_baselines_from_local_folders(fake_plugins, speech_set, tmp_path, harness_app):
    enc, fa, st = _checkpoints(tmp_path / "ckpt")
    out = tmp_path / "run"
    args = ["compare", "--baselines", f"encodec:{enc},facodec:{fa},speechtokenizer:{st}",
            "--data", str(speech_set), "--metrics", "stoi,si_sdr,bitrate", "--asr", "fake_asr",
            "--out", str(out), "--num-samples", "2", "--aso-iterations", "50", "--no-plots"]
    result = CliRunner().invoke(harness_app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    run = json.loads((out / "run.json").read_text())
    assert [s["label"] for s in run["systems"]] == ["encodec", "facodec", "speechtokenizer"]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    by_system = {}
    for r in records:
        by_system.setdefault(r.get("system"), []).append(r)
    for name in ("encodec", "facodec", "speechtokenizer"):
        assert len(by_system[name]) == 2, by_system.keys()
    table = (out / "results.md").read_text()
    assert "encodec" in table and "facodec" in table and "speechtokenizer" in table


def test_missing_checkpoint_stops_before_any_work(fake_plugins, speech_set, tmp_path, monkeypatch, harness_app):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    out = tmp_path / "run"
    result = CliRunner().invoke(harness_app, ["compare", "--baselines", "facodec", "--data", str(speech_set),
                                         "--metrics", "stoi", "--asr", "fake_asr", "--out", str(out)])
    assert result.exit_code != 0
    message = str(result.exception)
    assert "amphion/naturalspeech3_facodec" in message and "ns3_facodec_encoder.bin" in message
    assert not (out / "records.jsonl").exists()
