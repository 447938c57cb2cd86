"""fp16 loss scaling with gradient accumulation in the GAN step: the optimisers see the fp32 gradients.

A real ``torch.amp.GradScaler`` (it runs on the CPU in recent torch) is put into the trainer's
Accelerator the way Accelerate puts one there on a GPU (``accelerator.scaler``, each prepared
optimiser's ``scaler``). Autocast stays off, so the forward computes in fp32 exactly as the
unscaled reference run does: what differs is only the scaler's bookkeeping, scaling by a power of
two (exact in fp32) and unscaling. With accumulation 2 the discriminators step in the middle of the
generator's accumulation; before the fix their clip unscaled the generator's first micro-batch as
well and the scaler forgot it, so that part was divided by the scale twice.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from tokenizer_bench.plugins.recipes import _testing as _tiny

SCALE = 1024.0


def _fresh_accelerate_state() -> None:
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # one run in fp16 mode, one in fp32


def _gradients_of_one_step(root, mixed_precision: str, scaler: torch.amp.GradScaler | None) -> dict[str, list]:
    """One optimiser step of 2 micro-batches (D active from the start); the gradients each
    optimiser steps with, captured by step pre-hooks on the torch optimisers."""
    _fresh_accelerate_state()
    trainer = _tiny.tiny_trainer(root, max_steps=1, gradient_accumulation_steps=2, discriminator_warmup_steps=0,
                                 checkpoint_every=100, export=False, mixed_precision=mixed_precision)
    acc = trainer.accelerator
    if scaler is not None:
        assert acc.scaler is None  # Accelerate enables no scaler on a CPU: the test installs a real one
        acc.scaler, acc.native_amp = scaler, True
        acc.autocast = lambda *a, **k: contextlib.nullcontext()  # fp32 compute: only the scaling differs
        for opt in trainer.optimizers.values():  # an AcceleratedOptimizer set up as with a scaler
            opt.__setstate__({**opt.__dict__, "scaler": scaler})
    captured: dict[str, list] = {}
    for key, opt in trainer.optimizers.items():
        def spy(o, args, kwargs, key=key):
            captured[key] = [p.grad.clone() for g in o.param_groups for p in g["params"] if p.grad is not None]
        getattr(opt, "optimizer", opt).register_step_pre_hook(spy)
    trainer.fit()
    _fresh_accelerate_state()
    return captured


@pytest.mark.timeout(400)
def test_fp16_loss_scaling_with_accumulation_steps_with_the_fp32_gradients(tmp_path):
    reference = _gradients_of_one_step(tmp_path / "fp32", "no", None)
    scaler = torch.amp.GradScaler("cpu", init_scale=SCALE)
    scaled = _gradients_of_one_step(tmp_path / "fp16", "fp16", scaler)
    assert set(reference) == set(scaled) == {"g", "d"}  # both optimisers stepped (no inf: nothing skipped)
    for key in ("g", "d"):
        assert len(reference[key]) == len(scaled[key]) > 0
        for a, b in zip(reference[key], scaled[key]):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-9, msg=f"optimiser {key}")
    # the scale was updated once for the step, after both optimisers stepped, and found no inf
    assert scaler.get_scale() == SCALE and scaler._get_growth_tracker() == 1
