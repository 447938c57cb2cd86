"""Everything between a config's ``data``/``teachers`` sections and the trainer's batches.

1. **Corpus on disk.** When ``data.train`` is missing: synthesise the demo corpus
   (``data.demo_corpus``) or download LibriSpeech (``data.download``); otherwise say what to do.
2. **Utterances.** ``list_utterances(data.train, data.format, data.max_utterances)``.
3. **Teacher features.** From the teacher cache only: the trainer never loads a teacher model
   itself. A missing part of the cache is built first (``build_teacher_cache``) on the main
   process, the other processes wait for it; ``tokenizer-bench cache-teachers CONFIG`` does the
   same ahead of time (e.g. on a GPU node before a multi-node run).
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

from ..data.dataset import CropDataset, EpochSampler, collate
from ..errors import ConfigError, TokenizerBenchError
from ..train_config import TrainConfig


def _ensure_demo_held_out(cfg: TrainConfig, say: Callable[[str], None]) -> None:
    demo = cfg.data.demo_corpus
    if demo is None or demo.held_out_dir is None:
        return
    from ..data.demo_corpus import build_demo_corpus, demo_corpus_complete

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
        from ..data.demo_corpus import build_demo_corpus

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
        from ..data.download import download_librispeech, subset_dir

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


def open_feature_cache(cfg: TrainConfig, utterances: list, hop_length: int, *, is_main: bool,
                       wait: Callable[[], None], say: Callable[[str], None]) -> tuple[Any, list]:
    """The teacher cache and the utterances it has features for.

    Missing features are computed first on the main process (``build_teacher_cache``; the other
    processes wait). Utterances the cache builder had to skip (unreadable audio, no transcript)
    are left out of training, counted and reported here; the cache report says why.
    """
    from ..teacher_cache import store as tc

    cache = tc.TeacherCache.open(cfg, hop_length)
    missing = set(cache.missing(utterances))
    if missing:
        if is_main:
            say(
                f"teacher cache incomplete ({len(missing)} of {len(utterances)} utterances): computing teacher "
                f"features into {cfg.teachers.cache_dir} (once; `tokenizer-bench cache-teachers` does this ahead)"
            )
            build_cache_isolated(cfg, [u for u in utterances if u.id in missing], hop_length)
        wait()
        cache = tc.TeacherCache.open(cfg, hop_length)
        missing = set(cache.missing(utterances))
    if missing:
        kept = [u for u in utterances if u.id not in missing]
        example = sorted(missing)[0]
        if not kept:
            raise ConfigError(
                f"teacher cache {cfg.teachers.cache_dir} has features for none of the {len(utterances)} utterances "
                f"(e.g. {example}); see the reports/ folder there for why they were skipped"
            )
        say(
            f"training without {len(missing)} utterance(s) that have no teacher features (e.g. {example}: "
            f"skipped by the cache builder, see {cfg.teachers.cache_dir}/reports/)"
        )
        utterances = kept
    return cache, utterances


def _cache_worker(cfg_data: dict, utterances: list, hop_length: int) -> None:
    from ..teacher_cache import build as tc
    from ..config import validate

    tc.build_teacher_cache(validate(cfg_data, TrainConfig), utterances, hop_length, progress=True)


def build_cache_isolated(cfg: TrainConfig, utterances: list, hop_length: int) -> None:
    """Run the teacher models in a child process, so none of their state outlives the cache build.

    Loading the teachers in the training process would keep their weights in memory (GPU memory
    too) for the whole run, and their runtimes change process-wide settings (CTranslate2 resets
    torch's thread count), which made the following training steps several times slower.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_cache_worker, args=(cfg.model_dump(mode="json"), list(utterances), hop_length))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise TokenizerBenchError(
            f"building the teacher cache failed (child process exit code {proc.exitcode}; its error is printed "
            f"above). Run `tokenizer-bench cache-teachers CONFIG` to see it alone."
        )


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
) -> TrainData:
    """Corpus -> utterances -> teacher cache -> dataset, sampler and loader settings.

    ``feature_keys``: the teacher roles whose cached features every batch carries (the recipe's
    ``feature_roles``); ``features`` overrides the teacher cache with any ``utt_id -> {key: tensor}``
    loader (tests).
    """
    from ..data import list_utterances

    if is_main:
        ensure_corpus(cfg, say)
    wait()
    utts = list_utterances(cfg.data.train, cfg.data.format, cfg.data.max_utterances)
    keys = tuple(feature_keys)
    load = None
    frames = None
    if keys:
        if features is None:
            cache, utts = open_feature_cache(cfg, utts, hop_length, is_main=is_main, wait=wait, say=say)
            load, frames = cache.load, cache.load_frames
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
