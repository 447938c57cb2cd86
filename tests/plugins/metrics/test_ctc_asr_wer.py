"""CTC-ASR WER next to Whisper: a HuBERT CTC checkpoint (the architecture of
facebook/hubert-large-ls960-ft, here tiny and random-init) loads through the ``hf_ctc`` backend as
``compare --asr hf_ctc --asr-option model=...`` builds it; its transcript is the greedy CTC
decoding worked out here from the model's logits, and the WER metric scores that transcript."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("jiwer")

from tokenizer_bench.benchmarks.harness.selection import build_asr, parse_options

VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("HELOWRD")}}


@pytest.fixture
def tiny_hubert_ctc(tmp_path):
    from transformers import (HubertConfig, HubertForCTC, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor,
                              Wav2Vec2Processor)

    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    tok = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), pad_token="<pad>", unk_token="<unk>",
                               word_delimiter_token="|")
    # hubert-large-ls960-ft's feature extractor normalises and returns an attention mask
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True, return_attention_mask=True)
    out = tmp_path / "hubert-ctc"
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(out)
    cfg = HubertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=16, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4),
                       num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0,
                       feat_extract_norm="layer", do_stable_layer_norm=True)
    torch.manual_seed(0)
    model = HubertForCTC(cfg).eval()
    with torch.no_grad():  # a large output layer: random frames argmax to varied letters
        model.lm_head.weight.mul_(50.0)
        model.lm_head.bias[VOCAB["<unk>"]] = -1e4  # never <unk>: its rendering is the tokenizer's business
    model.save_pretrained(out)
    return out, model


def _greedy_ctc(logits: torch.Tensor) -> str:
    inv = {i: c for c, i in VOCAB.items()}
    ids = logits.argmax(-1).tolist()
    collapsed = [i for k, i in enumerate(ids) if k == 0 or i != ids[k - 1]]
    chars = [inv[i] for i in collapsed if i != VOCAB["<pad>"]]
    return " ".join("".join(chars).replace("|", " ").split())


def test_hubert_ctc_through_hf_ctc_and_wer(tiny_hubert_ctc):
    folder, model = tiny_hubert_ctc
    asr = build_asr("hf_ctc", parse_options([f"model={folder}"], "--asr-option"))
    assert type(asr.model).__name__ == "HubertForCTC"
    assert asr.describe() == {"backend": "hf_ctc", "model": str(folder), "decoding": "greedy-ctc"}
    rng = np.random.default_rng(1)
    wav = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    (text,) = asr.transcribe([wav])
    norm = (wav - wav.mean()) / np.sqrt(wav.var() + 1e-7)
    with torch.no_grad():
        logits = model(torch.from_numpy(norm)[None]).logits[0]
    assert " ".join(text.split()) == _greedy_ctc(logits)  # spacing is normalised before WER anyway
    assert text  # the scaled head gives a non-empty hypothesis

    from tokenizer_bench.core.plugins import get_registry

    wer = get_registry("metrics").build("wer")
    ref = "hello world"
    got = wer(reference_text=ref, transcript=text)
    import jiwer

    from tokenizer_bench.plugins.metrics.word_errors import normalise

    assert got == pytest.approx(100.0 * jiwer.wer(normalise(ref), normalise(text)))  # WER itself: test_word_errors.py
