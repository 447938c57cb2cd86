"""One tiny GAN step: a toy generator, the three discriminators (tiny widths) and every loss.

Shows that the pieces fit together the way the trainer will use them: D step on the detached
reconstruction, then a G step whose weighted total (eq. 10) reaches every generator parameter,
and the distillation projection, with finite gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from tokenizer_bench.core.interfaces import QuantizerOutput
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.core.training.recipe import weighted_total
from tokenizer_bench.plugins.recipes.gan_distillation import DEFAULT_WEIGHTS

HOP = 40


class ToyGenerator(nn.Module):
    """conv encoder -> two 'RVQ layers' (the latent and its half) -> transposed-conv decoder."""

    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.enc = nn.Conv1d(1, dim, HOP, stride=HOP)
        self.dec = nn.ConvTranspose1d(dim, 1, HOP, stride=HOP)

    def forward(self, wav):
        z = self.enc(wav)
        layers = [z, 0.5 * z]
        commit = (z - z.detach().round()).pow(2).mean()
        return self.dec(layers[0] + layers[1]), layers, commit


def _all_logits_fmaps(discs, wav):
    logits, fmaps = [], []
    for d in discs:
        lg, fm = d(wav)
        logits += lg
        fmaps += fm
    return logits, fmaps


def test_tiny_generator_discriminator_step():
    reg_d, reg_l = get_registry("discriminators"), get_registry("losses")
    discs = nn.ModuleList([
        reg_d.build("mpd", periods=[2, 3], channels=[4, 8]),
        reg_d.build("msd", num_scales=2, channels=[4, 8], kernel_sizes=[5, 5], strides=[1, 2], groups=[1, 4]),
        reg_d.build("mstft", filters=4, n_ffts=[128, 64]),
    ])
    gen = ToyGenerator()
    distill = reg_l.build("distillation", student_dim=8, teacher_dims={"lm": 6}, lm={"target": "rvq1:2"})
    adv = reg_l.build("adversarial")  # hinge, mean: the paper's
    fm = reg_l.build("feature_matching")
    mel = reg_l.build("multiscale_mel", min_exponent=6, max_exponent=8, n_mels=16)
    l1 = reg_l.build("waveform_l1")
    commitment = reg_l.build("commitment")

    x = torch.randn(2, 1, 800)
    teacher = torch.randn(2, 800 // HOP, 6)
    x_hat, layers, commit = gen(x)
    qout = QuantizerOutput(quantized=layers[0] + layers[1], codes=torch.zeros(2, 2, 20), commit_loss=commit,
                           layer_outputs=layers)

    # discriminator step
    real_l, _ = _all_logits_fmaps(discs, x)
    fake_l, _ = _all_logits_fmaps(discs, x_hat.detach())
    assert len(real_l) == 2 + 2 + 2
    d_loss = adv.discriminator_loss(real_l, fake_l)
    d_loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in discs.parameters())
    assert all(p.grad is None for p in gen.parameters())
    discs.zero_grad()

    # generator step
    real_l, real_f = _all_logits_fmaps(discs, x)
    fake_l, fake_f = _all_logits_fmaps(discs, x_hat)
    terms = {
        "mel": mel(x, x_hat),
        "waveform": l1(x, x_hat),
        "commitment": commitment(qout),
        "distillation": distill(qout, {"lm": teacher})[0],
        "feature_matching": fm(real_f, fake_f),
        "adversarial": adv(fake_l),
    }
    total, weighted = weighted_total(terms, DEFAULT_WEIGHTS)
    assert set(weighted) == set(terms) and torch.isfinite(total)
    total.backward()
    for name, p in list(gen.named_parameters()) + list(distill.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
