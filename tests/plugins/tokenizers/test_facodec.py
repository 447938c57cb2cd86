"""FACodec re-implementation: official state-dict layout, formulas checked by hand, save/load."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from tokenizer_bench.core.api import load_tokenizer
from tokenizer_bench.core.errors import CheckpointError, ConfigError, MissingDependencyError
from tokenizer_bench.core.plugins import get_registry
from tokenizer_bench.plugins.tokenizers._facodec import (
    FACodecDecoder,
    FACodecDecoderV2,
    FACodecEncoder,
    FACodecEncoderV2,
)
from tokenizer_bench.plugins.tokenizers._facodec.activations import Activation1d, SnakeBeta
from tokenizer_bench.plugins.tokenizers._facodec.mel import LogMelSpectrogram, slaney_mel_basis
from tokenizer_bench.plugins.tokenizers._facodec.quantize import FactorizedVQ
from tokenizer_bench.plugins.tokenizers._facodec.transformer import TransformerEncoder
from tokenizer_bench.plugins.layers import WNConv1d, WNConvTranspose1d, WNLinear
from tokenizer_bench.plugins.tokenizers.facodec import FACodecTokenizer

# A reduced configuration: hop 200 (80 Hz) like the released model, tiny widths.
ENC = {"ngf": 2, "up_ratios": [2, 4, 5, 5], "out_channels": 8}
DEC = {
    "in_channels": 8, "upsample_initial_channel": 16, "up_ratios": [5, 5, 4, 2], "vq_dim": 8,
    "codebook_dim": 4, "timbre_hidden": 8, "timbre_filter_size": 16, "timbre_layers": 1, "timbre_heads": 2,
    "num_phone_classes": 5, "num_speaker_classes": 7,
}
N = 2000  # 0.125 s -> 10 frames


def _wav(batch: int = 1, n: int = N, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, 1, n, generator=g)


# --------------------------------------------------------------------------- official layout
@pytest.mark.parametrize(
    "manifest, cls",
    [
        ("facodec_encoder_state_dict.json", FACodecEncoder),
        ("facodec_decoder_state_dict.json", FACodecDecoder),
        ("facodec_encoder_v2_state_dict.json", FACodecEncoderV2),
        ("facodec_decoder_v2_state_dict.json", FACodecDecoderV2),
    ],
)
def test_state_dict_equals_official_manifest(reference_manifest, manifest, cls):
    ref = reference_manifest(manifest)
    with torch.device("meta"):  # full size, but no memory or init time
        model = cls(**ref["constructor_args"])
    sd = model.state_dict()
    assert [(k, list(v.shape)) for k, v in sd.items()] == [(k, s) for k, s, _ in ref["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == ref["num_parameters"]
    assert len(sd) == ref["num_state_dict_entries"]
    assert sum(v.numel() for v in sd.values()) == ref["num_state_dict_elements"]
    assert [k for k, _ in model.named_buffers()] == ref["buffer_keys"]


def test_registered():
    assert "facodec" in get_registry("tokenizers")


# --------------------------------------------------------------------------- formulas by hand
def test_snake_beta_formula():
    act = SnakeBeta(2, logscale=True)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([math.log(2.0), 0.0]))
        act.beta.copy_(torch.tensor([math.log(4.0), 0.0]))
    x = torch.tensor([[[0.5, -1.0], [0.3, 2.0]]])
    y = act(x)
    expect = [
        [0.5 + 0.25 * math.sin(1.0) ** 2, -1.0 + 0.25 * math.sin(-2.0) ** 2],
        [0.3 + math.sin(0.3) ** 2, 2.0 + math.sin(2.0) ** 2],
    ]
    assert torch.allclose(y[0], torch.tensor(expect), atol=1e-6)


def test_kaiser_sinc_filters_match_numpy_design():
    act = Activation1d(SnakeBeta(1))
    # Independent design: cutoff 0.25, half-width 0.3 (ratio 2), 12 taps, Kaiser beta from the
    # attenuation rule A = 2.285 (M/2 - 1) pi (4 hw) + 7.95, taps at half-integer times.
    a = 2.285 * (6 - 1) * math.pi * (4 * 0.3) + 7.95
    beta = 0.1102 * (a - 8.7) if a > 50 else 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    t = np.arange(-6, 6) + 0.5
    h = 2 * 0.25 * np.kaiser(12, beta) * np.sinc(2 * 0.25 * t)
    h /= h.sum()
    for buf in (act.upsample.filter, act.downsample.lowpass.filter):
        assert buf.shape == (1, 1, 12)
        np.testing.assert_allclose(buf.flatten().numpy(), h, atol=1e-6)


def test_anti_aliased_activation_keeps_length_and_replicates_edges():
    act = Activation1d(SnakeBeta(3))
    x = torch.full((2, 3, 37), 0.7)
    y = act(x)
    assert y.shape == x.shape
    # Unit-DC-gain filters with replicate padding map a constant to snake(constant) everywhere,
    # edges included (zero padding would bend the ends).
    assert torch.allclose(y, torch.full_like(y, 0.7 + math.sin(0.7) ** 2), atol=1e-5)


def test_weight_norm_layers_equal_torch_weight_norm():
    from torch.nn.utils import weight_norm

    torch.manual_seed(1)
    cases = [
        (WNConv1d(3, 4, 5, stride=2, padding=2, dilation=1), torch.nn.Conv1d(3, 4, 5, stride=2, padding=2),
         torch.randn(2, 3, 11)),
        (WNConvTranspose1d(4, 3, 10, stride=5, padding=3, output_padding=1),
         torch.nn.ConvTranspose1d(4, 3, 10, stride=5, padding=3, output_padding=1), torch.randn(2, 4, 6)),
        (WNLinear(6, 2), torch.nn.Linear(6, 2), torch.randn(5, 6)),
    ]
    for mine, plain, x in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            ref = weight_norm(plain)
        with torch.no_grad():
            mine.weight_g.mul_(1.7)  # g != ||v||, so the formula is exercised
        ref.load_state_dict(mine.state_dict(), strict=True)  # same keys and shapes
        assert list(mine.state_dict()) == ["bias", "weight_g", "weight_v"]
        assert torch.allclose(mine(x), ref(x), atol=1e-5)
    assert cases[1][0].weight_g.shape == (4, 1, 1)  # transposed conv: dim 0 is the input channel


def test_code_selection_is_normalised_l2_and_dequantises_raw_row():
    vq = FactorizedVQ(dim=3, codebook_size=2, codebook_dim=2).eval()
    with torch.no_grad():
        vq.in_proj.weight_v.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        vq.in_proj.weight_g.fill_(1.0)
        vq.in_proj.bias.zero_()
        vq.out_proj.weight_v.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        vq.out_proj.weight_g.copy_(torch.tensor([[1.0], [1.0], [math.sqrt(2.0)]]))
        vq.out_proj.bias.copy_(torch.tensor([0.0, 0.0, 0.5]))
        # Row 0 is short but points almost the same way as z_e; row 1 is closer in plain L2.
        vq._codebook.weight.copy_(torch.tensor([[0.1, 0.0], [3.0, 1.5]]))
    z = torch.tensor([3.0, 0.5, 9.0]).view(1, 3, 1)  # z_e = (3, 0.5): 9.5 deg from row 0, 17 from row 1
    q, codes, loss = vq(z)
    assert codes.item() == 0  # plain L2 would pick 1 (distance 1.0 versus 2.94)
    assert torch.allclose(q.flatten(), torch.tensor([0.1, 0.0, 0.6]), atol=1e-6)  # out_proj of raw row 0
    assert loss.abs().sum() == 0  # eval: no loss
    assert torch.allclose(vq.decode(codes).flatten(), q.flatten())


def _small_decoder(version: int = 1) -> FACodecDecoder:
    cls = FACodecDecoder if version == 1 else FACodecDecoderV2
    return cls(**DEC)


def test_parallel_prosody_content_and_residual_on_detached_remainder():
    torch.manual_seed(3)
    dec = _small_decoder().eval()
    x = torch.randn(2, 8, 9)
    total, codes, _, buffers = dec.quantize(x)
    assert codes.shape == (6, 2, 9)
    p_sum, p_codes, _, _ = dec.quantizer[0](x)
    c_sum, c_codes, _, _ = dec.quantizer[1](x)  # content reads x, not x - prosody
    r_sum, r_codes, _, _ = dec.quantizer[2](x - p_sum - c_sum)
    assert torch.equal(codes, torch.cat([p_codes, c_codes, r_codes]))
    assert torch.allclose(total, p_sum + c_sum + r_sum, atol=1e-6)
    assert torch.allclose(dec.vq2emb(codes), total, atol=1e-5)

    # The remainder is detached: the residual stream sends no gradient into the other quantisers.
    dec.train()
    xg = x.clone().requires_grad_(True)
    _, _, _, buffers = dec.quantize(xg)
    buffers[2].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    for q in (dec.quantizer[0], dec.quantizer[1]):
        assert all(p.grad is None for p in q.parameters())


def test_training_path_predictors_and_gradient_reversal():
    torch.manual_seed(6)
    dec = _small_decoder().train()
    x = torch.randn(2, 8, 5)
    _, _, losses, quantized = dec.quantize(x)
    assert losses.shape == (6,) and bool((losses > 0).all())  # codebook + commitment losses in training
    spk = dec.speaker_embedding(x)
    out = dec.predict(quantized, spk)
    assert out["f0"].shape == out["uv"].shape == out["res_f0"].shape == (2, 5)
    assert out["phone"].shape == out["res_phone"].shape == (2, 5, 5)
    assert out["x_timbre"].shape == (2, 7)  # utterance-level speaker logits
    assert out["audio"].shape == (2, 1, 5 * 200)
    # Gradient reversal: identity forward, negated gradient backward.
    gr = dec.res_f0_predictor[0]
    v = torch.randn(3, requires_grad=True)
    (gr(v) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(v.grad, torch.tensor([-1.0, -2.0, -3.0]))


def test_positional_encoding_modes():
    torch.manual_seed(4)
    enc = TransformerEncoder(layers=1, hidden=8, heads=2, filter_size=16).eval()
    pe = enc.position_emb.pe
    assert pe.shape == (5000, 1, 8)
    assert torch.allclose(pe[0, 0], torch.tensor([0.0, 1.0] * 4))
    assert math.isclose(pe[7, 0, 2].item(), math.sin(7 / 10000 ** (2 / 8)), rel_tol=1e-5)
    x = torch.randn(2, 5, 8)
    enc.position_emb.pe_mode = "first"  # default: batch-invariant, official result at batch size 1
    both = enc(x)
    assert torch.allclose(both[1], enc(x[1:2])[0], atol=1e-5)
    enc.position_emb.pe_mode = "batch_index"  # official code verbatim: item b gets pe[b]
    official = enc(x)
    assert torch.allclose(official[0], both[0], atol=1e-6)
    assert not torch.allclose(official[1], both[1], atol=1e-3)
    with pytest.raises(ValueError):
        enc.position_emb.pe_mode = "nonsense"


def test_v2_mel_filterbank_equals_slaney_formula():
    sr, n_fft, n_mels, fmax = 16000, 1024, 80, 8000.0

    def hz_to_mel(f):  # Slaney: linear to 1 kHz, logarithmic above
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(fmax), n_mels + 2))
    expect = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rise = (freqs - lo) / (mid - lo)
        fall = (hi - freqs) / (hi - mid)
        expect[i] = np.maximum(0.0, np.minimum(rise, fall)) * 2.0 / (hi - lo)  # unit area (Slaney)
    got = slaney_mel_basis(sr, n_fft, n_mels, 0.0, fmax).numpy()
    assert got.shape == (80, 513)
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-7)

    mel = LogMelSpectrogram()
    assert mel.hann_window.shape == (800,)
    feats = mel(torch.zeros(1, 16000) + 1e-3 * torch.randn(1, 16000))
    assert feats.shape == (1, 80, 80)


# --------------------------------------------------------------------------- tokenizer
@pytest.mark.parametrize("version", [1, 2])
def test_reduced_model_save_load_round_trip(tmp_path, version):
    torch.manual_seed(5)
    tok = FACodecTokenizer.build(ENC, DEC, version=version)
    assert (tok.sample_rate, tok.frame_rate, tok.num_codebooks, tok.codebook_size) == (16000, 80.0, 6, 1024)
    assert tok.bitrate == 80 * 6 * 10
    wav = _wav(batch=2)
    codes, side = tok.encode_with_side(wav)
    assert codes.shape == (2, 6, 10) and codes.dtype == torch.int64
    assert side["timbre"].shape == (2, 8)
    out = tok.decode(codes, side)
    assert out.shape == (2, 1, N) and out.abs().max() <= 1.0  # tanh output
    assert torch.equal(tok.encode(wav, n_q=3), codes[:, :3])

    tok.save_pretrained(tmp_path)
    names = {"ns3_facodec_encoder.bin", "ns3_facodec_decoder.bin"} if version == 1 else {
        "ns3_facodec_encoder_v2.bin", "ns3_facodec_decoder_v2.bin"}
    assert names <= {p.name for p in tmp_path.iterdir()}
    loaded = load_tokenizer("facodec", checkpoint=tmp_path, encoder_args=ENC, decoder_args=DEC, version=version)
    for a, b in ((tok.encoder, loaded.encoder), (tok.decoder, loaded.decoder)):
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)
    codes2, side2 = loaded.encode_with_side(wav)
    assert torch.equal(codes2, codes)
    assert torch.allclose(loaded.decode(codes2, side2), out, atol=1e-6)
    # The JSON beside the weights is enough on its own.
    assert torch.equal(load_tokenizer("facodec", checkpoint=tmp_path).encode(wav), codes)


def test_decode_needs_timbre():
    tok = FACodecTokenizer.build(ENC, DEC)
    codes = torch.zeros(1, 6, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="timbre"):
        tok.decode(codes)
    with pytest.raises(ValueError, match="timbre"):
        tok.decode(codes, {"timbre": torch.zeros(2, 8)})  # wrong batch


def test_checkpoint_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENIZER_BENCH_OFFLINE", "1")  # cache only, whatever the network (tests/core/test_hub.py: online)
    with pytest.raises(MissingDependencyError, match="hf download nobody/not-cached-facodec ns3_facodec_encoder.bin"):
        load_tokenizer("facodec", checkpoint="nobody/not-cached-facodec")
    with pytest.raises(CheckpointError, match="ns3_facodec_encoder.bin"):
        load_tokenizer("facodec", checkpoint=tmp_path)
    FACodecTokenizer.build(ENC, DEC).save_pretrained(tmp_path)
    other = dict(DEC, codebook_dim=3)
    with pytest.raises(CheckpointError, match="shape mismatches: quantizer.0.layers.0.in_proj"):
        load_tokenizer("facodec", checkpoint=tmp_path, decoder_args=other)
    with pytest.raises(ConfigError, match="unknown decoder_args"):
        load_tokenizer("facodec", checkpoint=tmp_path, decoder_args={"hidden": 3})


def test_codebook_sizes_follow_each_stream_and_bound_check_codes():
    # streams in code order: 1 prosody (2^3), 2 content (2^4), 3 residual (2^5)
    tok = FACodecTokenizer.build(ENC, {**DEC, "codebook_size_prosody": 3, "codebook_size_content": 4,
                                       "codebook_size_residual": 5})
    assert tok.codebook_sizes == (8, 16, 16, 32, 32, 32)
    ok = torch.tensor([[[7], [15], [15], [31], [31], [31]]])
    tok.check_codes(ok)
    too_big_for_prosody = ok.clone()
    too_big_for_prosody[0, 0, 0] = 8  # inside the largest codebook, outside the prosody one
    with pytest.raises(ValueError, match=r"codebook 0 holds values in \[8, 8\]; they must lie in \[0, 8\)"):
        tok.check_codes(too_big_for_prosody)
