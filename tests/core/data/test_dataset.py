"""CropDataset / EpochSampler / collate: frame-aligned crops, masks, resampling, seeding, bad files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tokenizer_bench.core.data.dataset import BadItem, CropDataset, EpochSampler, collate, crop_frames
from tokenizer_bench.core.errors import ConfigError

HOP = 10


@dataclass
class Utt:
    id: str
    path: Path


def ramp_file(path: Path, n: int, sr: int = 1000, channels: int = 1) -> Path:
    """Sample k holds k/10000 (a ramp), so a crop's first sample tells where it started."""
    x = (np.arange(n) / 10000.0).astype(np.float32)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(path, data, sr, subtype="FLOAT")
    return path


def ramp_features(n_frames: int, dim: int = 3) -> dict[str, torch.Tensor]:
    """Frame f holds the value f in every dimension, so a crop's first row tells its frame."""
    f = torch.arange(n_frames, dtype=torch.float32)[:, None].repeat(1, dim)
    return {"lm": f, "lm_mask": torch.ones(n_frames, dtype=torch.bool)}


def make(tmp_path: Path, lengths: list[int], **kw) -> tuple[CropDataset, dict]:
    utts, feats = [], {}
    for i, n in enumerate(lengths):
        p = ramp_file(tmp_path / f"u{i}.wav", n)
        utts.append(Utt(f"u{i}", p))
        feats[f"u{i}"] = ramp_features(-(-n // HOP))
    opts = dict(sample_rate=1000, segment_samples=100, hop_length=HOP, features=feats.__getitem__,
                feature_keys=("lm",), seed=7)
    opts.update(kw)
    return CropDataset(utts, **opts), feats


def test_crop_starts_on_a_frame_and_features_line_up(tmp_path):
    ds, _ = make(tmp_path, [1000, 757])
    for epoch in range(5):
        ds.set_epoch(epoch)
        for i in range(2):
            item = ds[i]
            start = int(round(float(item["wav"][0, 0]) * 10000))
            assert start % HOP == 0  # crop starts on a codec frame
            # audio sample `start` is frame start/HOP; the feature crop begins at that frame
            assert float(item["lm"][0, 0]) == start // HOP
            assert item["wav"].shape == (1, 100) and item["lm"].shape == (10, 3)
            # the crop is contiguous audio: sample j of the crop is sample start+j of the file
            expect = (start + np.arange(100)) / 10000.0
            np.testing.assert_allclose(item["wav"][0].numpy(), expect, atol=1e-6)
            assert bool(item["wav_mask"].all()) and bool(item["lm_mask"].all())


def test_crops_cover_the_whole_range_and_stay_inside(tmp_path):
    ds, _ = make(tmp_path, [1000])
    starts = set()
    for epoch in range(300):
        ds.set_epoch(epoch)
        starts.add(int(round(float(ds[0]["wav"][0, 0]) * 10000)))
    # 1000 samples, 100-sample crops on a 10-sample grid: starts 0, 10, ..., 900 (91 choices)
    assert starts <= set(range(0, 901, 10))
    assert len(starts) > 60


def test_short_utterance_is_padded_with_masks(tmp_path):
    ds, _ = make(tmp_path, [43])
    item = ds[0]
    assert item["wav"].shape == (1, 100)
    assert item["wav_mask"].sum() == 43 and not item["wav_mask"][43:].any()
    assert float(item["wav"][0, 43:].abs().sum()) == 0.0
    # frames: ceil(43/10) = 5 frames hold audio; the cache has 5 frames too
    assert item["frame_mask"].tolist() == [True] * 5 + [False] * 5
    assert item["lm_mask"].tolist() == [True] * 5 + [False] * 5
    assert float(item["lm"][5:].abs().sum()) == 0.0


def test_teacher_mask_is_kept_and_anded_with_frames(tmp_path):
    ds, feats = make(tmp_path, [60], segment_samples=100)
    feats["u0"]["lm_mask"] = torch.tensor([True, False, True, True, False, True])
    item = ds[0]
    assert item["lm_mask"].tolist() == [True, False, True, True, False, True] + [False] * 4


def test_segment_rounded_down_to_whole_frames(tmp_path):
    ds, _ = make(tmp_path, [500], segment_samples=105)
    assert ds.segment_samples == 100 and ds.num_frames == 10
    with pytest.raises(ConfigError, match="shorter than one codec frame"):
        make(tmp_path, [500], segment_samples=5)


def test_same_seed_same_crops_other_epoch_other_crops(tmp_path):
    a, _ = make(tmp_path, [1000, 1000, 1000])
    b, _ = make(tmp_path, [1000, 1000, 1000])
    for ds in (a, b):
        ds.set_epoch(3)
    assert all(torch.equal(a[i]["wav"], b[i]["wav"]) for i in range(3))
    b.set_epoch(4)
    assert not all(torch.equal(a[i]["wav"], b[i]["wav"]) for i in range(3))
    c, _ = make(tmp_path, [1000, 1000, 1000], seed=8)
    c.set_epoch(3)
    assert not all(torch.equal(a[i]["wav"], c[i]["wav"]) for i in range(3))
    # the order of access does not matter (workers, resume): item 0 after items 2 and 1
    a.set_epoch(3)
    b.set_epoch(3)
    later = [a[i]["wav"] for i in (2, 1, 0)][-1]
    assert torch.equal(later, b[0]["wav"])


def test_resampling_and_mono_mixdown(tmp_path):
    # 2 channels at 2000 Hz: left = +0.5, right = -0.1 -> mono 0.2, resampled to 1000 Hz
    path = tmp_path / "st.wav"
    data = np.stack([np.full(4000, 0.5), np.full(4000, -0.1)], axis=1).astype(np.float32)
    sf.write(path, data, 2000, subtype="FLOAT")
    ds = CropDataset([Utt("st", path)], sample_rate=1000, segment_samples=100, hop_length=HOP)
    item = ds[0]
    assert item["wav"].shape == (1, 100)
    mid = item["wav"][0, 20:80]  # away from resampler edge effects
    np.testing.assert_allclose(mid.numpy(), 0.2, atol=1e-3)


def test_bad_files_are_reported_and_skipped(tmp_path):
    good = ramp_file(tmp_path / "good.wav", 500)
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not a flac file at all")
    feats = {"good": ramp_features(50), "bad": ramp_features(50), "nofeat": ramp_features(50)}
    utts = [Utt("good", good), Utt("bad", bad), Utt("gone", tmp_path / "missing.wav")]
    ds = CropDataset(utts, sample_rate=1000, segment_samples=100, hop_length=HOP,
                     features=feats.__getitem__, feature_keys=("lm",))
    items = [ds[i] for i in range(3)]
    assert isinstance(items[1], BadItem) and "bad.flac" in items[1].reason
    assert isinstance(items[2], BadItem) and items[2].id == "gone"  # missing audio
    batch = collate(items)
    assert batch["ids"] == ["good"] and batch["wav"].shape == (1, 1, 100)
    assert [s[0] for s in batch["skipped"]] == ["bad", "gone"]
    assert collate(items[1:])["wav"] is None


def test_missing_features_are_a_bad_item(tmp_path):
    good = ramp_file(tmp_path / "good.wav", 500)
    ds = CropDataset([Utt("good", good)], sample_rate=1000, segment_samples=100, hop_length=HOP,
                     features={}.__getitem__, feature_keys=("lm",))
    item = ds[0]
    assert isinstance(item, BadItem) and "teacher features" in item.reason


def test_crop_frames_pads_past_the_end():
    feat = torch.arange(12, dtype=torch.float16).reshape(6, 2)
    out, mask = crop_frames(feat, None, 4, 4)
    assert out.dtype == torch.float32
    assert out.tolist() == [[8, 9], [10, 11], [0, 0], [0, 0]]
    assert mask.tolist() == [True, True, False, False]


def test_epoch_sampler_shards_shuffles_and_resumes():
    s0 = EpochSampler(10, 2, seed=1, num_replicas=2, rank=0)
    s1 = EpochSampler(10, 2, seed=1, num_replicas=2, rank=1)
    for s in (s0, s1):
        s.set_epoch(0)
    b0, b1 = list(s0), list(s1)
    assert len(b0) == len(b1) == 2  # 10 items, global batch 4 -> 2 batches, 2 items dropped
    flat = [i for b in b0 + b1 for i in b]
    assert len(flat) == len(set(flat)) == 8  # disjoint shards
    s0.set_epoch(1)
    assert list(s0) != b0  # reshuffled per epoch
    s0.set_epoch(0, start_batch=1)
    assert list(s0) == b0[1:] and len(s0) == 1
    with pytest.raises(ConfigError, match="fewer than one batch"):
        EpochSampler(3, 2, num_replicas=2)


def crop_start(item: dict) -> int:
    """The first sample of a crop of a ramp file is its offset (sample k holds k/10000)."""
    return int(round(float(item["wav"][0, 0]) * 10000))


def test_fixed_crop_is_the_same_every_epoch_per_epoch_is_not(tmp_path):
    lengths = [1000] * 6
    fixed, _ = make(tmp_path, lengths, crop="fixed")
    fresh, _ = make(tmp_path, lengths)
    assert fresh.crop == "per_epoch"  # the default
    offsets = {"fixed": [], "per_epoch": []}
    for epoch in range(4):
        for name, ds in (("fixed", fixed), ("per_epoch", fresh)):
            ds.set_epoch(epoch)
            offsets[name].append([crop_start(ds[i]) for i in range(len(lengths))])
    assert all(o == offsets["fixed"][0] for o in offsets["fixed"])  # one crop per file, every epoch
    assert len(set(offsets["fixed"][0])) > 1  # ... but not the same crop for every file
    assert len({tuple(o) for o in offsets["per_epoch"]}) == 4  # a fresh crop every epoch
    # the teacher features are cropped at the same frame as the audio
    for i in range(len(lengths)):
        item = fixed[i]
        assert crop_start(item) % HOP == 0 and float(item["lm"][0, 0]) == crop_start(item) // HOP


def test_fixed_crop_depends_on_seed_and_file_not_on_position(tmp_path):
    a, _ = make(tmp_path, [1000] * 5, crop="fixed")
    starts = [crop_start(a[i]) for i in range(5)]
    # the same files in another order (another index, e.g. max_utterances or a new manifest): same crops
    b = CropDataset(list(reversed(a.utterances)), sample_rate=1000, segment_samples=100, hop_length=HOP,
                    seed=7, crop="fixed")
    assert [crop_start(b[i]) for i in range(5)] == starts[::-1]
    c, _ = make(tmp_path, [1000] * 5, crop="fixed", seed=8)
    assert [crop_start(c[i]) for i in range(5)] != starts
    # short files still start at 0 and are padded; validation crops (random_crop=False) start at 0
    d, _ = make(tmp_path, [60, 1000], crop="fixed", random_crop=False)
    assert crop_start(d[0]) == 0 and crop_start(d[1]) == 0
    with pytest.raises(ConfigError, match="data.crop"):
        make(tmp_path, [1000], crop="once")
