"""WER / WIL by hand, Whisper normalisation, and the corpus-level (concatenated) score."""

from __future__ import annotations

import pytest

pytest.importorskip("jiwer")
pytest.importorskip("whisper_normalizer")

from tokenizer_bench.plugins.metrics.word_errors import WER, WIL, normalise


def test_hand_made_hypothesis():
    # ref: the cat sat on the mat (N=6); hyp: the cat sit on the mat today (P=7)
    # unique best alignment: sat->sit (S), +today (I); H=5, S=1, D=0, I=1
    # WER = (S+D+I)/N = 2/6; WIL = 1 - H^2/(N*P) = 1 - 25/42
    ref, hyp = "the cat sat on the mat", "the cat sit on the mat today"
    assert WER()(reference_text=ref, transcript=hyp) == pytest.approx(100 * 2 / 6)
    assert WIL()(reference_text=ref, transcript=hyp) == pytest.approx(100 * (1 - 25 / 42))
    # a deletion: ref a b c d, hyp a c d -> H=3, D=1: WER 1/4, WIL 1 - 9/(4*3)
    assert WER()(reference_text="a b c d", transcript="a c d") == pytest.approx(25.0)
    assert WIL()(reference_text="a b c d", transcript="a c d") == pytest.approx(25.0)


def test_normalisation_applies_to_both_sides():
    # LibriSpeech upper case without punctuation vs Whisper's cased, punctuated "Mr."
    assert normalise("Margaret said Mr. Hale, smiling.") == "margaret said mister hale smiling"
    assert WER()(reference_text="MARGARET SAID MISTER HALE "
                                "SMILING", transcript="Margaret said Mr. Hale, smiling.") == 0.0


def test_corpus_score_is_over_concatenated_sentences():
    refs = ["a b c d", "e f"]
    hyps = ["a x c d", "e f g"]
    # concatenated: ref "a b c d e f" (N=6), hyp "a x c d e f g": S=1, I=1 -> 2/6
    assert WER().corpus_score(refs, hyps) == pytest.approx(100 * 2 / 6)
    # which differs from the mean of the per-sentence rates (25 % and 50 %)
    per = [WER()(reference_text=r, transcript=h) for r, h in zip(refs, hyps)]
    assert sum(per) / 2 == pytest.approx(37.5)
    # WIL corpus: H=5, N=6, P=7 -> 1 - 25/42
    assert WIL().corpus_score(refs, hyps) == pytest.approx(100 * (1 - 25 / 42))


def test_empty_hypothesis_is_all_deletions():
    assert WER()(reference_text="one two three", transcript="") == pytest.approx(100.0)
    assert WIL()(reference_text="one two three", transcript="") == pytest.approx(100.0)


def test_missing_or_empty_reference_is_an_error():
    with pytest.raises(ValueError, match="no reference transcript"):
        WER()(reference_text=None, transcript="hello")
    with pytest.raises(ValueError, match="empty after normalisation"):
        WER()(reference_text="   ", transcript="hello")
