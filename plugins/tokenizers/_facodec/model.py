"""FACodec encoder and decoder (NaturalSpeech 3; amphion ``models/codec/ns3_codec``), V1 and V2.

Written so that the published ``ns3_facodec_{encoder,decoder}[_v2].bin`` state dicts load with
``strict=True``: every key, shape and parameter count equals the official modules'.

Constructor defaults are the *released checkpoint's* configuration (README of the official
repo: ``out_channels=256``, ``upsample_initial_channel=1024``, ``vq_dim=256``, the three
gradient-reversal heads on), not the official classes' own defaults (1024/1536/1024, heads off),
which describe no published model. Widths the official code hard-codes are options here
(``timbre_hidden``, ``timbre_filter_size``, ``timbre_layers``, ``timbre_heads``,
``num_phone_classes``, ``num_speaker_classes``) so reduced models can be built and tested.

Behaviour differences from the official code, all outside the inference path the published
numbers use:

* the timbre transformer's positional encoding follows ``pe_mode`` (see ``transformer.py``;
  the default equals the official computation at batch size 1);
* ``predict`` (the training path) masks the residual stream with torch's RNG and only in
  training mode; the official ``forward(vq=False)`` draws from numpy's RNG even in eval mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenizer_bench.plugins.layers import WNConv1d

from tokenizer_bench.plugins.tokenizers._facodec.activations import snake
from tokenizer_bench.plugins.tokenizers._facodec.blocks import (
    ConvPredictor,
    DecoderBlock,
    EncoderBlock,
    GradientReversal,
)
from tokenizer_bench.plugins.tokenizers._facodec.mel import LogMelSpectrogram
from tokenizer_bench.plugins.tokenizers._facodec.quantize import ResidualFVQ
from tokenizer_bench.plugins.tokenizers._facodec.transformer import TransformerEncoder

#: Official argument values of the released checkpoints (README), ``encoder_args`` side.
RELEASED_ENCODER_ARGS: dict = {"ngf": 32, "up_ratios": [2, 4, 5, 5], "out_channels": 256}
#: ... and ``decoder_args`` side.
RELEASED_DECODER_ARGS: dict = {
    "in_channels": 256,
    "upsample_initial_channel": 1024,
    "ngf": 32,
    "up_ratios": [5, 5, 4, 2],
    "vq_num_q_c": 2,
    "vq_num_q_p": 1,
    "vq_num_q_r": 3,
    "vq_dim": 256,
    "codebook_dim": 8,
    "codebook_size_prosody": 10,
    "codebook_size_content": 10,
    "codebook_size_residual": 10,
    "use_gr_x_timbre": True,
    "use_gr_residual_f0": True,
    "use_gr_residual_phone": True,
}

#: Number of log-mel bins V2 feeds its prosody encoder (hard-coded officially).
PROSODY_MEL_BINS = 20


def _zero_conv_biases(module: nn.Module) -> None:
    """The official ``reset_parameters``: ``trunc_normal_`` on a weight-normed conv's derived
    weight has no lasting effect, so in effect only the biases of (non-transposed) convs and of
    the transformer's conv FFN end up zero, and that plain conv's weight gets trunc-normal(0.02)."""
    for m in module.modules():
        if isinstance(m, WNConv1d) and m.bias is not None:
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv1d):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class FACodecEncoder(nn.Module):
    """Waveform ``[B, 1, N]`` (16 kHz) -> latent ``[B, out_channels, N / prod(up_ratios)]``."""

    def __init__(self, ngf: int = 32, up_ratios: tuple[int, ...] | list[int] = (2, 4, 5, 5),
                 out_channels: int = 256) -> None:
        super().__init__()
        #: Constructor arguments (JSON-ready), so a saved model can be rebuilt.
        self.config = {"ngf": ngf, "up_ratios": [int(r) for r in up_ratios], "out_channels": out_channels}
        self.up_ratios = [int(r) for r in up_ratios]
        self.hop_length = math.prod(self.up_ratios)
        d = ngf
        blocks: list[nn.Module] = [WNConv1d(1, d, kernel_size=7, padding=3)]
        for stride in self.up_ratios:
            d *= 2
            blocks.append(EncoderBlock(d, stride=stride))
        blocks += [snake(d), WNConv1d(d, out_channels, kernel_size=3, padding=1)]
        self.block = nn.Sequential(*blocks)
        self.enc_dim = d
        self.out_channels = out_channels
        _zero_conv_biases(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class FACodecEncoderV2(FACodecEncoder):
    """V2 encoder: adds the log-mel front end whose first 20 bins are the prosody features."""

    def __init__(self, ngf: int = 32, up_ratios: tuple[int, ...] | list[int] = (2, 4, 5, 5),
                 out_channels: int = 256) -> None:
        super().__init__(ngf=ngf, up_ratios=up_ratios, out_channels=out_channels)
        if self.hop_length != 200:
            raise ValueError(
                f"FACodec V2's mel front end is fixed at hop 200 (16 kHz, 80 Hz); up_ratios {self.up_ratios} "
                f"give hop {self.hop_length}"
            )
        self.mel_transform = LogMelSpectrogram(
            n_fft=1024, num_mels=80, sampling_rate=16000, hop_size=200, win_size=800, fmin=0, fmax=8000
        )

    def get_prosody_feature(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, 1, N]`` -> first 20 log-mel bins ``[B, 20, frames]``."""
        return self.mel_transform(x.squeeze(1))[:, :PROSODY_MEL_BINS, :]


