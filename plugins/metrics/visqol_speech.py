"""ViSQOL v3 in speech mode (16 kHz) with the deep-lattice quality mapper, via ``visqol-python``.

The C++ ViSQOL's speech mode maps similarity to MOS-LQO with a lattice model by default; the
pure-Python port reproduces that when its ``[lattice]`` extra (``ai-edge-litert``) is installed.
We ask for the lattice model explicitly (``use_lattice_model=True``): without the runtime the port
would silently fall back to a polynomial mapping that over-predicts MOS by 1-2 points, so a missing
runtime must disable the metric instead. The MOS of a signal compared with itself is not 5 with
the lattice model (about 4.07 on LibriSpeech speech), so compare systems with each other and with
the identity tokenizer, not with 5.
"""

from __future__ import annotations

import logging
import sys

import numpy as np

from tokenizer_bench.core.interfaces import MetricMeta, MetricNeeds

from tokenizer_bench.plugins.metrics._common import mono_pair


_NOTED: set[str] = set()


def numba_active() -> bool:
    """Whether visqol-python's numba kernels are in use (False also when visqol is not installed)."""
    try:
        from visqol.numba_accel import has_numba
    except ImportError:
        return False
    return bool(has_numba())


def _note_once(text: str) -> None:
    if text not in _NOTED:
        _NOTED.add(text)
        print(f"note: {text}", file=sys.stderr)


class ViSQOL:
    """ViSQOL MOS-LQO, speech mode at 16 kHz, lattice mapper (1..5, higher is better)."""

    name = "visqol"
    meta = MetricMeta(higher_is_better=True, display="ViSQOL", decimals=2, kind="audio")
    needs = MetricNeeds(reference_audio=True, packages=("visqol", "ai_edge_litert"), sample_rate=16000)

    def __init__(self, search_window: int = 60) -> None:
        self.search_window = int(search_window)
        self._api = None
        if not numba_active():
            _note_once("ViSQOL: numba is not importable here, so visqol-python runs its pure-Python loops "
                       "(about 6x slower, same scores); pip install numba")

    def _get_api(self):
        if self._api is None:
            from visqol import VisqolApi

            # The port logs one INFO line per mapper creation and a warning per duration mismatch;
            # the harness records its own reasons, so keep the console readable.
            logging.getLogger("visqol").setLevel(logging.ERROR)
            api = VisqolApi()
            api.create(mode="speech", use_lattice_model=True, search_window=self.search_window)
            self._api = api
        return self._api

    def __call__(self, *, reference: np.ndarray, estimate: np.ndarray, sample_rate: int, **_: object) -> float:
        ref, est = mono_pair(reference, estimate)
        if int(sample_rate) != 16000:
            raise ValueError(f"ViSQOL speech mode needs 16 kHz input, got {sample_rate} Hz")
        result = self._get_api().measure_from_arrays(ref, est, 16000)
        return float(result.moslqo)

    def __getstate__(self) -> dict:  # metric worker processes build their own API object
        state = dict(self.__dict__)
        state["_api"] = None
        return state


def register_metrics(register) -> None:
    register("visqol", ViSQOL)
