"""Everything between a config's ``data``/``teachers`` sections and the trainer's batches.

1. **Corpus on disk.** When ``data.train`` is missing: synthesise the demo corpus
   (``data.demo_corpus``) or download LibriSpeech (``data.download``); otherwise say what to do.
2. **Utterances.** ``list_utterances(data.train, data.format, data.max_utterances)``.
3. **Features.** When the recipe's batches carry per-frame features (its ``feature_roles``, e.g.
   DM-Codec's cached teacher features), the recipe opens their source (``open_features``: for
   DM-Codec, its teacher cache) and says which utterances have them; the trainer never loads a
   teacher model itself.
4. **Datasets and loaders.** :class:`~tokenizer_bench.core.data.dataset.CropDataset` with the
   cropped features (a fresh crop per epoch, or one per file with ``data.crop: fixed``),
   :class:`EpochSampler` for a seeded, sharded, resumable order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from tokenizer_bench.core.data.dataset import CropDataset, EpochSampler, collate
from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces import FeatureSource
from tokenizer_bench.core.train_config import TrainConfig


def _ensure_demo_held_out(cfg: TrainConfig, say: Callable[[str], None]) -> None:
    demo = cfg.data.demo_corpus
    if demo is None or demo.held_out_dir is None:
        return
    from tokenizer_bench.core.data.demo_corpus import build_demo_corpus, demo_corpus_complete

    if not demo_corpus_complete(demo.held_out_dir):
        say(f"demo held-out set absent: synthesising {demo.held_out_utterances} utterances into {demo.held_out_dir}")
        build_demo_corpus(demo.held_out_dir, num_utterances=demo.held_out_utterances,
                          sample_rate=cfg.model.sample_rate, seed=demo.seed, held_out=True)


def ensure_corpus(cfg: TrainConfig, say: Callable[[str], None] = print) -> None:
    """Create the training corpus when a config says how (demo synthesis or LibriSpeech download)."""
    _ensure_demo_held_out(cfg, say)
    missing = [p for p in cfg.data.train if not Path(p).expanduser().exists()]
    if not missing:
        return
    if cfg.data.demo_corpus is not None:
        from tokenizer_bench.core.data.demo_corpus import build_demo_corpus

        if len(cfg.data.train) != 1:
            raise ConfigError("data.demo_corpus needs exactly one data.train folder (where it is written)")
        say(f"demo corpus absent: synthesising {cfg.data.demo_corpus.num_utterances} utterances into {missing[0]}")
        build_demo_corpus(
            missing[0],
            num_utterances=cfg.data.demo_corpus.num_utterances,
            sample_rate=cfg.model.sample_rate,
            seed=cfg.data.demo_corpus.seed,
        )
        return
    if cfg.data.download is not None:
        from tokenizer_bench.core.data.download import download_librispeech, subset_dir

        dl = cfg.data.download
        say(f"downloading LibriSpeech {', '.join(dl.subsets)} from {dl.base_url} into {dl.root}")
        download_librispeech(
            dl.subsets, dl.root, base_url=dl.base_url, checksums=dl.checksums, keep_archive=dl.keep_archive
        )
        still = [p for p in cfg.data.train if not Path(p).expanduser().exists()]
        if still:
            where = ", ".join(str(subset_dir(dl.root, s)) for s in dl.subsets)
            raise ConfigError(f"data.train {still} still missing after the download (downloaded: {where})")
        return
    raise ConfigError(
        f"data.train source(s) not found: {', '.join(missing)}. Fix the path(s), or add a "
        "data.download section (LibriSpeech) and run `tokenizer-bench download CONFIG`."
    )


@dataclass
class TrainData:
    utterances: list
    dataset: CropDataset
    sampler: EpochSampler
    loader_kwargs: dict[str, Any]
    valid: CropDataset | None
    feature_dims: dict[str, int]

    def loader(self, epoch: int, start_batch: int = 0) -> DataLoader:
        """The loader of one epoch; crops and order depend on ``(seed, epoch)`` only (crops on
        ``(seed, utterance)`` alone with ``data.crop: fixed``)."""
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start_batch)
        return DataLoader(self.dataset, batch_sampler=self.sampler, **self.loader_kwargs)


def feature_dims(load: Callable[[str], dict], utterances: list, keys: tuple[str, ...]) -> dict[str, int]:
    """Sizes of the cached teacher features (read from the first utterance that has them)."""
    if not keys:
        return {}
    last_exc: Exception | None = None
    for utt in utterances[:8]:
        try:
            feats = load(utt.id)
        except Exception as exc:  # reported below if no utterance works
            last_exc = exc
            continue
        missing = [k for k in keys if k not in feats]
        if missing:
            raise ConfigError(
                f"teacher cache has no {missing} features for {utt.id} (the training losses need {list(keys)})")
        return {k: int(feats[k].shape[-1]) for k in keys}
    raise ConfigError(f"cannot read cached teacher features of the first utterances ({last_exc})")


def build_train_data(
    cfg: TrainConfig,
    *,
    hop_length: int,
    num_replicas: int,
    rank: int,
    is_main: bool,
    wait: Callable[[], None],
    say: Callable[[str], None],
    features: Any = None,
    feature_keys: tuple[str, ...] = (),
    open_features: Callable[..., FeatureSource] | None = None,
) -> TrainData:
    """Corpus -> utterances -> features -> dataset, sampler and loader settings.

    ``feature_keys``: the features every batch carries (the recipe's ``feature_roles``);
    ``open_features``: the recipe's source of them, called as ``open_features(utterances,
    hop_length, is_main=, wait=, say=)``; ``features`` overrides it with any ``utt_id -> {key:
    tensor}`` loader (tests).
    """
    from tokenizer_bench.core.data import list_utterances

    if is_main:
        ensure_corpus(cfg, say)
    wait()
    utts = list_utterances(cfg.data.train, cfg.data.format, cfg.data.max_utterances)
    keys = tuple(feature_keys)
    load = None
    frames = None
    if keys:
        if features is None:
            if open_features is None:
                raise ConfigError(f"the recipe's batches carry the features {', '.join(keys)} (its feature_roles) "
                                  "but the recipe has no open_features method to read them from")
            source = open_features(utts, hop_length, is_main=is_main, wait=wait, say=say)
            load, frames, utts = source.load, source.load_frames, source.utterances
        else:
            load = features
    dims = feature_dims(load, utts, keys) if load is not None else {}
    sr = cfg.model.sample_rate
    segment = int(round(cfg.data.segment_seconds * sr))
    common: dict[str, Any] = dict(sample_rate=sr, segment_samples=segment, hop_length=hop_length, seed=cfg.seed)
    dataset = CropDataset(utts, features=load, feature_keys=keys, random_crop=True, crop=cfg.data.crop,
                          feature_frames=frames, **common)
    sampler = EpochSampler(len(dataset), cfg.data.batch_size, seed=cfg.seed, num_replicas=num_replicas, rank=rank)
    loader_kwargs: dict[str, Any] = dict(
        collate_fn=collate,
        num_workers=cfg.data.num_workers,
        # A private generator: creating a loader must not consume the global torch RNG, or a
        # resumed run (which creates its loader at another moment) would diverge.
        generator=torch.Generator().manual_seed(cfg.seed),
        pin_memory=torch.cuda.is_available() and not cfg.trainer.cpu,
    )
    if cfg.data.num_workers > 0:
        loader_kwargs["persistent_workers"] = False
    valid = None
    if cfg.data.valid:
        vutts = list_utterances(cfg.data.valid, cfg.data.format, cfg.data.valid_utterances)
        valid = CropDataset(vutts, random_crop=False, **common)
    return TrainData(utts, dataset, sampler, loader_kwargs, valid, dims)
