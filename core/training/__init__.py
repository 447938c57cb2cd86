"""Training: the generic trainer on Accelerate (recipes do the step), checkpoints, logging, export and the CLI."""

from .trainer import Trainer, build_tokenizer, train

__all__ = ["Trainer", "build_tokenizer", "train"]
