"""A training step reads device values on the host only where it must (GPU time is lost at every read).

``count_host_reads`` counts ``.item()``, ``.tolist()``, ``bool()``, ``float()``, ``int()`` and
``__index__`` on tensors. The budget of one step of the tiny DM-Codec (all three discriminators,
distillation, clipping, the official dead-code mode), documented here and in docs/gpu.md:

* 1: ``Trainer.train_step`` returns its scalars as floats, all in one ``.tolist()`` (``fit``
  reads them once per log step instead);
* ``n_q`` (3 here), on the CPU only: the official dead-code mode replays the official code's random
  draw when a code is dead, which needs to know *whether* one is (``plugins/quantizers/parity.py``);
  on an accelerator the replay is skipped, so there the budget is 1.
"""

from __future__ import annotations

import torch

from tokenizer_bench.core.training.host_sync import count_host_reads
from tokenizer_bench.plugins.recipes import _testing as _tiny

STEP_BUDGET = 1
N_Q = 3  # the tiny config's quantizer layers


def test_one_training_step_reads_the_device_once(tmp_path):
    trainer = _tiny.tiny_trainer(tmp_path, discriminator_warmup_steps=0, grad_clip=1.0)
    codebooks = trainer.tokenizer.generator.quantizer.codebooks
    assert len(codebooks) == N_Q and all(getattr(cb, "official_dead_codes", False) for cb in codebooks)
    batch = next(iter(trainer.data.loader(0)))
    trainer.train_step(batch)  # the first step runs the k-means init, which reads the device on purpose
    with count_host_reads() as reads:
        scalars = trainer.train_step(batch)
    replay = sum(n for (method, site), n in reads.sites.items() if site.startswith("parity.py"))
    assert replay == N_Q, reads.describe()  # CPU only (see the module docstring)
    assert reads.total - replay <= STEP_BUDGET, reads.describe()
    # and the step did log what it computes, as host floats
    assert isinstance(scalars["loss/discriminator"], float) and isinstance(scalars["grad_norm/generator"], float)
    assert isinstance(scalars["codebook/layer0_perplexity"], float)


def test_the_counter_sees_each_kind_of_read():
    t = torch.tensor([1.5])
    with count_host_reads() as reads:
        t.item(), t.tolist(), bool(t), float(t), int(t)
        [0, 1][torch.tensor(1)]
    assert reads.total == 6
    assert {m for m, _ in reads.sites} == {"item", "tolist", "__bool__", "__float__", "__int__", "__index__"}
    assert t.item() == 1.5 and torch.Tensor.item.__name__ == "item"  # restored after the block
