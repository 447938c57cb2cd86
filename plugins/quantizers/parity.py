"""The official SpeechTokenizer / DM-Codec RVQ's departures from the method, for parity runs.

The ``rvq`` quantizer selects these by its options; each is the official default so that a seeded
run matches the official code (checked to float precision, k-means init included, up to ties in
near-equal distances) and official checkpoints keep the state they were trained with. The method
itself is in :mod:`._codebook` and :mod:`.rvq`.

* ``dead_code_mode="official"``. The official code replaces codes whose EMA cluster size is
  below the threshold by random batch vectors, but then overwrites the whole codebook with
  ``embed_avg / cluster_size`` in the same step, so the replacement never survives: dead codes are
  kept, and the only effect of the replacement is its random draw on the RNG stream, which
  :class:`OfficialCodebook` makes too. ``"reset"`` (the method) makes the replacement stick. At
  small batches ``reset`` churns: with ``B*T`` vectors per step and ``K`` codes, EMA cluster sizes
  settle near ``B*T / K`` (0.9 at batch 6 x 3 s), below the threshold 2 for most codes.
* ``kmeans_ema_init="official"``. The official init sets ``embed_avg`` to the means themselves
  while ``cluster_size`` holds the cluster counts, so the first EMA step turns a code into roughly
  ``mean / count`` (empty clusters blow up by ~1e5 and stay unused). ``"weighted"`` (the method)
  stores ``mean * count``. In a 64-d simulation (1024 codes, 900 or 3600 vectors per step) the two
  differ only during the first few dozen steps.
* ``layer_output_gradient="official"``. With the official residual chain
  ``r_{i+1} = r_i - (r_i + sg(q_i - r_i))`` every layer output after the first has *zero*
  gradient with respect to the encoder latent, so distilling RVQ-8 or the RVQ-1:8 average would
  not train the encoder beyond RVQ-1. ``"encoder"`` (the default) gives each output the same
  values with an identity gradient to the latent.
"""

from __future__ import annotations

import torch

from tokenizer_bench.plugins.quantizers._codebook import EuclideanCodebook
from tokenizer_bench.plugins.quantizers._kmeans import initial_means


class OfficialCodebook(EuclideanCodebook):
    """A codebook with the official dead-code handling and/or EMA state after k-means."""

    def __init__(self, *, official_dead_codes: bool, official_kmeans_ema: bool, **kwargs) -> None:
        super().__init__(reset_dead_codes=not official_dead_codes, **kwargs)
        self.official_dead_codes = official_dead_codes
        self.official_kmeans_ema = official_kmeans_ema

    def ema_sums_after_kmeans(self, means: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return means if self.official_kmeans_ema else super().ema_sums_after_kmeans(means, counts)

    @torch.no_grad()
    def ema_update_(self, x: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        if self.official_dead_codes and self.threshold_ema_dead_code > 0 and x.device.type == "cpu":
            # the official replacement, overwritten by the update below: only its draw remains.
            # Replayed on the CPU only: on an accelerator deciding whether to draw reads a device
            # value (one host sync per layer and step) for nothing but the position of the device
            # RNG stream, which only the first step's k-means init of later layers reads.
            if bool((self.cluster_size < self.threshold_ema_dead_code).any()):
                initial_means(x, self.codebook_size)
        super().ema_update_(x, codes, weights)


def official_layer_output(q: torch.Tensor, q_out: torch.Tensor, path: torch.Tensor,
                          training: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The official per-layer output: the layer's straight-through tensor ``q_out`` itself."""
    return q_out, path
