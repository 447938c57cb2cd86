"""Word timings for a given text from another transcript of the same audio.

Used by the STT teachers that cannot force-align (Whisper, PocketSphinx) when
``teachers.transcripts: dataset``: the audio is transcribed, the reference words are matched to
the hypothesis words (``difflib`` on normalised words), and

* a matched word takes the hypothesis word's timing;
* a run of substituted reference words shares the time span of the hypothesis words it replaces,
  split in proportion to the words' lengths in characters;
* reference words the STT missed (deletions) share the gap between their timed neighbours
  (zero-length when there is no gap).

The transcript's ``notes`` record how many words were matched exactly.
"""

from __future__ import annotations

import difflib
import re

from tokenizer_bench.core.interfaces_teachers import Transcript


def normalise_word(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _spread(words: list[str], start: float, end: float) -> list[tuple[float, float]]:
    weights = [max(len(w), 1) for w in words]
    total = float(sum(weights))
    out, t = [], start
    for w in weights:
        dur = (end - start) * w / total
        out.append((t, t + dur))
        t += dur
    return out


def transfer_timings(text: str, hypothesis: Transcript, source: str) -> Transcript:
    """``text``'s words timed from ``hypothesis`` (see the module docstring)."""
    ref = Transcript.from_text(text, source=source)
    hyp = hypothesis.words
    if not ref.words:
        return ref
    if not hyp:
        ref.notes.append("the STT heard no words; every word got zero-length timing at 0 s")
        return ref
    a = [normalise_word(w.word) for w in ref.words]
    b = [normalise_word(w.word) for w in hyp]
    timings: list[tuple[float, float] | None] = [None] * len(a)
    matched = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                timings[i1 + k] = (hyp[j1 + k].start, hyp[j1 + k].end)
            matched += i2 - i1
        elif tag == "replace":
            span = _spread([w.word for w in ref.words[i1:i2]], hyp[j1].start, hyp[j2 - 1].end)
            timings[i1:i2] = span
    # deletions: share the gap between the neighbours
    i = 0
    while i < len(timings):
        if timings[i] is not None:
            i += 1
            continue
        j = i
        while j < len(timings) and timings[j] is None:
            j += 1
        left = timings[i - 1][1] if i > 0 else 0.0
        right = timings[j][0] if j < len(timings) else max(left, hyp[-1].end)
        timings[i:j] = _spread([w.word for w in ref.words[i:j]], left, max(left, right))
        i = j
    for w, (s, e) in zip(ref.words, timings):
        w.start, w.end = float(s), float(max(s, e))
    ref.notes.append(f"timings transferred from the STT transcript: {matched}/{len(a)} words matched exactly")
    return ref
