"""Codebook health: window histograms, perplexity/usage by hand, collapse warnings once per episode.

Unit tests on hand-made code sequences (perplexity of a uniform histogram over k codes is k, of a
single code 1), then the trainer: the logged ``codebook_window/*`` values against a histogram
recomputed here from the codes each step produced, and the collapse warning in a real run.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
import torch

from tokenizer_bench.core.training.codebook_health import (
    CodebookHealth,
    batch_histogram,
    layer_metrics,
    perplexity,
    usage,
)

from tokenizer_bench.plugins.recipes import _testing as _tiny

K = 16


def codes_of(*layers: list[int]) -> torch.Tensor:
    """codes [1, Q, T] from one list of codes per layer."""
    return torch.tensor([list(layers)], dtype=torch.int64)


def entropy_perplexity(values: list[int]) -> float:
    """exp(entropy) of the empirical distribution of ``values``, written out independently."""
    n = len(values)
    return math.exp(-sum(c / n * math.log(c / n) for c in Counter(values).values()))


def test_uniform_over_k_codes_has_perplexity_k_and_one_code_has_1():
    uniform = [0, 3, 5, 9, 11] * 4  # 5 codes, 4 times each
    single = [7] * 20
    hist = batch_histogram(codes_of(uniform, single), K)
    assert hist.shape == (2, K) and hist.dtype == torch.int64
    assert perplexity(hist[0]) == pytest.approx(5.0, rel=1e-12)
    assert perplexity(hist[1]) == pytest.approx(1.0, rel=1e-12)
    assert usage(hist[0]) == 5 / K and usage(hist[1]) == 1 / K
    m = layer_metrics(hist, prefix="x/")
    assert m == {"x/layer0_usage": 5 / K, "x/layer0_perplexity": pytest.approx(5.0),
                 "x/layer1_usage": 1 / K, "x/layer1_perplexity": pytest.approx(1.0)}


def test_skewed_histogram_matches_entropy_by_hand():
    seq = [2, 2, 2, 4]  # p = (3/4, 1/4)
    hist = batch_histogram(codes_of(seq), K)
    by_hand = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert perplexity(hist[0]) == pytest.approx(by_hand, rel=1e-12) == pytest.approx(entropy_perplexity(seq))
    assert math.isnan(perplexity(torch.zeros(K, dtype=torch.int64)))


def test_histogram_counts_per_layer_and_leaves_out_masked_frames():
    codes = torch.tensor([[[1, 2, 2, 15], [0, 0, 3, 3]],
                          [[5, 5, 5, 5], [9, 8, 7, 6]]])  # [B=2, Q=2, T=4]
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    hist = batch_histogram(codes, K, mask)
    for q in range(2):
        expect = Counter(int(codes[b, q, t]) for b in range(2) for t in range(4) if mask[b, t])
        assert {i: int(c) for i, c in enumerate(hist[q]) if c} == dict(expect)
    assert int(batch_histogram(codes, K).sum()) == 16
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        batch_histogram(codes, K, mask[:, :3])
    with pytest.raises((RuntimeError, IndexError)):
        batch_histogram(torch.full((1, 1, 2), K), K)  # a code outside the codebook is an error


def test_window_keeps_only_the_last_n_batches():
    h = CodebookHealth(K, window=2)
    assert h.total() is None and h.metrics() == {}
    h.update(codes_of([0] * 8))  # collapsed batch, about to drop out of the window
    h.update(codes_of([0, 1, 2, 3]))
    h.update(codes_of([4, 5, 6, 7]))
    assert h.filled == 2
    assert h.metrics()["layer0_perplexity"] == pytest.approx(8.0)  # uniform over the 8 codes of the window
    assert h.metrics()["layer0_usage"] == 8 / K
    h.update(codes_of([4, 4, 4, 4]))  # window = [4..7] + [4, 4, 4, 4]
    assert h.metrics()["layer0_perplexity"] == pytest.approx(entropy_perplexity([4, 5, 6, 7, 4, 4, 4, 4]))
    assert torch.equal(h.total()[0], batch_histogram(codes_of([4, 5, 6, 7, 4, 4, 4, 4]), K)[0])


def test_collapse_is_warned_once_per_episode_and_recovery_rearms():
    h = CodebookHealth(K, window=1, collapse_perplexity=2.0, collapse_usage=None)
    healthy = codes_of(list(range(8)), list(range(8)))
    collapsed = codes_of(list(range(8)), [3] * 7 + [4])  # layer 1: perplexity 1.46
    h.update(healthy)
    assert h.check() == []
    h.update(collapsed)
    first = h.check()
    assert len(first) == 1
    msg = first[0]
    ppl = entropy_perplexity([3] * 7 + [4])
    assert "layer 1" in msg and f"perplexity {ppl:.2f}" in msg and "usage 12.5%" in msg and "2 of 16 codes" in msg
    for hint in ("dead-code", "k-means", "commitment", "lr_generator"):
        assert hint in msg
    for _ in range(3):  # still collapsed: silent
        h.update(collapsed)
        assert h.check() == []
    h.update(healthy)
    (note,) = h.check()
    assert "layer 1 recovered" in note
    h.update(collapsed)
    assert len(h.check()) == 1  # a new episode is warned again


def test_usage_threshold_and_disabled_thresholds():
    few = codes_of([0, 1] * 50)  # perplexity 2 (not below 2), usage 2/16 = 12.5 %
    h = CodebookHealth(K, window=4, collapse_perplexity=2.0, collapse_usage=0.25)
    h.update(few)
    (msg,) = h.check()
    assert "usage 12.5%" in msg and "usage < 25.0%" in msg
    off = CodebookHealth(K, window=4, collapse_perplexity=None, collapse_usage=None)
    off.update(codes_of([0] * 10))
    assert off.check() == []


def test_state_dict_round_trip_and_size_changes():
    h = CodebookHealth(K, window=3)
    for seq in ([0, 1], [2, 2], [3, 4], [5, 6]):
        h.update(codes_of(seq))
    st = h.state_dict()
    assert st["ring"].dtype == torch.int32 and st["ring"].shape == (3, 1, K)
    g = CodebookHealth(K, window=3)
    assert g.load_state_dict(st)
    assert torch.equal(g.total(), h.total()) and (g.pos, g.filled) == (h.pos, h.filled)
    g.update(codes_of([7, 7]))
    h.update(codes_of([7, 7]))
    assert torch.equal(g.total(), h.total())  # continues as if never interrupted
    # other ranks of a summed window restore the position only
    z = CodebookHealth(K, window=3)
    assert z.load_state_dict(st, counts=False) and int(z.total().sum()) == 0 and z.pos == h.pos - 1
    # a summed (reduced) state is what `reduce` returns
    doubled = h.state_dict(reduce=lambda t: 2 * t)
    assert torch.equal(doubled["ring"], 2 * h.state_dict()["ring"])
    # another window size: not restored, starts empty
    other = CodebookHealth(K, window=5)
    assert not other.load_state_dict(st) and other.total() is None
    assert CodebookHealth(K, window=3).load_state_dict(CodebookHealth(K, window=3).state_dict())


# --------------------------------------------------------------------------- in the trainer
def _spy_codes(trainer) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Record the codes (and frame masks) the trainer feeds the histogram at every batch."""
    seen: list = []
    health = trainer.codebook_health
    original = health.update

    def update(codes, mask=None):
        seen.append((codes.detach().clone(), None if mask is None else mask.clone()))
        original(codes, mask)

    health.update = update
    return seen


