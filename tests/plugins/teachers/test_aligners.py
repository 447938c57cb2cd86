"""Aligners on hand-worked examples (frames of 20 ms)."""

import pytest
import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces_teachers import TokenFeatures, Transcript
from tokenizer_bench.plugins.teachers.aligners import InterpolateAligner, TimestampAligner, word_frames
from tokenizer_bench.plugins.teachers.parity import PadAligner

H = 0.02  # seconds per frame


def tokens(spec):
    """spec: list of (token, (char_start, char_end) or None for special, feature list)."""
    feats = torch.tensor([f for _, _, f in spec], dtype=torch.float32)
    offsets = torch.tensor([span or (0, 0) for _, span, _ in spec], dtype=torch.long)
    special = torch.tensor([span is None for _, span, _ in spec])
    return TokenFeatures(feats, offsets, special, [t for t, _, _ in spec], "[UNK]")


# "hi there": hi = [0.02, 0.06) -> frames 1, 2; there = [0.10, 0.16) -> frames 5, 6, 7
TRANSCRIPT = Transcript.from_words([("hi", 0.02, 0.06), ("there", 0.10, 0.16)])
TOKENS = tokens(
    [
        ("[CLS]", None, [100.0, 100.0]),
        ("hi", (0, 2), [1.0, 0.0]),
        ("the", (3, 6), [0.0, 1.0]),
        ("##re", (6, 8), [0.0, 3.0]),
        ("[SEP]", None, [200.0, 200.0]),
    ]
)


def test_transcript_text_and_char_spans():
    assert TRANSCRIPT.text == "hi there"
    assert [(w.char_start, w.char_end) for w in TRANSCRIPT.words] == [(0, 2), (3, 8)]
    assert TOKENS.word_index(TRANSCRIPT).tolist() == [-1, 0, 1, 1, -1]


def test_timestamps_two_words_exact_frames():
    out = TimestampAligner()(TOKENS, TRANSCRIPT, num_frames=10, frame_seconds=H)
    expected = torch.zeros(10, 2)
    expected[1] = expected[2] = torch.tensor([1.0, 0.0])  # "hi" on both of its frames
    expected[5] = torch.tensor([0.0, 1.0])  # "the": frames [0, 3//2) of the word = frame 5
    expected[6] = expected[7] = torch.tensor([0.0, 3.0])  # "##re": frames [1, 3) of the word
    assert torch.equal(out.features, expected)
    assert out.mask.tolist() == [False, True, True, False, False, True, True, True, False, False]


def test_timestamps_more_tokens_than_frames_are_averaged():
    tr = Transcript.from_words([("there", 0.10, 0.12)])  # one frame (5)
    tk = tokens([("the", (0, 3), [0.0, 1.0]), ("##re", (3, 5), [0.0, 3.0])])
    out = TimestampAligner()(tk, tr, num_frames=8, frame_seconds=H)
    assert torch.equal(out.features[5], torch.tensor([0.0, 2.0]))
    assert out.mask.nonzero().flatten().tolist() == [5]


def test_timestamps_overlapping_words_average_on_shared_frames():
    tr = Transcript.from_words([("a", 0.00, 0.06), ("b", 0.04, 0.08)])  # frames 0-2 and 2-3
    tk = tokens([("a", (0, 1), [2.0]), ("b", (2, 3), [4.0])])
    out = TimestampAligner()(tk, tr, num_frames=5, frame_seconds=H)
    assert out.features.flatten().tolist() == [2.0, 2.0, 3.0, 4.0, 0.0]


def test_timestamps_fill_nearest():
    out = TimestampAligner(fill="nearest")(TOKENS, TRANSCRIPT, num_frames=10, frame_seconds=H)
    # frame 0 copies 1; 3 copies 2 (distance 1 vs 2 to frame 5); 4 copies 5; 8, 9 copy 7
    assert out.features[0].tolist() == [1.0, 0.0]
    assert out.features[3].tolist() == [1.0, 0.0]
    assert out.features[4].tolist() == [0.0, 1.0]
    assert out.features[9].tolist() == [0.0, 3.0]
    assert out.mask.sum() == 5  # the mask still marks only word frames
    with pytest.raises(ConfigError):
        TimestampAligner(fill="mean")


def test_word_frames_edges():
    assert list(word_frames(0.02, 0.06, 10, H)) == [1, 2]
    assert list(word_frames(0.03, 0.03, 10, H)) == [1]  # zero-length word: the frame holding it
    assert list(word_frames(0.15, 0.50, 10, H)) == [7, 8, 9]  # clamped at the end
    assert list(word_frames(0.30, 0.40, 10, H)) == []  # after the audio


def test_empty_transcript_gives_zero_features_and_empty_mask():
    tk = tokens([("[CLS]", None, [1.0, 1.0]), ("[SEP]", None, [2.0, 2.0])])
    out = TimestampAligner()(tk, Transcript.from_words([]), num_frames=4, frame_seconds=H)
    assert torch.equal(out.features, torch.zeros(4, 2)) and not out.mask.any()


def test_interpolate_stretches_tokens():
    out = InterpolateAligner()(TOKENS, TRANSCRIPT, num_frames=5, frame_seconds=H)
    # 3 non-special tokens over 5 frames: [0, 1), [1, 3), [3, 5)
    assert out.features[:, 1].tolist() == [0.0, 1.0, 1.0, 3.0, 3.0]
    assert out.features[:, 0].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert out.mask.all()


def test_interpolate_more_tokens_than_frames():
    tk = tokens([(str(i), (i, i + 1), [float(i)]) for i in range(4)])
    out = InterpolateAligner()(tk, Transcript.from_text("abcd"), num_frames=2, frame_seconds=H)
    assert out.features.flatten().tolist() == [0.5, 2.5]  # tokens 0,1 -> frame 0; 2,3 -> frame 1


def test_pad_puts_token_i_on_frame_i():
    out = PadAligner()(TOKENS, TRANSCRIPT, num_frames=7, frame_seconds=H)
    assert torch.equal(out.features[:5], TOKENS.features)
    assert torch.equal(out.features[5:], torch.zeros(2, 2))
    assert out.mask.tolist() == [True] * 5 + [False] * 2
    short = PadAligner()(TOKENS, TRANSCRIPT, num_frames=3, frame_seconds=H)
    assert torch.equal(short.features, TOKENS.features[:3]) and short.info["tokens_dropped"] == 2
    no_special = PadAligner(keep_special_tokens=False)(TOKENS, TRANSCRIPT, num_frames=4, frame_seconds=H)
    assert torch.equal(no_special.features[:3], TOKENS.features[1:4])


def test_registered_names():
    from tokenizer_bench.core.plugins import get_registry

    reg = get_registry("aligners")
    assert {"timestamps", "interpolate", "pad"} <= set(reg.names())
    assert reg.build("timestamps").needs_timings and not reg.build("pad").needs_timings