class FACodecDecoder(nn.Module):
    """Quantisers (prosody, content, residual), timbre encoder, synthesis network, predictors.

    Arguments are the official constructor's (see module docstring for the defaults).
    ``vq_weight_init`` and ``vq_full_commit_loss`` are accepted for compatibility; the official
    quantiser ignores them too.
    """

    def __init__(
        self,
        in_channels: int = 256,
        upsample_initial_channel: int = 1024,
        ngf: int = 32,
        up_ratios: tuple[int, ...] | list[int] = (5, 5, 4, 2),
        vq_num_q_c: int = 2,
        vq_num_q_p: int = 1,
        vq_num_q_r: int = 3,
        vq_dim: int = 256,
        vq_commit_weight: float = 0.005,
        vq_weight_init: bool = False,
        vq_full_commit_loss: bool = False,
        codebook_dim: int = 8,
        codebook_size_prosody: int = 10,
        codebook_size_content: int = 10,
        codebook_size_residual: int = 10,
        quantizer_dropout: float = 0.0,
        dropout_type: str = "linear",
        use_gr_content_f0: bool = False,
        use_gr_prosody_phone: bool = False,
        use_gr_residual_f0: bool = True,
        use_gr_residual_phone: bool = True,
        use_gr_x_timbre: bool = True,
        use_random_mask_residual: bool = True,
        prob_random_mask_residual: float = 0.75,
        timbre_hidden: int = 256,
        timbre_filter_size: int = 1024,
        timbre_layers: int = 4,
        timbre_heads: int = 4,
        num_phone_classes: int = 5003,
        num_speaker_classes: int = 245200,
        pe_mode: str = "first",
    ) -> None:
        #: Constructor arguments (JSON-ready, without the run-time option ``pe_mode``).
        self_config = {k: v for k, v in locals().items() if k not in ("self", "__class__", "pe_mode")}
        self_config["up_ratios"] = [int(r) for r in up_ratios]
        super().__init__()
        self.config = self_config
        if not (in_channels == vq_dim == timbre_hidden):
            raise ValueError(
                "FACodec needs in_channels == vq_dim == timbre_hidden (the timbre encoder reads the "
                f"encoder latent and its output conditions a LayerNorm over it); got {in_channels}, "
                f"{vq_dim}, {timbre_hidden}"
            )
        self.up_ratios = [int(r) for r in up_ratios]
        self.hop_length = math.prod(self.up_ratios)
        self.ngf = ngf
        self.in_channels = in_channels
        self.vq_num_q_p, self.vq_num_q_c, self.vq_num_q_r = vq_num_q_p, vq_num_q_c, vq_num_q_r
        self.codebook_sizes_log2 = (codebook_size_prosody, codebook_size_content, codebook_size_residual)
        self.use_random_mask_residual = use_random_mask_residual
        self.prob_random_mask_residual = prob_random_mask_residual
        self.use_gr_content_f0 = use_gr_content_f0
        self.use_gr_prosody_phone = use_gr_prosody_phone
        self.use_gr_residual_f0 = use_gr_residual_f0
        self.use_gr_residual_phone = use_gr_residual_phone
        self.use_gr_x_timbre = use_gr_x_timbre

        def rvq(n: int, size_log2: int) -> ResidualFVQ:
            return ResidualFVQ(n, vq_dim, size_log2, codebook_dim, commitment=vq_commit_weight,
                               quantizer_dropout=quantizer_dropout, dropout_type=dropout_type)

        self.quantizer = nn.ModuleList([rvq(vq_num_q_p, codebook_size_prosody), rvq(vq_num_q_c, codebook_size_content)])
        if vq_num_q_r > 0:
            self.quantizer.append(rvq(vq_num_q_r, codebook_size_residual))

        channels = upsample_initial_channel
        layers: list[nn.Module] = [WNConv1d(in_channels, channels, kernel_size=7, padding=3)]
        out_dim = channels
        for i, stride in enumerate(self.up_ratios):
            layers.append(DecoderBlock(channels // 2**i, channels // 2 ** (i + 1), stride))
            out_dim = channels // 2 ** (i + 1)
        layers += [snake(out_dim), WNConv1d(out_dim, 1, kernel_size=7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

        self.timbre_encoder = TransformerEncoder(
            layers=timbre_layers, hidden=timbre_hidden, heads=timbre_heads, filter_size=timbre_filter_size,
            kernel_size=5, dropout=0.1, pe_mode=pe_mode,
        )
        self.timbre_linear = nn.Linear(in_channels, in_channels * 2)
        self.timbre_norm = nn.LayerNorm(in_channels, elementwise_affine=False)

        self.f0_predictor = ConvPredictor(in_channels, 1, 2)
        self.phone_predictor = ConvPredictor(in_channels, num_phone_classes, 1)
        if vq_num_q_r > 0 and use_gr_residual_f0:
            self.res_f0_predictor = nn.Sequential(GradientReversal(1.0), ConvPredictor(in_channels, 1, 2))
        if vq_num_q_r > 0 and use_gr_residual_phone:
            self.res_phone_predictor = nn.Sequential(
                GradientReversal(1.0), ConvPredictor(in_channels, num_phone_classes, 1)
            )
        if use_gr_content_f0:
            self.content_f0_predictor = nn.Sequential(GradientReversal(1.0), ConvPredictor(in_channels, 1, 2))
        if use_gr_prosody_phone:
            self.prosody_phone_predictor = nn.Sequential(
                GradientReversal(1.0), ConvPredictor(in_channels, num_phone_classes, 1)
            )
        if use_gr_x_timbre:
            self.x_timbre_predictor = nn.Sequential(
                GradientReversal(1.0), ConvPredictor(in_channels, num_speaker_classes, 1, global_pred=True)
            )
        _zero_conv_biases(self)
        with torch.no_grad():  # gamma starts at 1, beta at 0 (official init)
            self.timbre_linear.bias[:in_channels] = 1.0
            self.timbre_linear.bias[in_channels:] = 0.0

    # ------------------------------------------------------------------ properties
    @property
    def num_streams(self) -> int:
        return self.vq_num_q_p + self.vq_num_q_c + self.vq_num_q_r

    @property
    def pe_mode(self) -> str:
        return self.timbre_encoder.position_emb.pe_mode

    @pe_mode.setter
    def pe_mode(self, mode: str) -> None:
        for m in self.modules():
            if isinstance(m, TransformerEncoder):
                m.position_emb.pe_mode = mode

    # ------------------------------------------------------------------ quantisation
    def _prosody_input(self, x: torch.Tensor, prosody_feature: torch.Tensor | None) -> torch.Tensor:
        return x

    def quantize(self, x: torch.Tensor, prosody_feature: torch.Tensor | None = None,
                 n_quantizers: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """``x [B, D, T]`` -> (summed latent, codes ``[S, B, T]`` in [prosody, content, residual]
        order, losses ``[S]``, per-stream quantised latents ``[B, D, T]``).

        Prosody and content quantisers both read their input (``x``; V2: the prosody encoder's
        output) in parallel; the residual quantiser reads ``x - (prosody + content).detach()``.
        Streams are cut to the shortest frame count (V2's mel frames may be one fewer).
        """
        p_in = self._prosody_input(x, prosody_feature)
        frames = min(p_in.shape[-1], x.shape[-1])
        p_in, x = p_in[..., :frames], x[..., :frames]
        p_sum, p_codes, p_loss, p_q = self.quantizer[0](p_in, n_quantizers)
        c_sum, c_codes, c_loss, c_q = self.quantizer[1](x, n_quantizers)
        sums, codes, losses = [p_sum, c_sum], [p_codes, c_codes], [p_loss, c_loss]
        buffers = [p_q.sum(0), c_q.sum(0)]
        if self.vq_num_q_r > 0:
            residual_in = x - (buffers[0] + buffers[1]).detach()
            r_sum, r_codes, r_loss, r_q = self.quantizer[2](residual_in, n_quantizers)
            sums.append(r_sum)
            codes.append(r_codes)
            losses.append(r_loss)
            buffers.append(r_q.sum(0))
        total = sums[0]
        for s in sums[1:]:
            total = total + s
        return total, torch.cat(codes, 0), torch.cat(losses, 0), buffers

    def speaker_embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Timbre: time-mean of the transformer over the *unquantised* latent ``[B, D, T]`` -> ``[B, D]``."""
        return self.timbre_encoder(x.transpose(1, 2)).mean(dim=1)

    def forward(self, x: torch.Tensor, prosody_feature: torch.Tensor | None = None,
                n_quantizers: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Official ``forward(vq=True)``: (vq_post_emb, vq_id ``[S, B, T]``, commit_loss, quantized, spk_embs)."""
        total, codes, losses, buffers = self.quantize(x, prosody_feature, n_quantizers)
        return total, codes, losses, buffers, self.speaker_embedding(x)

    def vq2emb(self, codes: torch.Tensor, use_residual: bool = True) -> torch.Tensor:
        """Codes ``[S', B, T]`` (the first ``S'`` streams, official order) -> summed latent ``[B, D, T]``."""
        s = codes.shape[0]
        if not 1 <= s <= self.num_streams:
            raise ValueError(f"expected 1..{self.num_streams} code streams, got {s}")
        bounds = [0, self.vq_num_q_p, self.vq_num_q_p + self.vq_num_q_c, self.num_streams]
        if not use_residual:
            s = min(s, bounds[2])
        out = None
        for q, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
            hi = min(hi, s)
            if hi <= lo:
                break
            part = self.quantizer[q].decode(codes[lo:hi])
            out = part if out is None else out + part
        return out

    # ------------------------------------------------------------------ synthesis
    def condition(self, x: torch.Tensor, spk_embs: torch.Tensor) -> torch.Tensor:
        """Timbre-conditioned LayerNorm: ``LN(x) * gamma + beta``, ``[gamma, beta] = timbre_linear(spk)``."""
        gamma, beta = self.timbre_linear(spk_embs).unsqueeze(2).chunk(2, dim=1)
        x = self.timbre_norm(x.transpose(1, 2)).transpose(1, 2)
        return x * gamma + beta

    def inference(self, x: torch.Tensor, spk_embs: torch.Tensor) -> torch.Tensor:
        """Latent ``[B, D, T]`` + timbre ``[B, D]`` -> waveform ``[B, 1, T * hop]`` in [-1, 1] (tanh)."""
        return self.model(self.condition(x, spk_embs))

    def predict(self, quantized: list[torch.Tensor], spk_embs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training path (official ``forward(vq=False)``): predictor outputs and ``audio``."""
        out: dict[str, torch.Tensor] = {}
        f0, uv = self.f0_predictor(quantized[0])
        (phone,) = self.phone_predictor(quantized[1])
        out.update(f0=f0.squeeze(-1), uv=uv.squeeze(-1), phone=phone)
        if self.use_gr_prosody_phone:
            (out["prosody_phone"],) = self.prosody_phone_predictor(quantized[0])
        if self.use_gr_content_f0:
            cf0, cuv = self.content_f0_predictor(quantized[1])
            out.update(content_f0=cf0.squeeze(-1), content_uv=cuv.squeeze(-1))
        x = quantized[0].detach() + quantized[1].detach()
        if self.vq_num_q_r > 0:
            if self.use_gr_residual_f0:
                rf0, ruv = self.res_f0_predictor(quantized[2])
                out.update(res_f0=rf0.squeeze(-1), res_uv=ruv.squeeze(-1))
            if self.use_gr_residual_phone:
                (out["res_phone"],) = self.res_phone_predictor(quantized[2])
            residual = quantized[2]
            if self.training and self.use_random_mask_residual:
                keep = torch.rand(residual.shape[0], device=residual.device) >= self.prob_random_mask_residual
                residual = residual * keep.to(residual.dtype)[:, None, None]
            x = x + residual
        if self.use_gr_x_timbre:
            (out["x_timbre"],) = self.x_timbre_predictor(x)
        out["audio"] = self.inference(x, spk_embs)
        return out


class FACodecDecoderV2(FACodecDecoder):
    """V2: the prosody quantiser reads ``melspec_encoder(melspec_linear(mel[:20]))`` instead of ``x``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        hidden = self.timbre_encoder.last_ln.normalized_shape[0]
        layers = len(self.timbre_encoder.layers)
        heads = self.timbre_encoder.layers[0].self_attn.num_heads
        filt = self.timbre_encoder.layers[0].ffn.ffn_1.out_channels
        self.melspec_linear = nn.Linear(PROSODY_MEL_BINS, hidden)
        self.melspec_encoder = TransformerEncoder(
            layers=layers, hidden=hidden, heads=heads, filter_size=filt, kernel_size=5, dropout=0.1,
            pe_mode=self.timbre_encoder.position_emb.pe_mode,
        )
        _zero_conv_biases(self.melspec_encoder)

    def _prosody_input(self, x: torch.Tensor, prosody_feature: torch.Tensor | None) -> torch.Tensor:
        if prosody_feature is None:
            raise ValueError("FACodec V2 needs prosody_feature (encoder.get_prosody_feature(wav)), got None")
        h = self.melspec_linear(prosody_feature.transpose(1, 2))
        return self.melspec_encoder(h).transpose(1, 2)


__all__ = [
    "FACodecEncoder",
    "FACodecEncoderV2",
    "FACodecDecoder",
    "FACodecDecoderV2",
    "RELEASED_ENCODER_ARGS",
    "RELEASED_DECODER_ARGS",
    "PROSODY_MEL_BINS",
]
