"""``stt_hf_ctc``: a Hugging Face CTC model (wav2vec2-base-960h, the paper's STT) with word timings.

Transcription is greedy CTC decoding. Word timings come from the CTC frames themselves: every
emitted character is a run of identical non-blank frames; a word (characters between word
delimiters ``|``) starts at the first frame of its first character and ends after the last frame
of its last character. Frame f covers ``[f, f + 1) * stride / sample_rate`` seconds (20 ms for
wav2vec2; the true receptive field is 25 ms, so timings are early by at most half of 5 ms).

``align(wav, text)`` force-aligns a *given* text (``teachers.transcripts: dataset``) with the
CTC Viterbi path over ``blank, c1, blank, c2, ...`` — the best frame-level path that spells
exactly that text. Characters the vocabulary lacks are dropped from the alignment (noted); if
the audio is too short for the text, the text's timings are transferred from the greedy
transcript instead (noted).
"""

from __future__ import annotations

import numpy as np
import torch

from tokenizer_bench.core.interfaces_teachers import Transcript

from tokenizer_bench.plugins._pretrained import from_pretrained
from tokenizer_bench.plugins.teachers._common import freeze, mono_1d, resolve_device
from tokenizer_bench.plugins.teachers._words import transfer_timings

Run = tuple[int, int, int]  # (token id, first frame, last frame)


def ctc_runs(frame_ids: list[int], blank: int) -> list[Run]:
    """Collapse a frame-level CTC path into emitted tokens with their frame spans."""
    runs: list[Run] = []
    prev = None
    for f, i in enumerate(frame_ids):
        if i == prev:
            if i != blank:
                runs[-1] = (i, runs[-1][1], f)
            continue
        prev = i
        if i != blank:
            runs.append((i, f, f))
    return runs


def runs_to_words(
    runs: list[Run], id_to_token: dict[int, str], delimiter: str, seconds_per_frame: float, skip: set[int] = frozenset()
) -> list[tuple[str, float, float]]:
    """Group emitted tokens into words at ``delimiter``; ``(word, start_s, end_s)``."""
    words: list[tuple[str, float, float]] = []
    chars: list[str] = []
    first = last = 0
    for tok_id, a, b in runs:
        if tok_id in skip:
            continue
        tok = id_to_token[tok_id]
        if tok == delimiter:
            if chars:
                words.append(("".join(chars), first * seconds_per_frame, (last + 1) * seconds_per_frame))
            chars = []
            continue
        if not chars:
            first = a
        chars.append(tok)
        last = b
    if chars:
        words.append(("".join(chars), first * seconds_per_frame, (last + 1) * seconds_per_frame))
    return words


