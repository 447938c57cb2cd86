"""Forward-pass pieces the HiFi-GAN-style discriminators share (MPD, MSD, MS-STFT)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_stack(
    x: torch.Tensor, convs: nn.ModuleList, conv_post: nn.Module, negative_slope: float
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The HiFi-GAN sub-discriminator body shared by MPD and MSD: LeakyReLU after every conv,
    every activation (and the post conv's output) kept as a feature map for feature matching."""
    fmap = []
    for conv in convs:
        x = F.leaky_relu(conv(x), negative_slope)
        fmap.append(x)
    x = conv_post(x)
    fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def run_each(discriminators: nn.ModuleList, wav: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Run every sub-discriminator on the same input; collect logits and feature maps in order."""
    logits, fmaps = [], []
    for d in discriminators:
        y, f = d(wav)
        logits.append(y)
        fmaps.append(f)
    return logits, fmaps
