"""Token-content probe: text handling and CTC decoding worked by hand, determinism under a seed,
a probe that learns when the features carry the characters, code embeddings of the tokenizers."""

from __future__ import annotations

import math

import pytest
import torch

from tokenizer_bench.benchmarks.harness import probe as P
from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import ConfigError, NotApplicableError

TINY_PROBE = dict(hidden=16, conv_layers=1, kernel_size=3, lstm_layers=0, batch_size=4, lr=1e-2)


def test_normalise_text_and_ids():
    assert P.normalise_text("Northanger  Abbey, well-known; it's 3 "
                            "o'clock.") == "NORTHANGER ABBEY WELL KNOWN IT'S O'CLOCK"
    assert P.text_to_ids("A B'") == [3, 1, 4, 2]  # blank=0, ' '=1, "'"=2, A=3, B=4
    assert P.ids_to_text([3, 0, 1, 4]) == "A B"


def test_greedy_ctc_collapses_repeats_and_blanks():
    # best path: A A blank A B B blank -> "AAB"  (a blank separates the two A's)
    path = [3, 3, 0, 3, 4, 4, 0]
    logits = torch.full((7, len(P.ALPHABET) + 1), -5.0)
    logits[torch.arange(7), torch.tensor(path)] = 0.0
    assert P.greedy_ctc(logits, 7) == "AAB"
    assert P.greedy_ctc(logits, 3) == "A"  # length limits the decoded frames


def _item(uid: str, speaker: str, text: str, informative: bool, gen: torch.Generator) -> P.ProbeItem:
    """Frames: each character held 3 frames then a gap; informative features one-hot the character."""
    ids = P.text_to_ids(text)
    frames = []
    for i in ids:
        frames += [i] * 3 + [0]
    x = torch.zeros(len(P.ALPHABET) + 1, len(frames))
    if informative:
        x[torch.tensor(frames), torch.arange(len(frames))] = 1.0
    x += 0.1 * torch.randn(x.shape, generator=gen)
    return P.ProbeItem(uid, speaker, x, text)


WORDS = ["CAT", "DOG", "BIRD", "FISH", "COW", "HEN", "PIG", "OWL"]


def _split(informative: bool, speakers: range, seed: int) -> list[P.ProbeItem]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in speakers:
        words = [WORDS[(s * 3 + k) % len(WORDS)] for k in range(3)]
        out.append(_item(f"{s}-1-0000", str(s), " ".join(words), informative, gen))
    return out


def test_probe_learns_informative_features_and_not_noise():
    cfg = P.ProbeConfig(steps=150, seed=0, **TINY_PROBE)
    good = P.train_and_score(_split(True, range(0, 24), 0), _split(True, range(100, 108), 1), cfg)
    noise = P.train_and_score(_split(False, range(0, 24), 0), _split(False, range(100, 108), 1), cfg)
    assert good.cer < 0.2
    assert noise.cer > 0.6
    lo, hi = good.ci95
    assert lo <= good.cer <= hi


def test_same_seed_same_cer_twice():
    cfg = P.ProbeConfig(steps=20, seed=3, **TINY_PROBE)
    train, test = _split(True, range(0, 12), 0), _split(True, range(100, 104), 1)
    a, b = P.train_and_score(train, test, cfg), P.train_and_score(train, test, cfg)
    assert a.cer == b.cer
    assert [p["hyp"] for p in a.per_utterance] == [p["hyp"] for p in b.per_utterance]
    assert a.final_loss == b.final_loss


def test_bilstm_probe_runs_and_is_deterministic():
    cfg = P.ProbeConfig(steps=5, seed=1, hidden=8, conv_layers=0, lstm_layers=1, batch_size=2)
    train, test = _split(True, range(0, 6), 0), _split(True, range(100, 102), 1)
    assert P.train_and_score(train, test, cfg).final_loss == P.train_and_score(train, test, cfg).final_loss


def test_shared_speakers_are_refused():
    with pytest.raises(ConfigError, match="share speaker"):
        P.train_and_score(_split(True, range(0, 4), 0), _split(True, range(3, 5), 1), P.ProbeConfig(steps=1))


def test_bootstrap_and_paired_difference_by_hand():
    a = [{"id": "u1", "errors": 2, "ref_chars": 10}, {"id": "u2", "errors": 2, "ref_chars": 10}]
    b = [{"id": "u1", "errors": 6, "ref_chars": 10}, {"id": "u2", "errors": 6, "ref_chars": 10}]
    assert P.bootstrap_ci(a) == pytest.approx((0.2, 0.2))  # every resample has CER 4/20
    d = P.paired_difference(a, b)
    assert d["diff"] == pytest.approx(-0.4) and d["ci95_high"] == pytest.approx(-0.4) and d["p_not_lower"] == 0.0
    with pytest.raises(ValueError, match="same utterances"):
        P.paired_difference(a, b[::-1])


