"""Training: the generic trainer on Accelerate (recipes do the step), checkpoints, logging, export and the CLI."""

from tokenizer_bench.core.training.trainer import Trainer, build_tokenizer, train

__all__ = ["Trainer", "build_tokenizer", "train"]
