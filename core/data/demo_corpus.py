"""A small synthetic English corpus for the offline demo (``tokenizer-bench train demo.yaml``).

Why: on a fresh machine with no LibriSpeech and no model hub, the quick start must still run end
to end. The sentences below (written for this project) are spoken by eSpeak NG, which the PyPI
package ``espeakng-loader`` ships as a shared library plus its data; we drive its C API through
ctypes. Several voice variants, rates and pitches stand in for speakers. The result is a
LibriSpeech-style folder (``<speaker>/<chapter>/<spk>-<ch>-<utt>.flac`` plus ``.trans.txt``)
that every loader of the project reads. It is robotic speech: good enough to exercise the whole
pipeline (STT, LM teacher, training, export), not to train a useful codec.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tokenizer_bench.core.errors import MissingDependencyError

SENTENCES: tuple[str, ...] = (
    "The little boat drifted slowly toward the quiet harbour.",
    "She opened the window and let the morning air inside.",
    "A cold wind blew across the empty field all night.",
    "He forgot his umbrella on the train again.",
    "The old clock in the hall stopped at midnight.",
    "Bright lamps lit the narrow street after the rain.",
    "They planted seven apple trees behind the barn.",
    "My brother reads the newspaper every Sunday morning.",
    "The bread was warm and the butter was soft.",
    "Please close the door when you leave the room.",
    "The children laughed as the puppy chased its tail.",
    "We walked along the river until the sun went down.",
    "A loud knock at the door woke the sleeping cat.",
    "The teacher wrote a long sentence on the board.",
    "Fresh snow covered the roofs of the village.",
    "He poured a cup of tea and sat by the fire.",
    "The train to the city leaves at half past eight.",
    "She painted the fence a pale shade of green.",
    "The market sells fish, cheese and ripe tomatoes.",
    "Our neighbour grows tall sunflowers in his garden.",
    "The pilot spoke calmly to the passengers.",
    "Thick fog rolled in from the sea before dawn.",
    "A small bird built a nest under the bridge.",
    "The museum opens its doors at ten o'clock.",
    "He counted the coins twice before paying.",
    "The soup needs a little more salt and pepper.",
    "Two horses grazed peacefully in the meadow.",
    "The library was silent except for turning pages.",
    "She kept her letters in a wooden box.",
    "The storm knocked down three trees near the school.",
    "We found an old map hidden in the attic.",
    "The baker wakes up long before anyone else.",
    "A gentle rain fell on the tin roof.",
    "The captain ordered the crew to raise the sails.",
    "His shoes were covered in mud from the path.",
    "The mountain road twists and turns for miles.",
    "She whistled a tune while washing the dishes.",
    "The lights of the town shone across the bay.",
    "He carried the heavy box up four flights of stairs.",
    "The farmer sold his corn at the autumn fair.",
    "A yellow kite danced high above the hill.",
    "The kettle began to sing on the stove.",
    "They waited patiently for the bus in the cold.",
    "The river froze solid during the long winter.",
    "Her grandmother told stories of the old days.",
    "The orchestra tuned their instruments before the concert.",
    "A fox crept quietly past the sleeping hens.",
    "The guide pointed to a castle on the ridge.",
    "He tied the rope firmly around the post.",
    "The garden smelled of roses after the shower.",
    "Every morning she runs along the beach.",
    "The students listened closely to the lecture.",
    "A candle flickered in the dark hallway.",
    "The ship sailed west across the open ocean.",
    "We packed sandwiches and apples for the journey.",
    "The doctor asked him to breathe slowly.",
    "The clouds turned pink as the sun set.",
    "She sewed a button back onto his coat.",
    "The workers repaired the bridge in one week.",
    "A quiet voice answered from the other room.",
)

#: Held-out sentences (none of them in SENTENCES): what the demo's export is scored on.
HELD_OUT_SENTENCES: tuple[str, ...] = (
    "The postman left a parcel by the garden gate.",
    "A warm breeze carried the smell of fresh hay.",
    "Her brother fixed the broken chair with glue.",
    "The lake was calm and the sky was clear.",
    "We heard the church bells ring across the valley.",
    "He wrote his name at the top of the page.",
    "The cat slept all afternoon in the sunny window.",
    "Three boys raced their bicycles down the lane.",
)

#: (voice, words per minute, pitch 0..100) per synthetic speaker. Only variants that eSpeak NG
#: renders identically in every process: its breathy variants (f2, f3, f5) add noise from a
#: time-seeded generator, so a corpus spoken with them differs from run to run.
SPEAKERS: tuple[tuple[str, int, int], ...] = (
    ("en-us", 165, 50),
    ("en-us+f1", 150, 60),
    ("en+m3", 175, 40),
    ("en-us+f4", 140, 70),
)

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_lock = threading.Lock()
_engine: "_ESpeak | None" = None


@dataclass
class _ESpeak:
    lib: ctypes.CDLL
    sample_rate: int
    callback: object  # kept alive: the C library holds a pointer to it
    chunks: list


def _engine_or_raise() -> _ESpeak:
    """Initialise libespeak-ng once per process (its state is global)."""
    global _engine
    if _engine is not None:
        return _engine
    try:
        import espeakng_loader
    except ImportError as exc:
        raise MissingDependencyError(
            "the demo corpus is synthesised with eSpeak NG from the PyPI package 'espeakng-loader': "
            "pip install espeakng-loader  (or tokenizer-bench[tts]), or point data.train at real speech"
        ) from exc
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
        ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
    ]
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if sr <= 0:
        raise MissingDependencyError(f"eSpeak NG failed to initialise (code {sr})")
    chunks: list = []
    proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def on_audio(wav, n, _events):  # called by espeak_Synth with 16-bit PCM blocks
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    cb = proto(on_audio)
    lib.espeak_SetSynthCallback(cb)
    _engine = _ESpeak(lib, int(sr), cb, chunks)
    return _engine


def synthesize(text: str, voice: str = "en-us", rate: int = 165, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speak ``text``; returns float32 mono samples in [-1, 1] and eSpeak's sample rate (22050)."""
    with _lock:
        eng = _engine_or_raise()
        if eng.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise MissingDependencyError(f"eSpeak NG has no voice {voice!r}")
        eng.lib.espeak_SetParameter(_RATE, int(rate), 0)
        eng.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        eng.chunks.clear()
        data = text.encode("utf-8")
        err = eng.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        eng.lib.espeak_Synchronize()
        if err != 0 or not eng.chunks:
            raise MissingDependencyError(f"eSpeak NG could not synthesise {text!r} (code {err})")
        pcm = np.concatenate(eng.chunks)
        eng.chunks.clear()
    return (pcm.astype(np.float32) / 32768.0), eng.sample_rate


