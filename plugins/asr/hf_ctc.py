"""CTC speech recognition through Hugging Face transformers (e.g. ``facebook/wav2vec2-base-960h``).

Batched, greedy (arg-max) CTC decoding with the model's own processor. Batches are padded with
an attention mask when the feature extractor asks for one (wav2vec2-large-lv60 style models) and
otherwise processed one utterance at a time, because base models trained without masks change
their output when zero padding is appended.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tokenizer_bench.core.errors import MissingDependencyError

from tokenizer_bench.plugins._pretrained import from_pretrained
from tokenizer_bench.plugins.asr._common import asr_hint, require_packages


class HFCTCASR:
    """CTC ASR (transformers AutoModelForCTC); default facebook/wav2vec2-base-960h."""

    name = "hf_ctc"
    sample_rate = 16000

    def __init__(self, model: str | Path = "facebook/wav2vec2-base-960h", device: str = "cpu", batch_size: int = 8,
                 local_files_only: bool = False, revision: str | None = None) -> None:
        require_packages(self.name, "transformers")
        import torch
        from transformers import AutoModelForCTC, AutoProcessor

        self.model_id = str(model) + (f"@{revision}" if revision else "")
        self.device = torch.device(device)
        how = dict(local_files_only=local_files_only, hint=asr_hint("--asr faster_whisper (offline Whisper tiny.en)"),
                   error=MissingDependencyError)
        self.processor = from_pretrained(AutoProcessor, model, f"ASR backend {self.name!r} (CTC processor)", revision,
                                         **how)
        self.model = from_pretrained(AutoModelForCTC, model, f"ASR backend {self.name!r} (CTC model)", revision,
                                     **how).to(self.device).eval()
        fe = getattr(self.processor, "feature_extractor", self.processor)
        self.sample_rate = int(getattr(fe, "sampling_rate", 16000))
        self.batch_size = int(batch_size) if getattr(fe, "return_attention_mask", False) else 1

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "decoding": "greedy-ctc"}

    def transcribe(self, wavs: Sequence[np.ndarray]) -> list[str]:
        import torch

        arrays = [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]
        out: list[str] = []
        for i in range(0, len(arrays), self.batch_size):
            batch = arrays[i : i + self.batch_size]
            inputs = self.processor(batch, sampling_rate=self.sample_rate, return_tensors="pt", padding=True)
            kwargs = {"attention_mask": inputs["attention_mask"].to(self.device)} if "attention_mask" in inputs else {}
            with torch.inference_mode():
                logits = self.model(inputs["input_values"].to(self.device), **kwargs).logits
            ids = logits.argmax(dim=-1)
            out.extend(t.strip() for t in self.processor.batch_decode(ids))
        return out


def register_asr_backends(register) -> None:
    register("hf_ctc", HFCTCASR)
