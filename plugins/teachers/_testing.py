"""Tiny random-initialised teacher models saved to a folder (for tests and offline demos).

They have the real architectures (BERT, HuBERT, wav2vec2-CTC) and real tokenizers/feature
extractors, only a few dimensions wide, so the whole teacher pipeline runs in milliseconds
without any download. Their outputs mean nothing. :func:`write_test_corpus` writes a folder of
clips with the inputs a teacher cache must survive (silence, unknown characters, a corrupt and a
too-short file).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

WORDPIECE_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + ["hello", "world", "the", "cat", "sat", "on", "mat", "stuff", "it", "into", "you", "his", "belly"]
    + list(string.ascii_lowercase)
    + [f"##{c}" for c in string.ascii_lowercase]
    + list(".,'!?-")
)


def make_tiny_bert(folder: str | Path, hidden_size: int = 16, layers: int = 3, seed: int = 0) -> Path:
    """A 3-layer BERT with a WordPiece vocabulary of whole words, letters and ``##`` letters."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(WORDPIECE_VOCAB)}, do_lower_case=True)
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = BertConfig(
        vocab_size=len(WORDPIECE_VOCAB),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=64,
    )
    BertModel(cfg).save_pretrained(folder)
    return folder


def _audio_config_kwargs(hidden_size: int, layers: int) -> dict:
    return dict(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )


def _feature_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    )


def make_tiny_hubert(folder: str | Path, hidden_size: int = 12, layers: int = 2, seed: int = 0) -> Path:
    """A 2-layer HuBERT with the base model's convolutional front end (stride 320, field 400)."""
    import torch
    from transformers import HubertConfig, HubertModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    HubertModel(HubertConfig(**_audio_config_kwargs(hidden_size, layers))).save_pretrained(folder)
    _feature_extractor().save_pretrained(folder)
    return folder


CTC_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|"] + list(string.ascii_uppercase) + ["'"]


def make_tiny_ctc(folder: str | Path, hidden_size: int = 12, layers: int = 2, seed: int = 0) -> Path:
    """A 2-layer wav2vec2-CTC with the character vocabulary of wav2vec2-base-960h."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.json"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(CTC_VOCAB)}))
    Wav2Vec2CTCTokenizer(str(vocab_file)).save_pretrained(folder)
    _feature_extractor().save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = Wav2Vec2Config(vocab_size=len(CTC_VOCAB), pad_token_id=0, **_audio_config_kwargs(hidden_size, layers))
    Wav2Vec2ForCTC(cfg).save_pretrained(folder)
    return folder


def write_test_corpus(folder: str | Path, n_good: int = 100, sample_rate: int = 16000) -> dict[str, int]:
    """``n_good`` sine clips (0.2-0.43 s at 16 kHz) named ``utt000``..., one of them silent (``silent``)
    and one at peak 0.75 (``emoji``), plus ``corrupt.wav`` (not audio) and ``tiny.wav`` (100 samples).

    Returns the good clips' lengths in samples by utterance id.
    """
    import numpy as np
    import soundfile as sf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lengths = {}
    for i in range(n_good):
        n = 3200 + 37 * i
        t = np.arange(n) / sample_rate
        wav = 0.5 * np.sin(2 * np.pi * (200 + 3 * i) * t)
        uid = f"utt{i:03d}"
        if i == 7:
            uid, wav = "silent", np.zeros(n)
        if i == 8:
            uid, wav = "emoji", 0.75 * np.sin(2 * np.pi * 300 * t)
        sf.write(folder / f"{uid}.wav", wav.astype(np.float32), sample_rate, subtype="PCM_16")
        lengths[uid] = n
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really a wave file" * 5)
    sf.write(folder / "tiny.wav", np.full(100, 0.1, np.float32), sample_rate, subtype="PCM_16")
    return lengths
