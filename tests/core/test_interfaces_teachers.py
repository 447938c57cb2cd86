"""The teacher interface types: transcripts from timed words, character spans, token-to-word mapping."""

import torch

from tokenizer_bench.core.interfaces_teachers import TokenFeatures, Transcript, WordTiming


def test_from_words_builds_text_and_character_spans():
    tr = Transcript.from_words([("He", 0.0, 0.5), ("flower", 0.5, 0.9), ("fattened", 0.9, 0.8)], ["", " ", "-"])
    assert tr.text == "He flower-fattened"
    assert [(w.char_start, w.char_end) for w in tr.words] == [(0, 2), (3, 9), (10, 18)]
    assert tr.words[2].end == 0.9  # an end before the start is clamped to the start


def test_from_text_has_zero_timings_and_round_trips_through_json():
    tr = Transcript.from_text("the  cat sat")
    assert [(w.word, w.char_start, w.char_end, w.start, w.end) for w in tr.words] == [
        ("the", 0, 3, 0.0, 0.0), ("cat", 5, 8, 0.0, 0.0), ("sat", 9, 12, 0.0, 0.0)]
    assert Transcript.from_json(tr.to_json()) == tr


def test_word_of_char_and_token_word_index():
    tr = Transcript("ab cd", [WordTiming("ab", 0, 1, 0, 2), WordTiming("cd", 1, 2, 3, 5)])
    assert [tr.word_of_char(i) for i in range(6)] == [0, 0, -1, 1, 1, -1]
    tokens = TokenFeatures(torch.zeros(4, 2), torch.tensor([[0, 0], [0, 1], [3, 5], [0, 0]]),
                           torch.tensor([True, False, False, True]), ["[CLS]", "a", "cd", "[SEP]"], "[UNK]")
    assert tokens.word_index(tr).tolist() == [-1, 0, 1, -1] and tokens.unk_count == 0