def test_log_mel_frames_and_peak():
    sr, f0 = 16000, 1000.0
    wav = torch.sin(2 * math.pi * f0 * torch.arange(sr) / sr)
    mel = P.log_mel(wav, sr, frame_rate=50.0, n_mels=80)
    assert mel.shape == (80, sr // 320 + 1)  # centred STFT: N / hop + 1 frames
    # slaney mel: linear below 1 kHz at 200/3 Hz per mel; 80 filters over 0..8 kHz span 0..mel(8k)
    mel_8k = 15 + 27 * math.log(8000 / 1000) / math.log(6.4)
    centres_mel = torch.linspace(0, mel_8k, 82)[1:-1]
    expected = int(torch.argmin((centres_mel - 15.0).abs()))  # 1 kHz = 15 mel
    assert abs(int(mel[:, 10].argmax()) - expected) <= 1


# ---------------------------------------------------------------- code embeddings
def _tiny_dm_codec():
    tok = load_tokenizer("dm_codec", n_filters=2, dimension=16, semantic_dimension=None, codebook_size=32,
                         lstm_layers=0, bidirectional=False, n_q=3, seed=0)
    wav = 0.1 * torch.randn(1, 1, 3200, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tok.generator.quantizer.train()
        tok.generator.quantizer(tok.generator.encoder(wav))
        tok.generator.quantizer.eval()
    return tok, wav


def test_dm_codec_code_embeddings_are_codebook_rows():
    tok, wav = _tiny_dm_codec()
    codes = tok.encode(wav)
    emb = tok.code_embeddings(codes)
    b, q, t = codes.shape
    assert emb.shape == (b, q, 16, t)
    books = [layer._codebook.embed for layer in tok.generator.quantizer.vq.layers]
    for level in range(q):
        for frame in (0, t - 1):
            assert torch.equal(emb[0, level, :, frame], books[level][codes[0, level, frame]])
    # their sum is the quantized latent the decoder reads
    assert torch.allclose(emb.sum(1), tok.generator.quantizer.decode(codes), atol=1e-6)
    assert P.token_features(tok, wav[0, 0], "rvq1").shape == (16, t)
    with pytest.raises(ValueError):
        tok.code_embeddings(torch.full((1, 1, 2), 32))


def test_identity_is_not_applicable():
    tok = load_tokenizer("identity")
    codes = tok.encode(torch.zeros(1, 1, 320))
    with pytest.raises(NotApplicableError):
        tok.code_embeddings(codes)
    rows = P.run_probe_rows({"identity": tok}, [("1-1-0", "1", torch.zeros(320), "A")],
                            [("2-1-0", "2", torch.zeros(320), "A")], P.ProbeConfig(steps=1), reference=False)
    assert all(isinstance(v, str) and v.startswith("not applicable") for v in rows.values())


def test_speechtokenizer_random_init_has_code_embeddings():
    tok = load_tokenizer("speechtokenizer", random_init=True, n_filters=2, dimension=16, n_q=2, codebook_size=8,
                         lstm_layers=0, bidirectional=False, semantic_dimension=None, seed=0)
    codes = torch.zeros(1, 2, 4, dtype=torch.long)
    assert tok.code_embeddings(codes).shape == (1, 2, 16, 4)


def test_facodec_code_embeddings_sum_to_vq2emb():
    from tokenizer_bench.plugins.tokenizers.facodec import FACodecTokenizer

    enc = {"ngf": 2, "up_ratios": [2, 4, 5, 5], "out_channels": 8}
    dec = {"in_channels": 8, "upsample_initial_channel": 16, "up_ratios": [5, 5, 4, 2], "vq_dim": 8,
           "codebook_dim": 4, "timbre_hidden": 8, "timbre_filter_size": 16, "timbre_layers": 1, "timbre_heads": 2,
           "num_phone_classes": 5, "num_speaker_classes": 7}
    torch.manual_seed(0)
    tok = FACodecTokenizer.build(enc, dec)
    q = tok.num_codebooks
    codes = torch.randint(0, 2, (1, q, 5), generator=torch.Generator().manual_seed(0))
    emb = tok.code_embeddings(codes)
    assert emb.shape == (1, q, 8, 5)
    with torch.no_grad():
        assert torch.allclose(emb.sum(1), tok.decoder.vq2emb(codes.transpose(0, 1)), atol=1e-5)


def test_encodec_code_embeddings_are_codebook_rows():
    pytest.importorskip("transformers")
    from transformers import EncodecConfig, EncodecModel

    from tokenizer_bench.plugins.tokenizers.encodec import EncodecTokenizer

    torch.manual_seed(0)
    model = EncodecModel(EncodecConfig(num_filters=2, hidden_size=8, codebook_dim=8, num_lstm_layers=1,
                                       num_residual_layers=1))
    tok = EncodecTokenizer(model)
    codes = torch.randint(0, tok.codebook_size, (1, 2, 6), generator=torch.Generator().manual_seed(0))
    emb = tok.code_embeddings(codes)
    assert emb.shape == (1, 2, 8, 6)
    for level in range(2):
        book = model.quantizer.layers[level].codebook.embed
        assert torch.equal(emb[0, level, :, 3], book[codes[0, level, 3]])


# ---------------------------------------------------------------- a stronger probe: options
def test_spec_augment_masks_whole_spans_only_and_none_by_default():
    x = torch.ones(20, 50)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(P.spec_augment(x, P.ProbeConfig(), gen), x)
    cfg = P.ProbeConfig(time_masks=1, time_mask_frames=30, feature_masks=0)
    masked = [P.spec_augment(x, cfg, gen) for _ in range(50)]
    for m in masked:
        cols = m.sum(dim=0)
        assert set(cols.tolist()) <= {0.0, 20.0}  # a column is masked whole or not at all
        zero = torch.nonzero(cols == 0).flatten().tolist()
        assert len(zero) <= 30 and zero == list(range(zero[0], zero[0] + len(zero))) if zero else True
    assert any((m == 0).any() for m in masked) and torch.equal(x, torch.ones(20, 50))  # the input is untouched
    rows = P.spec_augment(x, P.ProbeConfig(feature_masks=2, feature_mask_dims=5), gen).sum(dim=1)
    assert set(rows.tolist()) <= {0.0, 50.0} and int((rows == 0).sum()) <= 10


def test_cosine_schedule_with_warm_up_by_hand():
    cfg = P.ProbeConfig(lr=1.0, steps=10, warmup_steps=2, lr_schedule="cosine")
    # warm-up: (step + 1) / 2; then 0.5 (1 + cos(pi (step - 2) / 8))
    expected = [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 8)), 0.5 * (1 + math.cos(math.pi / 4))]
    assert [P.learning_rate(cfg, s) for s in range(5)] == pytest.approx(expected)
    assert P.learning_rate(cfg, 6) == pytest.approx(0.5)
    assert P.learning_rate(P.ProbeConfig(lr=0.3), 7) == 0.3  # constant by default


