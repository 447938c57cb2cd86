"""tokenizer-bench: speech tokenizers assembled from plugins, trained and compared on one benchmark.

Public API::

    import tokenizer_bench
    tok = tokenizer_bench.load_tokenizer("dm_codec", checkpoint="runs/demo/export")
    codes = tok.encode(wav)          # [B, Q, T]
    wav_hat = tok.decode(codes)      # [B, 1, N']
"""

from __future__ import annotations

__version__ = "0.1.0"

from tokenizer_bench.core.api import list_components, load_tokenizer  # noqa: E402
from tokenizer_bench.core.hookspecs import hookimpl  # noqa: E402
from tokenizer_bench.core.tokenizer import Tokenizer  # noqa: E402

__all__ = ["__version__", "hookimpl", "list_components", "load_tokenizer", "Tokenizer"]
