"""Speech-to-text teachers: CTC word timings, forced alignment, timing transfer, PocketSphinx parsing."""

import numpy as np
import pytest
import torch

from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.core.interfaces_teachers import Transcript
from tokenizer_bench.plugins.teachers._words import transfer_timings
from tokenizer_bench.plugins.teachers.stt_ctc import ctc_runs, ctc_viterbi, runs_to_words
from tokenizer_bench.plugins.teachers.stt_pocketsphinx import clean_segments


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is ~100x faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

BLANK, A, B, BAR = 0, 1, 2, 3
ID_TO_TOKEN = {0: "<pad>", 1: "A", 2: "B", 3: "|"}


def test_ctc_runs_collapse_repeats_and_blanks():
    #        frame: 0  1  2  3      4  5  6  7  8
    path = [BLANK, A, A, BLANK, A, BAR, B, B, BLANK]
    assert ctc_runs(path, BLANK) == [(A, 1, 2), (A, 4, 4), (BAR, 5, 5), (B, 6, 7)]


def test_runs_to_words_times_from_frames():
    runs = [(A, 1, 2), (A, 4, 4), (BAR, 5, 5), (B, 6, 7)]
    words = runs_to_words(runs, ID_TO_TOKEN, "|", 0.02)
    # "AA" from frame 1 to the end of frame 4; "B" frames 6-7
    assert [(w, round(s, 6), round(e, 6)) for w, s, e in words] == [("AA", 0.02, 0.10), ("B", 0.12, 0.16)]


def lp(rows):
    p = np.asarray(rows, dtype=np.float64)
    return np.log(p / p.sum(axis=1, keepdims=True))


def test_ctc_viterbi_follows_the_evidence():
    probs = lp([[0.1, 0.8, 0.05, 0.05], [0.1, 0.8, 0.05, 0.05], [0.8, 0.1, 0.05, 0.05], [0.1, 0.05, 0.8, 0.05]])
    assert ctc_viterbi(probs, [A, B], BLANK) == [A, A, BLANK, B]


def test_ctc_viterbi_repeated_label_needs_a_blank():
    # argmax says A A A A, but "AA" needs a blank between the two A's: the least costly place is frame 2
    probs = lp([[0.01, 0.9, 0.05, 0.04], [0.01, 0.9, 0.05, 0.04], [0.3, 0.6, 0.05, 0.05], [0.01, 0.9, 0.05, 0.04]])
    assert ctc_viterbi(probs, [A, A], BLANK) == [A, A, BLANK, A]
    assert ctc_viterbi(probs[:2], [A, A], BLANK) is None  # two frames cannot spell A-blank-A


def test_transcript_from_whisper_style_pieces():
    tr = Transcript.from_words([("He", 0.0, 0.5), ("flower", 0.5, 0.9), ("-fattened", 0.9, 1.2)], ["", " ", ""])
    assert tr.text == "He flower-fattened"
    assert [(w.char_start, w.char_end) for w in tr.words] == [(0, 2), (3, 9), (9, 18)]
    assert tr.word_of_char(10) == 2 and tr.word_of_char(2) == -1
    assert Transcript.from_json(tr.to_json()) == tr


def test_transfer_timings_matches_substitutes_and_fills_gaps():
    hyp = Transcript.from_words([("the", 0.0, 0.2), ("cat", 0.2, 0.5), ("sad", 0.6, 1.0), ("down", 1.2, 1.4)])
    ref = transfer_timings("THE CAT SAT QUIETLY DOWN", hyp, "dataset")
    got = [(w.word, round(w.start, 6), round(w.end, 6)) for w in ref.words]
    # "sad" is replaced by "SAT QUIETLY": they share 0.6-1.0 in proportion 3:7 characters
    assert got == [("THE", 0.0, 0.2), ("CAT", 0.2, 0.5), ("SAT", 0.6, 0.72), ("QUIETLY", 0.72, 1.0), ("DOWN", 1.2, 1.4)]
    assert "3/5" in ref.notes[-1]
    hyp = Transcript.from_words([("the", 0.0, 0.2), ("cat", 0.2, 0.5), ("down", 1.2, 1.4)])
    gap = transfer_timings("the cat sat down", hyp, "dataset")
    assert gap.words[2].start == 0.5 and gap.words[2].end == pytest.approx(1.2)  # a missed word fills the gap
    empty = transfer_timings("A B", Transcript.from_words([]), "dataset")
    assert [w.end for w in empty.words] == [0.0, 0.0] and empty.notes


def test_pocketsphinx_segments_are_cleaned():
    segs = [("<s>", 0, 11), ("<sil>", 12, 32), ("stuff", 33, 75), ("[NOISE]", 76, 80), ("read(2)", 81, 99),
            ("</s>", 100, 120)]
    assert clean_segments(segs, 100.0) == [("stuff", 0.33, 0.76), ("read", 0.81, 1.0)]


@pytest.fixture(scope="module")
def ctc_dir(tmp_path_factory):
    from tokenizer_bench.plugins.teachers._testing import make_tiny_ctc

    return make_tiny_ctc(tmp_path_factory.mktemp("ctc"))


def test_hf_ctc_transcribe_and_align_on_a_tiny_model(ctc_dir):
    from tokenizer_bench.plugins.teachers.stt_ctc import HFCTCTranscriber

    stt = HFCTCTranscriber(str(ctc_dir), device="cpu")
    assert stt.seconds_per_frame == 0.02
    wav = torch.randn(16000) * 0.1
    tr = stt.transcribe(wav)
    for w in tr.words:
        assert tr.text[w.char_start : w.char_end] == w.word
        assert 0.0 <= w.start < w.end <= 1.0 + 1e-9
    # the frames of the greedy path reproduce the words
    path = stt.log_probs(wav).argmax(-1).tolist()
    expected = runs_to_words(ctc_runs(path, 0), stt.id_to_token, "|", 0.02, stt.skip_ids)
    assert [(w.word, w.start, w.end) for w in tr.words] == [(w, s, e) for w, s, e in expected]
    al = stt.align(wav, "hello, world")
    assert [w.word for w in al.words] == ["hello,", "world"]
    assert 0.0 <= al.words[0].start < al.words[0].end <= al.words[1].start < al.words[1].end <= 1.0 + 1e-9
    assert any("not in the CTC vocabulary" in n for n in al.notes)  # the comma


def test_whisper_size_name_without_cache_is_missing_dependency():
    pytest.importorskip("faster_whisper")
    from tokenizer_bench.plugins.teachers.stt_whisper import FasterWhisperTranscriber

    with pytest.raises(MissingDependencyError, match="not available locally"):
        FasterWhisperTranscriber("no-such-whisper-size-xyz", device="cpu")


def test_registered_names():
    from tokenizer_bench.core.plugins import get_registry

    names = set(get_registry("teachers").names())
    assert {"stt_hf_ctc", "stt_faster_whisper", "stt_pocketsphinx", "lm_hf", "sm_hf"} <= names