def test_trainer_logs_window_metrics_of_the_last_batches(tmp_path):
    trainer = _tiny.tiny_trainer(tmp_path, max_steps=5, checkpoint_every=100, codebook_window=3, log_every=1)
    seen = _spy_codes(trainer)
    trainer.fit()
    recs = [json.loads(line) for line in (trainer.run_dir / "metrics.jsonl").read_text().splitlines()]
    recs = {r["step"]: r for r in recs if "loss/mel" in r}
    assert len(seen) == 5 and sorted(recs) == [1, 2, 3, 4, 5]
    q = seen[0][0].shape[1]
    for step, rec in recs.items():
        window = seen[max(0, step - 3): step]
        for layer in range(q):
            values = [int(c[b, layer, t]) for c, m in window for b in range(c.shape[0]) for t in range(c.shape[2])
                      if m is None or bool(m[b, t])]
            want = entropy_perplexity(values)
            assert rec[f"codebook_window/layer{layer}_perplexity"] == pytest.approx(want, rel=1e-9)
            assert rec[f"codebook_window/layer{layer}_usage"] == len(set(values)) / trainer.codebook_size
    # the tiny corpus has utterances shorter than the crop: padding frames were left out
    assert any(m is not None and not bool(m.all()) for _, m in seen)


def test_trainer_warns_about_collapse_once_per_layer(tmp_path):
    # a threshold no 8-code codebook can reach: every layer is "collapsed" from the first log step on
    trainer = _tiny.tiny_trainer(tmp_path, max_steps=4, checkpoint_every=100, codebook_window=2,
                                 codebook_collapse_perplexity=100.0, log_every=1)
    said: list[str] = []
    trainer.say = said.append
    trainer.fit()
    warnings = [s for s in said if "codebook collapse" in s]
    assert sorted(int(s.split("quantizer layer ")[1].split(":")[0]) for s in warnings) == [0, 1, 2]
    # no window, no warning
    quiet = _tiny.tiny_trainer(tmp_path / "off", max_steps=2, checkpoint_every=100, codebook_window=0,
                               codebook_collapse_perplexity=100.0)
    said.clear()
    quiet.say = said.append
    quiet.fit()
    assert quiet.codebook_health is None and not [s for s in said if "codebook" in s]
    rec = json.loads((quiet.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert not [k for k in rec if k.startswith("codebook_window/")]
