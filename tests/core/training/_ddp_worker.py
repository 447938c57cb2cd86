"""Run under ``torchrun --nproc_per_node 2``: train the tiny config, then dump this rank's weights.

Usage: ``_ddp_worker.py CONFIG.yaml OUT_DIR``. Writes ``OUT_DIR/rank<R>.pt`` with the generator,
distillation and discriminator state dicts, the ids this rank trained on, and one tensor of the
generator before training (to show training changed it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tokenizer_bench.core.config import load_config
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer


def main() -> None:
    cfg_path, out_dir = sys.argv[1], Path(sys.argv[2])
    cfg = load_config(cfg_path, TrainConfig)
    trainer = Trainer(cfg, output_dir=out_dir / "run")
    gen = trainer.tokenizer.generator
    probe = next(k for k, v in gen.state_dict().items() if v.is_floating_point() and "weight" in k)
    init = gen.state_dict()[probe].clone()
    seen: list[str] = []
    original = trainer.recipe.micro_step

    def spy(trainer_, batch, sync, accum):
        seen.extend(batch["ids"])
        return original(trainer_, batch, sync, accum)

    trainer.recipe.micro_step = spy
    trainer.fit()
    rank = trainer.accelerator.process_index
    out_dir.mkdir(parents=True, exist_ok=True)
    modules = trainer.recipe.modules()
    torch.save(
        {
            "world_size": trainer.accelerator.num_processes,
            "mixed_precision": str(trainer.accelerator.mixed_precision),
            "broadcast_buffers": bool(getattr(trainer.prepared["g"], "broadcast_buffers", True)),
            "optimizer_steps": trainer.step,
            "ids": seen,
            "probe": probe,
            "generator_init": init,
            **{part: {k: v.detach().cpu() for k, v in modules[part].state_dict().items()}
               for part in ("generator", "distillation", "discriminators")},
        },
        out_dir / f"rank{rank}.pt",
    )


if __name__ == "__main__":
    main()
