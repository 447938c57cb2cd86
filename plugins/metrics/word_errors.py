"""Word error rate (WER) and word information lost (WIL) of ASR transcripts, via ``jiwer``.

References and hypotheses are both passed through Whisper's English text normaliser
(``whisper_normalizer.english.EnglishTextNormalizer``: lower case, punctuation removed, numbers
and British spellings standardised, "Mr." -> "mister"), so "Mr. Hale" and "MISTER HALE" match.

Two aggregates exist and the harness reports both:

- per utterance (the paper's Table 2: mean and std over sentences): :meth:`__call__`;
- corpus level over all sentences concatenated (the paper's Table 1): :meth:`corpus_score`,
  which joins every normalised reference into one word sequence, likewise every hypothesis, and
  scores the pair once. Values are percentages.
"""

from __future__ import annotations

import functools
from typing import Sequence

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds


@functools.lru_cache(maxsize=1)
def _normaliser():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalise(text: str) -> str:
    """Whisper English normalisation, whitespace collapsed."""
    return " ".join(_normaliser()(text or "").split())


def word_measures(reference: str, hypothesis: str) -> dict[str, float]:
    """Counts and rates for one normalised pair: hits, substitutions, deletions, insertions, wer, wil."""
    import jiwer

    if not reference.split():
        raise ValueError("reference transcript is empty after normalisation")
    out = jiwer.process_words(reference, hypothesis if hypothesis.split() else "")
    return {
        "hits": out.hits,
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "wer": 100.0 * out.wer,
        "wil": 100.0 * out.wil,
    }


class _WordMetric:
    needs = MetricNeeds(reference_audio=False, reference_text=True, transcript=True,
                        packages=("jiwer", "whisper_normalizer"))
    _key = ""

    def __call__(self, *, reference_text: str | None, transcript: str | None, **_: object) -> float:
        if reference_text is None:
            raise ValueError("no reference transcript for this utterance")
        if transcript is None:
            raise ValueError("no ASR transcript")
        return word_measures(normalise(reference_text), normalise(transcript))[self._key]

    def corpus_score(self, references: Sequence[str], hypotheses: Sequence[str]) -> float:
        """Score over all sentences concatenated (normalised, joined with spaces)."""
        if len(references) != len(hypotheses):
            raise ValueError("references and hypotheses differ in number")
        ref = " ".join(normalise(r) for r in references)
        hyp = " ".join(normalise(h) for h in hypotheses)
        return word_measures(" ".join(ref.split()), " ".join(hyp.split()))[self._key]


class WER(_WordMetric):
    """Word error rate in percent, Whisper-normalised text (lower is better)."""

    name = "wer"
    meta = MetricMeta(higher_is_better=False, display="WER", unit="%", decimals=2, aggregate="corpus",
                      kind="text")
    _key = "wer"


class WIL(_WordMetric):
    """Word information lost in percent, Whisper-normalised text (lower is better)."""

    name = "wil"
    meta = MetricMeta(higher_is_better=False, display="WIL", unit="%", decimals=2, aggregate="corpus",
                      kind="text")
    _key = "wil"


def register_metrics(register) -> None:
    register("wer", WER)
    register("wil", WIL)
