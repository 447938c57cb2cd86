"""Hugging Face ASR backends on tiny random-init models built from configs (no hub), and the
user-facing errors for models that are not available."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.core.plugins import get_registry


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    from transformers import (WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                              WhisperProcessor, WhisperTokenizer)
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    d = tmp_path_factory.mktemp("whisper")
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|translate|>",
                "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    specials += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]  # timestamp tokens (long-form decoding)
    for s in specials:
        vocab[s] = len(vocab)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    eot = "<|endoftext|>"
    tok = WhisperTokenizer(str(d / "vocab.json"), str(d / "merges.txt"), unk_token=eot, bos_token=eot,
                           eos_token=eot, pad_token=eot, additional_special_tokens=specials[1:9])
    out = d / "model"
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(out)
    cfg = WhisperConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16,
                        num_mel_bins=80, max_source_positions=1500, max_target_positions=64,
                        decoder_start_token_id=vocab["<|startoftranscript|>"], eos_token_id=vocab[eot],
                        pad_token_id=vocab[eot], bos_token_id=vocab[eot])
    WhisperForConditionalGeneration(cfg).save_pretrained(out)
    gen = json.loads((out / "generation_config.json").read_text())
    gen.pop("_from_model_config", None)  # otherwise transformers rebuilds it from the model config
    gen.update(no_timestamps_token_id=vocab["<|notimestamps|>"], is_multilingual=False)
    (out / "generation_config.json").write_text(json.dumps(gen))
    return out


def test_hf_whisper_batches_and_long_form(tiny_whisper):
    asr = get_registry("asr_backends").build("hf_whisper", model=str(tiny_whisper), batch_size=2, max_new_tokens=4)
    rng = np.random.default_rng(0)
    wavs = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (8000, 16000, 12000)]
    texts = asr.transcribe(wavs)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert all("<|" not in t for t in texts)  # special tokens stripped
    # over 30 s: long-form decoding instead of truncation (needs timestamp tokens)
    long_texts = asr.transcribe([0.1 * rng.standard_normal(16000 * 31).astype(np.float32)])
    assert len(long_texts) == 1
    assert asr.describe()["model"] == str(tiny_whisper)


def test_hf_whisper_missing_models_say_what_to_do(tmp_path):
    reg = get_registry("asr_backends")
    with pytest.raises(MissingDependencyError, match="does not exist"):
        reg.build("hf_whisper", model=str(tmp_path / "nope"))
    with pytest.raises(MissingDependencyError, match="hf download openai/whisper-medium"):
        reg.build("hf_whisper", local_files_only=True)  # the paper's default, not in the local cache


def test_hf_ctc_tiny_model(tmp_path):
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("ABCDE")}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tok = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), pad_token="<pad>", unk_token="<unk>",
                               word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, return_attention_mask=False)
    out = tmp_path / "ctc"
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(out)
    cfg = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4),
                         num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(cfg).save_pretrained(out)
    asr = get_registry("asr_backends").build("hf_ctc", model=str(out))
    assert asr.batch_size == 1  # no attention mask: utterances run one by one (padding would change outputs)
    texts = asr.transcribe([np.zeros(4000, np.float32), 0.1 * np.ones(6000, np.float32)])
    assert len(texts) == 2 and all(set(t) <= set("ABCDE |") for t in texts)
    with pytest.raises(MissingDependencyError, match="not available locally"):
        get_registry("asr_backends").build("hf_ctc", local_files_only=True)