def demo_corpus_complete(root: str | Path) -> bool:
    return (Path(root) / ".complete").is_file()


def build_demo_corpus(
    root: str | Path,
    *,
    num_utterances: int = 60,
    sample_rate: int = 16000,
    seed: int = 42,
    held_out: bool = False,
) -> Path:
    """Write the demo corpus to ``root`` (atomically: a temp folder renamed into place).

    Utterance ``i`` speaks ``SENTENCES[i % len]`` with speaker ``i % len(SPEAKERS)``; ``seed``
    jitters each utterance's rate and pitch slightly so repeated sentences differ. ``held_out``
    speaks :data:`HELD_OUT_SENTENCES` instead (same voices, sentences the training never hears,
    chapter ``2`` so ids never collide with the training corpus): the demo's evaluation set.
    """
    import soundfile as sf

    from tokenizer_bench.core.audio import resample

    root = Path(root)
    if demo_corpus_complete(root):
        return root
    if num_utterances < 1:
        raise ValueError("num_utterances must be >= 1")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    rng = np.random.default_rng(seed)
    try:
        transcripts: dict[Path, list[str]] = {}
        for i in range(num_utterances):
            spk = i % len(SPEAKERS)
            voice, rate, pitch = SPEAKERS[spk]
            sentences = HELD_OUT_SENTENCES if held_out else SENTENCES
            text = sentences[i % len(sentences)]
            rate_i = int(rate + rng.integers(-10, 11))
            pitch_i = int(np.clip(pitch + rng.integers(-8, 9), 0, 100))
            pcm, sr = synthesize(text, voice, rate_i, pitch_i)
            wav = resample(pcm, sr, sample_rate).numpy()
            speaker, chapter = f"{9000 + spk}", "2" if held_out else "1"
            uid = f"{speaker}-{chapter}-{i // len(SPEAKERS):04d}"
            folder = tmp / speaker / chapter
            folder.mkdir(parents=True, exist_ok=True)
            sf.write(folder / f"{uid}.flac", np.clip(wav, -1, 1), sample_rate, subtype="PCM_16")
            words = "".join(c if c.isalpha() or c in " '" else " " for c in text.upper())
            transcripts.setdefault(folder / f"{speaker}-{chapter}.trans.txt", []).append(
                f"{uid} {' '.join(words.split())}"
            )
        for path, lines in transcripts.items():
            path.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
        (tmp / "README.txt").write_text(
            "Synthetic demo corpus: sentences written for tokenizer-bench, spoken by eSpeak NG "
            "(espeakng-loader). LibriSpeech-style layout. Regenerate with "
            "tokenizer_bench.core.data.demo_corpus.build_demo_corpus.\n",
            encoding="utf-8",
        )
        (tmp / ".complete").write_text(f"{num_utterances} {sample_rate} {seed}\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)  # an earlier incomplete attempt (no .complete marker)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