def test_weighted_probe_starts_from_the_plain_average_of_its_codebooks():
    torch.manual_seed(0)
    cfg = P.ProbeConfig(**TINY_PROBE)
    grouped = P.CTCProbe(2 * 6, cfg, groups=2)
    plain = P.CTCProbe(6, cfg)
    plain.load_state_dict({k: v for k, v in grouped.state_dict().items() if k != "group_logits"})
    a, b = torch.randn(1, 6, 9), torch.randn(1, 6, 9)
    lengths = torch.tensor([9])
    assert grouped.group_weights().tolist() == [0.5, 0.5]
    assert torch.allclose(grouped(torch.cat([a, b], dim=1), lengths), plain((a + b) / 2, lengths), atol=1e-6)
    with pytest.raises(ValueError, match="groups"):
        P.CTCProbe(7, cfg, groups=2)


def test_weighted_probe_learns_to_weight_the_informative_codebook():
    # codebook 0 one-hots the characters, codebook 1 is noise: the learned weight moves to codebook 0
    def stacked(items, seed):
        gen = torch.Generator().manual_seed(seed)
        return [P.ProbeItem(i.id, i.speaker, torch.cat([i.features, torch.randn(i.features.shape, generator=gen)]),
                            i.text, groups=2) for i in items]

    cfg = P.ProbeConfig(steps=150, seed=0, **TINY_PROBE)
    train, test = stacked(_split(True, range(0, 24), 0), 5), stacked(_split(True, range(100, 108), 1), 6)
    res = P.train_and_score(train, test, cfg)
    w = res.extra["codebook_weights"]
    assert w[0] > w[1] and sum(w) == pytest.approx(1.0, abs=1e-3)


def test_token_features_weighted_and_concat_stack_the_codebooks():
    tok, wav = _tiny_dm_codec()
    emb = tok.code_embeddings(tok.encode(wav))[0]  # [Q, D, T]
    q, d, t = emb.shape
    weighted = P.token_features(tok, wav[0, 0], "weighted")
    assert torch.equal(weighted, emb)
    assert torch.equal(P.token_features(tok, wav[0, 0], "concat"), emb.reshape(q * d, t))
    (item,) = P.build_items([("1-1-0000", "1", wav[0, 0], "A")], lambda w: P.token_features(tok, w, "weighted"))
    assert item.groups == q and item.features.shape == (q * d, t)
    with pytest.raises(ConfigError, match="feature set"):
        P.token_features(tok, wav[0, 0], "mean")
