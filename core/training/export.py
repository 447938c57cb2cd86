"""Export a training run (or one of its checkpoints) as a ``save_pretrained`` tokenizer folder.

The run folder holds ``config.yaml`` (the resolved config it was trained with) and
``checkpoints/step_*/``; the tokenizer is rebuilt from the config's ``model`` section, the
checkpoint's generator weights are loaded strictly, and the tokenizer's own ``save_pretrained``
writes the folder that ``load_tokenizer(<model.tokenizer>, checkpoint=OUT_DIR)`` reads.
"""

from __future__ import annotations

from pathlib import Path

from tokenizer_bench.core.config import validate
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.tokenizer import record_weights_hash
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import checkpoint as ckpt


def run_config(run_dir: str | Path) -> TrainConfig:
    import yaml

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no config.yaml; not a tokenizer-bench training run folder")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return validate(data, TrainConfig, main=str(path))


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint: str | Path | None = None,
               overwrite: bool = False) -> Path:
    """Write the tokenizer of ``checkpoint`` (default: the run's latest) to ``out_dir``.

    An ``out_dir`` that already holds files is refused unless ``overwrite``: replacing a tokenizer
    in place would make codes encoded with the old weights decode with the new ones.
    """
    from tokenizer_bench.core.io import check_output_folder
    from tokenizer_bench.core.training.trainer import build_tokenizer

    run_dir = Path(run_dir)
    check_output_folder(out_dir, "export", overwrite, refuse_any=True)
    cfg = run_config(run_dir)
    if checkpoint is None:
        found = ckpt.latest_checkpoint(run_dir)
        if found is None:
            raise CheckpointError(f"{run_dir}: no complete checkpoint under {ckpt.CHECKPOINT_DIR}/")
    else:
        found = Path(checkpoint)
        if not found.is_absolute() and not found.exists():
            found = run_dir / ckpt.CHECKPOINT_DIR / str(checkpoint)
    state = ckpt.load_trainer_state(found)
    tok = build_tokenizer(cfg)
    ckpt.load_module_state(tok.generator, state["generator"], "generator", found)
    tok.generator.eval()
    out = Path(out_dir)
    tok.save_pretrained(out)
    record_weights_hash(tok, out)
    return out
