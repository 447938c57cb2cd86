"""Training dataset: random fixed-length crops of utterances with the matching teacher-feature crops.

Why it looks like this:

* **Frame alignment.** Teacher features are cached at the codec frame rate (one vector per hop of
  audio). A crop therefore starts at a multiple of the hop, so audio sample ``start`` and feature
  frame ``start // hop`` describe the same instant and the crops line up frame for frame.
* **Reproducibility.** Every random choice of an item comes from a generator seeded with
  ``(seed, epoch, index)``: the crop of an item does not depend on the worker that loads it, on
  the order items are drawn, or on whether training was resumed in the middle of an epoch.
  ``crop="fixed"`` (the paper: every file cropped once before training) seeds with
  ``(seed, utterance id)`` instead, so a file keeps one crop for the whole run, wherever it sits
  in the list.
  :class:`EpochSampler` orders and shards items the same way from ``(seed, epoch)``.
* **Bad files do not stop training.** An unreadable item comes back as a :class:`BadItem`;
  :func:`collate` drops it and lists it in the batch so the trainer can report it by name and
  count it. A crash in the middle of an epoch of a multi-day run is never worth one corrupt file.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tokenizer_bench.core.audio import load_audio
from tokenizer_bench.core.errors import AudioError, ConfigError

FeatureLoader = Callable[[str], Mapping[str, torch.Tensor]]
#: ``(utt_id, start, length) -> {key: frames [start, start+length)}`` (``TeacherCache.load_frames``)
FrameLoader = Callable[[str, int, int], Mapping[str, torch.Tensor]]
CROP_MODES = ("per_epoch", "fixed")
_FIXED_TAG = 0x46495844  # keeps fixed-crop seeds apart from the (seed, epoch, index) ones


def utterance_key(utt_id: str) -> int:
    """A stable 64-bit integer of an utterance id (Python's ``hash`` of a str changes per process)."""
    return int.from_bytes(hashlib.sha256(str(utt_id).encode("utf-8")).digest()[:8], "little")


class UtteranceLike(Protocol):
    id: str
    path: Any


@dataclass(frozen=True)
class BadItem:
    """An item that could not be loaded; ``collate`` drops it and reports ``id`` and ``reason``."""

    id: str
    path: str
    reason: str


class CropDataset(Dataset):
    """Fixed-length crops of utterances at ``sample_rate``, with cropped teacher features.

    Args:
        utterances: objects with ``id`` and ``path`` (``core.data.corpus.Utterance``).
        sample_rate: model rate; audio is mixed to mono and resampled to it.
        segment_samples: crop length; rounded *down* to a multiple of ``hop_length``.
        hop_length: codec hop (samples per frame); crop starts are multiples of it.
        features: ``utt_id -> {"lm": [T,D], "lm_mask": [T], "sm": [T,D], ...}`` at the codec
            frame rate (``TeacherCache.load``), or None when nothing is distilled.
        feature_keys: which features to crop (e.g. ``("lm", "sm")``); each must be in ``features``.
        feature_frames: ``(utt_id, start, length) -> {key: frames [start, start+length)}``
            (``TeacherCache.load_frames``): reads only the crop's frames; used instead of
            ``features`` when given.
        seed: global seed; the crop of item ``i`` in epoch ``e`` is drawn from ``(seed, e, i)``.
        random_crop: False takes the first ``segment_samples`` (validation).
        crop: ``"per_epoch"`` (a fresh crop every epoch) or ``"fixed"`` (one crop per file, drawn
            from ``(seed, utterance id)``, the same in every epoch).

    An item is a dict: ``id``; ``wav [1,S]``; ``wav_mask [S]`` (True on real audio, False on
    padding); ``frame_mask [F]`` (frames with real audio, ``F = S / hop``); and per feature key
    ``k``: ``k [F,D]`` and ``k_mask [F]`` (frame has audio *and* a teacher value there).
    """

    def __init__(
        self,
        utterances: Sequence[UtteranceLike],
        *,
        sample_rate: int,
        segment_samples: int,
        hop_length: int,
        features: FeatureLoader | None = None,
        feature_keys: Sequence[str] = (),
        seed: int = 42,
        random_crop: bool = True,
        crop: str = "per_epoch",
        feature_frames: FrameLoader | None = None,
    ) -> None:
        if crop not in CROP_MODES:
            raise ConfigError(f"data.crop must be one of {', '.join(CROP_MODES)}, got {crop!r}")
        if hop_length < 1:
            raise ValueError(f"hop_length must be >= 1, got {hop_length}")
        frames = segment_samples // hop_length
        if frames < 1:
            raise ConfigError(
                f"data.segment_seconds gives {segment_samples} samples, shorter than one codec frame "
                f"({hop_length} samples)"
            )
        if feature_keys and features is None and feature_frames is None:
            raise ValueError(f"feature_keys {list(feature_keys)} given but no feature loader")
        self.utterances = list(utterances)
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.num_frames = frames
        self.segment_samples = frames * hop_length
        self.features = features
        self.feature_frames = feature_frames
        self.feature_keys = tuple(feature_keys)
        self.seed = int(seed)
        self.random_crop = bool(random_crop)
        self.crop = crop
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Crops of epoch ``epoch`` (call before iterating; workers are re-created per epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.utterances)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index``'s random choices: per epoch, or once per file (``fixed``)."""
        if self.crop == "fixed":
            return np.random.default_rng([self.seed, _FIXED_TAG, utterance_key(self.utterances[index].id)])
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def crop_start_frame(self, index: int, num_samples: int) -> int:
        """First frame of the crop of item ``index`` for an utterance of ``num_samples`` samples."""
        spare = (num_samples - self.segment_samples) // self.hop_length
        if spare <= 0 or not self.random_crop:
            return 0
        return int(self.rng(index).integers(0, spare + 1))

    def __getitem__(self, index: int) -> dict[str, Any] | BadItem:
        utt = self.utterances[index]
        uid, path = str(utt.id), str(utt.path)
        try:
            wav, _ = load_audio(path, self.sample_rate, mono=True)
        except AudioError as exc:
            return BadItem(uid, path, str(exc))
        wav = wav[0]
        n = int(wav.shape[-1])
        f0 = self.crop_start_frame(index, n)
        start = f0 * self.hop_length
        seg = wav[start : start + self.segment_samples]
        valid = int(seg.shape[-1])
        out_wav = torch.zeros(self.segment_samples, dtype=torch.float32)
        out_wav[:valid] = seg
        wav_mask = torch.zeros(self.segment_samples, dtype=torch.bool)
        wav_mask[:valid] = True
        valid_frames = math.ceil(valid / self.hop_length)
        frame_mask = torch.zeros(self.num_frames, dtype=torch.bool)
        frame_mask[:valid_frames] = True
        item: dict[str, Any] = {"id": uid, "wav": out_wav[None], "wav_mask": wav_mask, "frame_mask": frame_mask}
        if self.feature_keys:
            first = f0  # the row of the crop's first frame in what the loader returned
            feats: Mapping[str, torch.Tensor]
            try:
                if self.feature_frames is not None:
                    feats, first = self.feature_frames(uid, f0, self.num_frames), 0
                else:
                    feats = self.features(uid)  # type: ignore[misc]
            except Exception as exc:  # a truncated/corrupt cache file is reported like bad audio
                return BadItem(uid, path, f"teacher features unreadable: {exc}")
            for key in self.feature_keys:
                if key not in feats:
                    return BadItem(uid, path, f"teacher features have no {key!r} (have {sorted(feats)})")
                value, mask = crop_frames(
                    feats[key], feats.get(f"{key}_mask"), first, self.num_frames
                )
                item[key] = value
                item[f"{key}_mask"] = mask & frame_mask
        return item


def crop_frames(
    feature: torch.Tensor, mask: torch.Tensor | None, start: int, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames ``[start, start+length)`` of ``feature [T,D]`` (float32), zero-padded, with a validity mask."""
    if feature.dim() != 2:
        raise ValueError(f"teacher feature must be [T, D], got shape {tuple(feature.shape)}")
    t, d = feature.shape
    out = torch.zeros(length, d, dtype=torch.float32)
    out_mask = torch.zeros(length, dtype=torch.bool)
    piece = feature[start : start + length]
    k = int(piece.shape[0])
    if k > 0:
        out[:k] = piece.float()
        out_mask[:k] = True if mask is None else mask[start : start + k].bool()
    return out, out_mask


def collate(items: Sequence[dict[str, Any] | BadItem]) -> dict[str, Any]:
    """Stack good items; bad ones are listed under ``"skipped"`` as ``(id, path, reason)``.

    A batch whose items were all bad has ``"wav"`` None; the trainer skips it.
    """
    good = [it for it in items if not isinstance(it, BadItem)]
    bad = [(it.id, it.path, it.reason) for it in items if isinstance(it, BadItem)]
    batch: dict[str, Any] = {"skipped": bad, "ids": [it["id"] for it in good]}
    if not good:
        batch["wav"] = None
        return batch
    for key in good[0]:
        if key == "id":
            continue
        batch[key] = torch.stack([it[key] for it in good])
    return batch


class EpochSampler(Sampler[list[int]]):
    """Batches of indices for one epoch, shuffled from ``(seed, epoch)`` and sharded by rank.

    Every rank computes the same permutation, drops the tail that does not fill a *global* batch
    (``batch_size * num_replicas``), and takes every ``num_replicas``-th index from ``rank``.
    ``start_batch`` skips batches already trained on (resume in the middle of an epoch) without
    loading them.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        seed: int = 42,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if num_items < batch_size * num_replicas:
            raise ConfigError(
                f"the training set has {num_items} utterance(s), fewer than one batch across all "
                f"processes ({batch_size} x {num_replicas}); lower data.batch_size or add data"
            )
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    def batches_per_epoch(self) -> int:
        return self.num_items // (self.batch_size * self.num_replicas)

    def epoch_batches(self) -> list[list[int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.num_items)
        else:
            order = np.arange(self.num_items)
        global_bs = self.batch_size * self.num_replicas
        nb = self.batches_per_epoch()
        batches = []
        for b in range(nb):
            chunk = order[b * global_bs : (b + 1) * global_bs]
            mine = chunk[self.rank :: self.num_replicas]
            batches.append([int(i) for i in mine])
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches()[self.start_batch :]

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch() - self.start_batch)
