"""Training: the GAN trainer on Accelerate, checkpoints, logging, export and the train/export CLI."""

from .trainer import Trainer, build_tokenizer, train

__all__ = ["Trainer", "build_tokenizer", "train"]
