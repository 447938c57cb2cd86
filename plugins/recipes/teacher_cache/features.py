"""The teacher features of the training utterances, for the ``dm_codec_gan`` recipe's batches.

A missing part of the cache is built first (``build_teacher_cache``) on the main process, in a
child process, while the other processes wait; ``tokenizer-bench cache-teachers CONFIG`` does the
same ahead of time (e.g. on a GPU node before a multi-node run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from tokenizer_bench.core.errors import ConfigError, TokenizerBenchError
from tokenizer_bench.core.interfaces import FeatureSource

if TYPE_CHECKING:
    from tokenizer_bench.plugins.recipes.gan_distillation_config import GanDistillationConfig


def teacher_features(cfg: "GanDistillationConfig", utterances: list, hop_length: int, *, is_main: bool,
                     wait: Callable[[], None], say: Callable[[str], None]) -> FeatureSource:
    """The cached teacher features of ``utterances`` (built first where missing), as the trainer reads them."""
    cache, kept = open_feature_cache(cfg, utterances, hop_length, is_main=is_main, wait=wait, say=say)
    return FeatureSource(cache.load, cache.load_frames, kept)


def open_feature_cache(cfg: "GanDistillationConfig", utterances: list, hop_length: int, *, is_main: bool,
                       wait: Callable[[], None], say: Callable[[str], None]) -> tuple[Any, list]:
    """The teacher cache and the utterances it has features for.

    Missing features are computed first on the main process (``build_teacher_cache``; the other
    processes wait). Utterances the cache builder had to skip (unreadable audio, no transcript)
    are left out of training, counted and reported here; the cache report says why.
    """
    from tokenizer_bench.plugins.recipes.teacher_cache import store as tc

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
    from tokenizer_bench.core.config import validate
    from tokenizer_bench.core.train_config import TrainConfig

    from tokenizer_bench.plugins.recipes.teacher_cache import build as tc

    tc.build_teacher_cache(validate(cfg_data, TrainConfig), utterances, hop_length, progress=True)


def build_cache_isolated(cfg: "GanDistillationConfig", utterances: list, hop_length: int) -> None:
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
