"""FACodec (NaturalSpeech 3, amphion) as a registered tokenizer: ``facodec``.

16 kHz in and out, 80 frames/s, 6 code streams of 1024 entries per frame in the official order
``[prosody, content 1, content 2, residual 1, residual 2, residual 3]`` (4.8 kbps). Decoding
needs, besides the codes, the utterance's timbre embedding ``[B, 256]`` (``side["timbre"]``),
which :meth:`FACodecTokenizer.encode_with_side` returns.

``n_q`` keeps the first ``n_q`` streams of that order (prosody first), and :meth:`decode` sums the
streams it is given; the official ``vq2emb(use_residual_code=False)`` is ``n_q=3``.

Checkpoints (``checkpoint=``):

* a local directory holding ``ns3_facodec_encoder.bin`` and ``ns3_facodec_decoder.bin``
  (``..._v2.bin`` for ``version=2``), as published or as :meth:`save_pretrained` writes them
  (plus ``facodec_config.json`` with the constructor arguments, so reduced models round-trip);
* a hub id (default ``amphion/naturalspeech3_facodec``): its two files are downloaded into the
  Hugging Face cache on first use (``revision`` pins a commit; ``HF_HUB_OFFLINE=1`` or
  ``--offline``: cache only); when they cannot be had, a ``MissingDependencyError`` names the
  ``hf download`` command.

Weights load strictly (every key and shape must match). The implementation lives in
``_facodec/``; see ``_facodec/transformer.py`` for the timbre encoder's positional-encoding
option ``pe_mode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokenizer_bench.core import hub
from tokenizer_bench.core.errors import CheckpointError, ConfigError
from tokenizer_bench.core.io import load_state_dict_strict, load_torch_file, torch_save_atomic, write_json_atomic
from tokenizer_bench.core.tokenizer import SideInfo, Tokenizer, read_saved_options

from tokenizer_bench.plugins.tokenizers._facodec import (
    RELEASED_DECODER_ARGS,
    RELEASED_ENCODER_ARGS,
    FACodecDecoder,
    FACodecDecoderV2,
    FACodecEncoder,
    FACodecEncoderV2,
)
from tokenizer_bench.plugins.tokenizers._facodec.transformer import PE_MODES

HUB_ID = "amphion/naturalspeech3_facodec"
CONFIG_FILE = "facodec_config.json"
SAMPLE_RATE = 16000


def weight_files(version: int) -> tuple[str, str]:
    """File names of the (encoder, decoder) state dicts of a FACodec ``version`` (1 or 2)."""
    suffix = "" if version == 1 else "_v2"
    return f"ns3_facodec_encoder{suffix}.bin", f"ns3_facodec_decoder{suffix}.bin"


def _check_version(version: Any) -> int:
    if version not in (1, 2):
        raise ConfigError(f"facodec: version must be 1 or 2, got {version!r}")
    return int(version)


def _classes(version: int) -> tuple[type[FACodecEncoder], type[FACodecDecoder]]:
    return (FACodecEncoder, FACodecDecoder) if version == 1 else (FACodecEncoderV2, FACodecDecoderV2)


def _valid_args(cls: type) -> set[str]:
    import inspect

    base = FACodecDecoder if issubclass(cls, FACodecDecoder) else cls  # V2 forwards *args/**kwargs
    return set(inspect.signature(base.__init__).parameters) - {"self", "pe_mode"}


def _merge_args(kind: str, released: dict, saved: dict | None, given: dict | None, cls: type) -> dict:
    """Released defaults <- saved config <- explicit arguments; unknown names are a ConfigError."""
    valid = _valid_args(cls)
    args = dict(released)
    for source in (saved, given):
        if source is None:
            continue
        if not isinstance(source, dict):
            raise ConfigError(f"facodec: {kind} must be a mapping of constructor arguments, got {source!r}")
        unknown = sorted(set(source) - valid)
        if unknown:
            raise ConfigError(
                f"facodec: unknown {kind} {', '.join(unknown)}. Valid: {', '.join(sorted(valid))}"
            )
        args.update(source)
    return args


def _load_weights(module: nn.Module, path: Path, part: str) -> None:
    """Strictly adopt the state dict in ``path`` into ``module`` (built on the meta device)."""
    load_state_dict_strict(
        module, load_torch_file(path, what=f"FACodec {part} weights"), what=f"FACodec {part} weights", source=path,
        hint="Check version= and encoder_args/decoder_args (a reduced model needs the arguments it was saved with)",
        assign=True,
    )


def _resolve_files(checkpoint: str | Path, version: int, revision: str | None = None) -> tuple[Path, Path]:
    """Local directory or hub id (downloaded on first use via :mod:`core.hub`) -> (encoder file, decoder file)."""
    names = weight_files(version)
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        files = [path / n for n in names]
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise CheckpointError(
                f"FACodec checkpoint directory {path} lacks {', '.join(absent)} (version={version} needs "
                f"{' and '.join(names)})"
            )
        return files[0], files[1]
    if path.exists():
        raise CheckpointError(f"FACodec checkpoint must be a directory or a hub id; {path} is a file")
    repo_id = str(checkpoint)
    if not hub.looks_like_repo_id(repo_id):
        raise CheckpointError(f"FACodec checkpoint {repo_id!r}: no such directory, and not a hub id (owner/name)")
    found = hub.fetch_files(repo_id, names, revision=revision, what=f"FACodec weights (version={version})",
                            hint="or pass checkpoint=DIR holding both files (CLI: --tokenizers facodec:DIR)")
    return found[0], found[1]


class FACodecTokenizer(Tokenizer):
    """FACodec encoder + decoder behind the project's tokenizer interface."""

    name = "facodec"
    side_info_keys = ("timbre",)

    def __init__(self, encoder: FACodecEncoder, decoder: FACodecDecoder) -> None:
        if isinstance(encoder, FACodecEncoderV2) != isinstance(decoder, FACodecDecoderV2):
            raise ConfigError("facodec: encoder and decoder must both be V1 or both V2")
        self.version = 2 if isinstance(encoder, FACodecEncoderV2) else 1
        if encoder.hop_length != decoder.hop_length:
            raise ConfigError(
                f"facodec: encoder hop {encoder.hop_length} (up_ratios {encoder.up_ratios}) differs from "
                f"decoder hop {decoder.hop_length} (up_ratios {decoder.up_ratios})"
            )
        if encoder.out_channels != decoder.in_channels:
            raise ConfigError(
                f"facodec: encoder out_channels {encoder.out_channels} != decoder in_channels {decoder.in_channels}"
            )
        self.encoder = encoder.eval()
        self.decoder = decoder.eval()
        self.sample_rate = SAMPLE_RATE
        self.frame_rate = SAMPLE_RATE / encoder.hop_length
        self.num_codebooks = decoder.num_streams
        bits = [decoder.codebook_sizes_log2[0]] * decoder.vq_num_q_p
        bits += [decoder.codebook_sizes_log2[1]] * decoder.vq_num_q_c
        bits += [decoder.codebook_sizes_log2[2]] * decoder.vq_num_q_r
        self._bits = bits
        self.codebook_size = 2 ** max(bits)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, encoder_args: dict | None = None, decoder_args: dict | None = None, version: int = 1,
              pe_mode: str = "first", device: str | torch.device = "cpu") -> "FACodecTokenizer":
        """A randomly initialised model (released sizes unless the args say otherwise)."""
        version = _check_version(version)
        enc_cls, dec_cls = _classes(version)
        enc_args = _merge_args("encoder_args", RELEASED_ENCODER_ARGS, None, encoder_args, enc_cls)
        dec_args = _merge_args("decoder_args", RELEASED_DECODER_ARGS, None, decoder_args, dec_cls)
        with torch.device(device):
            encoder, decoder = cls._instantiate(enc_cls, enc_args, dec_cls, dec_args, pe_mode)
        return cls(encoder, decoder)

    @staticmethod
    def _instantiate(enc_cls: type, enc_args: dict, dec_cls: type, dec_args: dict, pe_mode: str
                     ) -> tuple[FACodecEncoder, FACodecDecoder]:
        if pe_mode not in PE_MODES:
            raise ConfigError(f"facodec: pe_mode must be one of {', '.join(PE_MODES)}; got {pe_mode!r}")
        try:
            return enc_cls(**enc_args), dec_cls(**dec_args, pe_mode=pe_mode)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"facodec: invalid encoder_args/decoder_args: {exc}") from exc

    @classmethod
    def from_pretrained(cls, directory: str | Path, **options: Any) -> "FACodecTokenizer":
        return cls.load(directory, **options)

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, encoder_args: dict | None = None,
             decoder_args: dict | None = None, version: int | None = None, pe_mode: str | None = None,
             revision: str | None = None) -> "FACodecTokenizer":
        """Load published or saved weights (see the module docstring for what ``checkpoint`` may be).

        Arguments left ``None`` come from the directory's ``facodec_config.json`` when there is one,
        else from the released configuration (version 1, ``pe_mode="first"``).
        """
        checkpoint = HUB_ID if checkpoint is None else checkpoint
        saved = _read_saved_config(checkpoint)
        version = _check_version(version if version is not None else saved.get("version", 1))
        pe_mode = pe_mode if pe_mode is not None else saved.get("pe_mode", "first")
        enc_file, dec_file = _resolve_files(checkpoint, version, revision)
        enc_cls, dec_cls = _classes(version)
        enc_args = _merge_args("encoder_args", RELEASED_ENCODER_ARGS, saved.get("encoder_args"), encoder_args, enc_cls)
        dec_args = _merge_args("decoder_args", RELEASED_DECODER_ARGS, saved.get("decoder_args"), decoder_args, dec_cls)
        # Build on the meta device and adopt the loaded tensors: no time spent on random init
        # of the 98M-parameter decoder (64.6M of it the speaker-classifier head).
        with torch.device("meta"):
            encoder, decoder = cls._instantiate(enc_cls, enc_args, dec_cls, dec_args, pe_mode)
        _load_weights(encoder, enc_file, "encoder")
        _load_weights(decoder, dec_file, "decoder")
        return cls(encoder, decoder)

    def save_pretrained(self, directory: str | Path) -> None:
        """Official layout (two ``.bin`` state dicts) plus ``facodec_config.json``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        enc_name, dec_name = weight_files(self.version)
        torch_save_atomic({k: v.detach().cpu() for k, v in self.encoder.state_dict().items()}, directory / enc_name)
        torch_save_atomic({k: v.detach().cpu() for k, v in self.decoder.state_dict().items()}, directory / dec_name)
        write_json_atomic(
            directory / CONFIG_FILE,
            {
                "tokenizer": self.name,
                "version": self.version,
                "pe_mode": self.decoder.pe_mode,
                "encoder_args": self.encoder.config,
                "decoder_args": self.decoder.config,
            },
        )

    def to(self, device: torch.device | str) -> "FACodecTokenizer":
        self.encoder.to(device)
        self.decoder.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    # ------------------------------------------------------------------ interface
    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Prosody, content and residual streams have their own sizes (``codebook_sizes_log2``)."""
        return tuple(2 ** int(b) for b in self._bits)

    def bitrate_at(self, n_q: int | None) -> float:
        n = self.check_n_q(n_q)
        return float(self.frame_rate) * sum(self._bits[:n])

    def _checked_wav(self, wav: torch.Tensor) -> torch.Tensor:
        min_len = self.encoder.hop_length
        if self.version == 2:  # the mel front end reflect-pads 412 samples per side
            min_len = max(min_len, (1024 - 200) // 2 + 1)
        return self.check_wav(wav, min_samples=min_len).to(device=self.device, dtype=torch.float32)

    @torch.inference_mode()
    def encode_with_side(self, wav: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, SideInfo]:
        """``wav [B,1,N]`` -> (codes ``[B, n_q, T]``, ``{"timbre": [B, 256]}``)."""
        n = self.check_n_q(n_q)
        wav = self._checked_wav(wav)
        latent = self.encoder(wav)
        prosody = self.encoder.get_prosody_feature(wav) if self.version == 2 else None
        _, codes, _, _ = self.decoder.quantize(latent, prosody)
        spk = self.decoder.speaker_embedding(latent)
        return codes.transpose(0, 1)[:, :n].contiguous(), {"timbre": spk}

    @torch.inference_mode()
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        n = self.check_n_q(n_q)
        wav = self._checked_wav(wav)
        latent = self.encoder(wav)
        prosody = self.encoder.get_prosody_feature(wav) if self.version == 2 else None
        _, codes, _, _ = self.decoder.quantize(latent, prosody)
        return codes.transpose(0, 1)[:, :n].contiguous()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        """Codes ``[B, Q, T]`` (``Q <= 6``, official stream order) + ``side["timbre"]`` -> ``[B, 1, T*200]``."""
        if side is None or "timbre" not in side:
            raise ValueError(
                "facodec decodes with the utterance's timbre embedding: pass side={'timbre': spk} as "
                "returned by encode_with_side(wav)"
            )
        self.check_codes(codes)
        spk = side["timbre"].to(device=self.device, dtype=torch.float32)
        if spk.dim() != 2 or spk.shape[0] != codes.shape[0] or spk.shape[1] != self.decoder.in_channels:
            raise ValueError(
                f"side['timbre'] must be [B={codes.shape[0]}, {self.decoder.in_channels}], got {tuple(spk.shape)}"
            )
        codes = codes.to(device=self.device, dtype=torch.long)
        latent = self.decoder.vq2emb(codes.transpose(0, 1))
        return self.decoder.inference(latent, spk)

    @torch.inference_mode()
    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """Each stream's dequantised vector ``[B, Q, D, T]`` (``out_proj`` of its codebook row, official
        stream order prosody, content, residual); their sum is the decoder's latent (``vq2emb``)."""
        self.check_codes(codes)
        codes = codes.to(device=self.device, dtype=torch.long)
        d = self.decoder
        groups = [(d.quantizer[0], d.vq_num_q_p), (d.quantizer[1], d.vq_num_q_c)]
        if len(d.quantizer) > 2:
            groups.append((d.quantizer[2], d.vq_num_q_r))
        layers = [layer for rvq, n in groups for layer in list(rvq.layers)[:n]]
        return torch.stack([layers[i].decode(codes[:, i]) for i in range(codes.shape[1])], dim=1).float()

    def describe(self) -> dict:
        info = super().describe()
        info.update(version=self.version, pe_mode=self.decoder.pe_mode)
        return info


def _read_saved_config(checkpoint: str | Path) -> dict:
    return read_saved_options(Path(checkpoint) / CONFIG_FILE, "facodec", name_optional=True)


def facodec(checkpoint: str | Path | None = None, encoder_args: dict | None = None,
            decoder_args: dict | None = None, version: int | None = None, pe_mode: str | None = None,
            revision: str | None = None) -> FACodecTokenizer:
    """FACodec (NaturalSpeech 3): 16 kHz, 80 Hz, 6 x 1024 codes + timbre embedding."""
    return FACodecTokenizer.load(checkpoint, encoder_args=encoder_args, decoder_args=decoder_args,
                                 version=version, pe_mode=pe_mode, revision=revision)


def register_tokenizers(register) -> None:
    register("facodec", facodec)


__all__ = ["FACodecTokenizer", "facodec", "weight_files", "HUB_ID", "CONFIG_FILE"]