def ctc_viterbi(log_probs: np.ndarray, targets: list[int], blank: int) -> list[int] | None:
    """Most likely frame-level path ``[T]`` spelling ``targets`` (standard CTC topology), or None if impossible."""
    T = log_probs.shape[0]
    ext = [blank]
    for t in targets:
        ext += [t, blank]
    S = len(ext)
    ext_arr = np.asarray(ext)
    neg = -np.inf
    # transitions into s: from s, s-1, and s-2 when ext[s] is a label different from ext[s-2]
    skip_ok = np.zeros(S, dtype=bool)
    skip_ok[2:] = (ext_arr[2:] != blank) & (ext_arr[2:] != ext_arr[:-2])
    score = np.full(S, neg)
    score[0] = log_probs[0, ext[0]]
    if S > 1:
        score[1] = log_probs[0, ext[1]]
    back = np.zeros((T, S), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    for t in range(1, T):
        stay = score
        step = np.concatenate(([neg], score[:-1]))
        jump = np.where(skip_ok, np.concatenate(([neg, neg], score[:-2])), neg)
        stacked = np.stack([stay, step, jump])
        choice = stacked.argmax(axis=0)
        score = stacked[choice, np.arange(S)] + log_probs[t, ext_arr]
        back[t] = choice
    ends = [S - 1, S - 2] if S > 1 else [0]
    end = max(ends, key=lambda s: score[s])
    if not np.isfinite(score[end]):
        return None
    path = [0] * T
    s = end
    for t in range(T - 1, -1, -1):
        path[t] = ext[s]
        s -= int(back[t, s])
    return path


class HFCTCTranscriber:
    """Frozen CTC speech recogniser (``facebook/wav2vec2-base-960h`` by default)."""

    role = "stt"

    def __init__(self, model: str = "facebook/wav2vec2-base-960h", device: str = "auto",
                 revision: str | None = None) -> None:
        from transformers import AutoFeatureExtractor, AutoModelForCTC, AutoTokenizer

        self.model_name = str(model)
        self.device = resolve_device(device)
        self.tokenizer = from_pretrained(AutoTokenizer, model, "teachers.stt (tokenizer)", revision)
        self.feature_extractor = from_pretrained(AutoFeatureExtractor, model, "teachers.stt (feature extractor)",
                                                 revision)
        self.model = freeze(from_pretrained(AutoModelForCTC, model, "teachers.stt", revision)).to(self.device)
        self.sample_rate = int(getattr(self.feature_extractor, "sampling_rate", 16000))
        ratio = getattr(self.model.config, "inputs_to_logits_ratio", None)
        if ratio is None:
            ratio = int(np.prod(self.model.config.conv_stride))
        self.seconds_per_frame = float(ratio) / self.sample_rate
        self.blank = int(self.tokenizer.pad_token_id)
        self.delimiter = getattr(self.tokenizer, "word_delimiter_token", None) or "|"
        vocab = self.tokenizer.get_vocab()
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.token_to_id = dict(vocab)
        self.skip_ids = {int(i) for i in self.tokenizer.all_special_ids if i != self.blank}

    @torch.no_grad()
    def log_probs(self, wav: torch.Tensor) -> torch.Tensor:
        """``[frames, vocab]`` CTC log-probabilities."""
        wav = mono_1d(wav)
        inputs = self.feature_extractor(wav.numpy(), sampling_rate=self.sample_rate, return_tensors="pt")
        values = inputs["input_values"]
        if values.shape[-1] < 400:  # shorter than one receptive field: pad so the model yields a frame
            values = torch.nn.functional.pad(values, (0, 400 - values.shape[-1]))
        logits = self.model(values.to(self.device)).logits[0].float().cpu()
        return torch.log_softmax(logits, dim=-1)

    def transcribe(self, wav: torch.Tensor) -> Transcript:
        return self._greedy(self.log_probs(wav))

    def _greedy(self, lp: torch.Tensor) -> Transcript:
        runs = ctc_runs(lp.argmax(dim=-1).tolist(), self.blank)
        words = runs_to_words(runs, self.id_to_token, self.delimiter, self.seconds_per_frame, self.skip_ids)
        return Transcript.from_words(words, source="stt_hf_ctc")

    def _target_ids(self, word: str) -> list[int]:
        ids = []
        for ch in word:
            for cand in (ch, ch.upper(), ch.lower()):
                if cand in self.token_to_id and self.token_to_id[cand] not in self.skip_ids:
                    ids.append(self.token_to_id[cand])
                    break
        return ids

    def align(self, wav: torch.Tensor, text: str) -> Transcript:
        lp = self.log_probs(wav)
        ref = Transcript.from_text(text, source="dataset+ctc_forced_alignment")
        if not ref.words:
            return ref
        per_word = [self._target_ids(w.word) for w in ref.words]
        dropped = sum(len(w.word) - len(ids) for w, ids in zip(ref.words, per_word))
        delim = self.token_to_id.get(self.delimiter)
        targets: list[int] = []
        owner: list[int] = []  # word index of each target (-1 for delimiters)
        for k, ids in enumerate(per_word):
            if not ids:
                continue
            if targets and delim is not None:
                targets.append(delim)
                owner.append(-1)
            targets += ids
            owner += [k] * len(ids)
        path = ctc_viterbi(lp.numpy().astype(np.float64), targets, self.blank) if targets else None
        if path is None:
            out = transfer_timings(text, self._greedy(lp), "dataset+stt_hf_ctc_transfer")
            out.notes.append("forced alignment impossible (audio too short for the text); timings transferred")
            return out
        runs = ctc_runs(path, self.blank)
        # runs follow the targets one to one, except repeated labels split by a blank: map in order
        spans: dict[int, list[int]] = {}
        ti = 0
        for tok, a, b in runs:
            while ti < len(targets) and targets[ti] != tok:
                ti += 1
            if ti >= len(targets):
                break
            k = owner[ti]
            if k >= 0:
                s = spans.setdefault(k, [a, b])
                s[0], s[1] = min(s[0], a), max(s[1], b)
            ti += 1
        prev_end = 0.0
        missing = 0
        for k, w in enumerate(ref.words):
            if k in spans:
                w.start = spans[k][0] * self.seconds_per_frame
                w.end = (spans[k][1] + 1) * self.seconds_per_frame
                prev_end = w.end
            else:
                missing += 1
                w.start = w.end = prev_end
        if dropped:
            ref.notes.append(f"{dropped} character(s) not in the CTC vocabulary were ignored by the alignment")
        if missing:
            ref.notes.append(f"{missing} word(s) without alignable characters got zero-length timings")
        return ref


def register_teachers(register) -> None:
    register(
        "stt_hf_ctc",
        HFCTCTranscriber,
        "Hugging Face CTC speech-to-text (wav2vec2-base-960h) with CTC word timings",
        cache_packages=("transformers",),
    )


__all__ = ["HFCTCTranscriber", "ctc_runs", "ctc_viterbi", "runs_to_words"]
