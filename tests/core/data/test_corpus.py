"""Listing LibriSpeech folders, JSONL manifests and plain audio folders."""

import json

import pytest

from tokenizer_bench.core.data import Utterance, list_utterances
from tokenizer_bench.core.errors import ConfigError


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # listing never decodes audio
    return path


@pytest.fixture
def libri(tmp_path):
    root = tmp_path / "LibriSpeech" / "dev"
    for uid in ("19-198-0001", "19-198-0000", "26-495-0000"):
        spk, chap, _ = uid.split("-")
        touch(root / spk / chap / f"{uid}.flac")
    (root / "19" / "198" / "19-198.trans.txt").write_text("19-198-0000 HELLO WORLD\n19-198-0001 SECOND ONE\n")
    return root


def test_librispeech_layout_sorted_with_optional_text(libri):
    utts = list_utterances([libri])
    assert [u.id for u in utts] == ["19-198-0000", "19-198-0001", "26-495-0000"]
    assert [u.text for u in utts] == ["HELLO WORLD", "SECOND ONE", None]  # 26-495 has no .trans.txt
    assert utts[0].path == libri / "19" / "198" / "19-198-0000.flac"
    assert list_utterances(str(libri), "librispeech", max_utterances=2)[-1].id == "19-198-0001"


def test_bad_transcript_line_names_file_and_line(libri):
    (libri / "19" / "198" / "19-198.trans.txt").write_text("19-198-0000 HELLO\nGARBAGE\n")
    with pytest.raises(ConfigError, match=r"19-198\.trans\.txt:2"):
        list_utterances([libri])


def test_manifest_relative_and_absolute_paths(tmp_path):
    other = touch(tmp_path / "elsewhere" / "x.wav")
    lines = [
        {"id": "b", "path": "audio/b.flac", "text": "BEE", "num_samples": 16000, "sample_rate": 16000},
        {"path": str(other)},
        {"id": "a", "path": "audio/a.flac", "text": None, "speaker": "9"},
    ]
    man = tmp_path / "data" / "manifest.jsonl"
    man.parent.mkdir()
    man.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    utts = list_utterances([man])
    assert [u.id for u in utts] == ["a", "b", "x"]
    assert utts[0] == Utterance("a", man.parent / "audio" / "a.flac", None)
    assert utts[1].duration == 1.0 and utts[1].text == "BEE"
    assert utts[2].path == other


@pytest.mark.parametrize(
    "line,match",
    [
        ('{"path": "a.wav",', r"manifest\.jsonl:2: invalid JSON"),
        ('{"id": "x"}', r"manifest\.jsonl:2: missing or empty 'path'"),
        ('["a.wav"]', r"manifest\.jsonl:2: expected a JSON object"),
        ('{"path": "a.wav", "num_samples": "many"}', r"manifest\.jsonl:2: 'num_samples'"),
        ('{"path": "a.wav", "text": 5}', r"manifest\.jsonl:2: 'text'"),
    ],
)
def test_bad_manifest_lines_name_file_and_line(tmp_path, line, match):
    man = tmp_path / "manifest.jsonl"
    man.write_text('{"path": "ok.wav"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=match):
        list_utterances([man])


def test_plain_folder_with_sidecar_text(tmp_path):
    touch(tmp_path / "clips" / "sub" / "b.wav")
    touch(tmp_path / "clips" / "a.ogg")
    (tmp_path / "clips" / "a.txt").write_text("some words\n")
    (tmp_path / "clips" / "notes.md").write_text("ignored")
    utts = list_utterances([tmp_path / "clips"])
    assert [(u.id, u.text) for u in utts] == [("a", "some words"), ("sub/b", None)]


def test_several_sources_merge_and_duplicates_are_errors(tmp_path, libri):
    touch(tmp_path / "more" / "zzz.wav")
    assert len(list_utterances([libri, tmp_path / "more"])) == 4
    touch(tmp_path / "dup" / "19-198-0000.flac")
    with pytest.raises(ConfigError, match="duplicate utterance id '19-198-0000'"):
        list_utterances([libri, tmp_path / "dup"])


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        list_utterances([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no utterances found"):
        list_utterances([tmp_path / "empty"])
    with pytest.raises(ConfigError, match="unknown format"):
        list_utterances([tmp_path], format="kaldi")


def test_librispeech_mini_manifest_and_folder_agree(librispeech_mini):
    from_manifest = list_utterances([librispeech_mini / "manifest.jsonl"])
    from_folder = list_utterances([librispeech_mini])
    assert len(from_manifest) == len(from_folder) == 355
    assert [u.id for u in from_manifest] == [u.id for u in from_folder]
    assert [u.path for u in from_manifest] == [u.path for u in from_folder]
    assert [u.text for u in from_manifest] == [u.text for u in from_folder]  # trans.txt == manifest text
