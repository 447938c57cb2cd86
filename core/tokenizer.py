"""The one interface every speech tokenizer implements, trained or pretrained.

One compression-model interface: trained checkpoints and wrappers of published
codecs look the same to the CLI and the benchmark harness.

Shapes: ``wav`` is ``[B, 1, N]`` float at :attr:`sample_rate`; codes are ``[B, Q, T]`` int64 at
:attr:`frame_rate`. Some tokenizers need side information besides codes to decode (a speaker
or timbre embedding): they list its names in :attr:`side_info_keys`, return it from
:meth:`encode_with_side` and take it back in :meth:`decode`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import torch

SideInfo = dict[str, torch.Tensor]


class Tokenizer(ABC):
    """Abstract speech tokenizer."""

    #: Registry name, written into saved configs so ``load_tokenizer`` can find the class.
    name: ClassVar[str] = ""
    #: Names of the tensors :meth:`decode` needs besides codes (empty for pure-code tokenizers).
    side_info_keys: ClassVar[tuple[str, ...]] = ()
    #: True when ``load_tokenizer(name, "owner/repo")`` loads what :meth:`push_to_hub` uploaded
    #: (the model card then shows that line; otherwise it shows ``snapshot_download`` + the folder).
    loads_pushed_repo_ids: ClassVar[bool] = False

    sample_rate: int
    frame_rate: float
    num_codebooks: int
    codebook_size: int

    @property
    def bitrate(self) -> float:
        """Bits per second at full depth: frames/s x codebooks x log2(codebook size)."""
        return self.bitrate_at(self.num_codebooks)

    def bitrate_at(self, n_q: int | None) -> float:
        n = self.num_codebooks if n_q is None else n_q
        return float(self.frame_rate) * n * math.log2(self.codebook_size)

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        """Entries of each codebook, in order (what a code of that row may index).

        The default is :attr:`codebook_size` for every one of :attr:`num_codebooks`; a tokenizer
        whose codebooks differ in size overrides this so :meth:`check_codes` can be exact.
        """
        return (int(self.codebook_size),) * int(self.num_codebooks)

    def check_codes(self, codes: torch.Tensor) -> None:
        """Reject codes :meth:`decode` cannot take, with a ``ValueError`` saying what is wrong.

        Checked before decoding so a code file made by another tool (or damaged) gives one clear
        message instead of an index error deep inside a quantizer: ``[B, Q, T]`` integers with
        ``1 <= Q <= num_codebooks``, ``T >= 1`` and row ``q`` inside ``[0, codebook_sizes[q])``.
        """
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise ValueError(f"codes have dtype {str(codes.dtype).replace('torch.', '')}; expected integers "
                             "(codebook indices)")
        if codes.dim() != 3:
            raise ValueError(f"codes have shape {list(codes.shape)}; expected [B, Q, T]")
        if codes.numel() == 0:
            raise ValueError(f"codes are empty (shape {list(codes.shape)})")
        if codes.shape[1] > self.num_codebooks:
            raise ValueError(f"codes have Q={codes.shape[1]} codebooks; the tokenizer has {self.num_codebooks}")
        for q, size in enumerate(self.codebook_sizes[: codes.shape[1]]):
            row = codes[:, q]
            lo, hi = int(row.min()), int(row.max())
            if lo < 0 or hi >= size:
                raise ValueError(f"codebook {q} holds values in [{lo}, {hi}]; they must lie in [0, {size})")

    def check_wav(self, wav: torch.Tensor, min_samples: int = 1) -> torch.Tensor:
        """Reject a waveform :meth:`encode` cannot take; return it unchanged otherwise.

        Every tokenizer validates its input the same way and with one error type,
        :class:`~tokenizer_bench.core.errors.WaveformError` (an ``AudioError`` and a ``ValueError``)
        naming the tokenizer and the problem: not ``[B, 1, N]``, several channels, not floating
        point, empty, shorter than ``min_samples`` (a model's receptive field), NaN or inf.
        """
        from tokenizer_bench.core.audio import check_waveform

        return check_waveform(wav, self.name or type(self).__name__, sample_rate=getattr(self, "sample_rate", None),
                              min_samples=min_samples)

    def check_n_q(self, n_q: int | None) -> int:
        """Validate ``n_q`` (None means all codebooks) and return the effective number."""
        if n_q is None:
            return self.num_codebooks
        if not 1 <= int(n_q) <= self.num_codebooks:
            raise ValueError(f"n_q must be between 1 and {self.num_codebooks}, got {n_q}")
        return int(n_q)

    @abstractmethod
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """``wav [B,1,N]`` -> ``codes [B,Q,T]`` (int64)."""

    def encode_with_side(self, wav: torch.Tensor, n_q: int | None = None) -> tuple[torch.Tensor, SideInfo]:
        """Codes plus whatever else :meth:`decode` needs; pure-code tokenizers return ``{}``."""
        return self.encode(wav, n_q=n_q), {}

    def code_embeddings(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes [B, Q, T]`` -> the vector each code stands for, ``[B, Q, D, T]`` (float).

        What the token-content probe trains on (benchmarks/harness/probe.py): for a residual-quantised
        codec the codebook row of each level (their sum over Q is the quantized latent the decoder sees).
        The default raises :class:`~tokenizer_bench.core.errors.NotApplicableError`, so a tokenizer
        whose codes carry no meaningful vectors is reported "not applicable" instead of guessed.
        """
        from tokenizer_bench.core.errors import NotApplicableError

        raise NotApplicableError(f"{self.name or type(self).__name__}: codes have no embedding vectors "
                                 "(code_embeddings is not implemented)")

    @abstractmethod
    def decode(self, codes: torch.Tensor, side: SideInfo | None = None) -> torch.Tensor:
        """``codes [B,Q,T]`` (Q may be below :attr:`num_codebooks`) -> ``wav [B,1,N']``."""

    def reconstruct(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor:
        """Encode then decode, trimmed or zero-padded to the input length."""
        codes, side = self.encode_with_side(wav, n_q=n_q)
        out = self.decode(codes, side=side or None)
        n = wav.shape[-1]
        if out.shape[-1] >= n:
            return out[..., :n]
        return torch.nn.functional.pad(out, (0, n - out.shape[-1]))

    @abstractmethod
    def save_pretrained(self, directory: str | Path) -> None:
        """Write weights (safetensors) and a JSON config that :meth:`from_pretrained` reads."""

    @classmethod
    @abstractmethod
    def from_pretrained(cls, directory: str | Path, **options) -> "Tokenizer":
        """Load what :meth:`save_pretrained` wrote (or the tokenizer's official layout)."""

    def push_to_hub(self, repo_id: str, *, private: bool = False, branch: str | None = None,
                    compare_results: str | Path | None = None, commit_message: str | None = None,
                    token: str | None = None) -> str:
        """Upload :meth:`save_pretrained`'s files and a generated model card to the hub repo ``repo_id``.

        As in the Hugging Face libraries; ``load_tokenizer(self.name, repo_id)`` loads it back (for
        tokenizers whose factory accepts hub ids). Returns the commit URL. See docs/hub.md.
        """
        from tokenizer_bench.core.publish import push_tokenizer

        return push_tokenizer(self, repo_id, private=private, branch=branch, compare_results=compare_results,
                              commit_message=commit_message, token=token)

    def weights_sha256(self) -> str | None:
        """A content hash of the tokenizer's weights (every tensor of its torch modules, by name),
        or None when it has none (e.g. ``identity``).

        ``encode`` records it in the code index so ``decode`` refuses codes made with other weights
        (a re-exported folder, a random init on each side); an exported folder records it in
        ``weights_hash.json``, which :func:`~tokenizer_bench.core.api.load_tokenizer` checks.
        """
        modules = [self] if isinstance(self, torch.nn.Module) else \
            [v for v in vars(self).values() if isinstance(v, torch.nn.Module)]
        if not modules:
            return None
        import hashlib

        digest = hashlib.sha256()
        for i, module in enumerate(modules):
            for key, tensor in sorted(module.state_dict().items()):
                digest.update(f"{i}.{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
                flat = tensor.detach().cpu().contiguous().reshape(-1)  # 0-d tensors cannot change dtype view
                digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        return digest.hexdigest()

    # Tokenizers are usually torch modules too; these defaults keep wrappers simple.
    def to(self, device: torch.device | str):  # type: ignore[override]
        return self

    def describe(self) -> dict:
        return {
            "name": self.name,
            "sample_rate": self.sample_rate,
            "frame_rate": self.frame_rate,
            "num_codebooks": self.num_codebooks,
            "codebook_size": self.codebook_size,
            "bitrate": self.bitrate,
        }


def read_saved_options(path: str | Path, tokenizer: str, *, name_optional: bool = False) -> dict:
    """The JSON options a wrapper wrote beside official weight files; ``{}`` when there is none.

    The file must be a mapping whose ``"tokenizer"`` is ``tokenizer`` (or, with ``name_optional``,
    has no such key); anything else is a :class:`CheckpointError` naming the file.
    """
    from tokenizer_bench.core.errors import CheckpointError
    from tokenizer_bench.core.io import read_json_object

    path = Path(path).expanduser()
    if not path.is_file():
        return {}
    data = read_json_object(path, f"{tokenizer} options file")
    found = data.get("tokenizer", tokenizer if name_optional else None)
    if found != tokenizer:
        raise CheckpointError(f"{path} is not a {tokenizer} tokenizer config (tokenizer={found!r})")
    return data


#: Written beside an exported tokenizer: the content hash of the weights it was saved with.
WEIGHTS_HASH_FILE = "weights_hash.json"


def record_weights_hash(tok: Tokenizer, directory: str | Path) -> str | None:
    """Write :data:`WEIGHTS_HASH_FILE` into ``directory`` (after ``save_pretrained``); returns the hash."""
    from tokenizer_bench.core.io import write_json_atomic

    digest = tok.weights_sha256()
    if digest is not None:
        write_json_atomic(Path(directory) / WEIGHTS_HASH_FILE, {"tokenizer": tok.name, "sha256": digest})
    return digest


def verify_weights_hash(tok: Tokenizer, directory: str | Path) -> None:
    """A :class:`CheckpointError` when ``directory`` records a weights hash that ``tok`` (loaded
    from it) does not have: the weights file was replaced or damaged after the export."""
    from tokenizer_bench.core.errors import CheckpointError
    from tokenizer_bench.core.io import read_json_object

    path = Path(directory) / WEIGHTS_HASH_FILE
    if not path.is_file():
        return
    expected = read_json_object(path, "weights hash").get("sha256")
    if not isinstance(expected, str):
        raise CheckpointError(f"{path}: no 'sha256' string")
    found = tok.weights_sha256()
    if found is not None and found != expected:
        raise CheckpointError(f"{path}: the weights in {directory} do not match the hash recorded at export "
                              f"({found[:12]}... vs {expected[:12]}...); the folder was changed or damaged after "
                              "it was written: export it again")
