"""The bad-input battery: every command of the real command line (``core.cli.app.run``, the entry
point's error boundary) fed bad or unusual input, each case with the outcome that
docs/cli_errors.md documents for it (exit code and the words the user reads).

Most cases run in this process (``run(argv)`` is what the ``tokenizer-bench`` script calls, with
the same parsing and error handling); a few run the real script in a subprocess where only a
process shows the behaviour (Ctrl-C, ``--debug``, exit status of the interpreter). No output of
any case may hold a traceback. Tiny models (hop 16 samples) keep each case well under a second.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from tokenizer_bench.core.cli.app import run
from tokenizer_bench.core.cli.codec import encode_files
from tokenizer_bench.core.config import validate
from tokenizer_bench.core.tokenizer import record_weights_hash
from tokenizer_bench.core.train_config import TrainConfig
from tokenizer_bench.core.training import Trainer
from tokenizer_bench.plugins.recipes import _testing as _tiny
from tokenizer_bench.plugins.tokenizers.dm_codec import DMCodecTokenizer
from tokenizer_bench.plugins.tokenizers.identity import IdentityTokenizer

SR = 16000
DOC = Path(__file__).resolve().parents[3] / "docs" / "cli_errors.md"
_SEANET = dict(n_filters=4, strides=[4, 4], dimension=16, lstm_layers=1, n_residual_layers=1)


def _tiny_tokenizer(seed: int) -> DMCodecTokenizer:
    return DMCodecTokenizer.from_options(
        seed=seed, encoder={"name": "seanet_encoder", **_SEANET, "bidirectional": True},
        quantizer={"name": "rvq", "dimension": 16, "n_q": 2, "codebook_size": 8},
        decoder={"name": "seanet_decoder", **_SEANET, "bidirectional": False})


def _export(tok: DMCodecTokenizer, folder: Path) -> Path:
    tok.save_pretrained(folder)
    record_weights_hash(tok, folder)
    return folder


def _wav(path: Path, samples: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, sr, subtype=subtype)
    return path


def _tone(n: int, level: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * np.sin(np.arange(n) * 0.05) + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Inputs every case reads (never writes): audio good and bad, tokenizers, codes, a run."""
    w = tmp_path_factory.mktemp("world")
    _wav(w / "in" / "a.wav", _tone(3200))
    _wav(w / "in" / "b.wav", _tone(1600, seed=1))
    _wav(w / "other" / "a.wav", _tone(800, seed=2))
    (w / "bad").mkdir()
    (w / "bad" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really")
    _wav(w / "bad" / "empty.wav", np.zeros(0, np.float32))
    _wav(w / "nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), subtype="FLOAT")
    _wav(w / "loud.wav", np.linspace(-2, 2, 3200, dtype=np.float32), subtype="FLOAT")
    _wav(w / "clipped.wav", np.clip(_tone(3200, level=3.0), -1, 1))
    _wav(w / "quiet.wav", _tone(3200, level=1e-4) * 0.01)
    full = _wav(w / "full.wav", _tone(3200)).read_bytes()
    (w / "trunc.wav").write_bytes(full[: len(full) // 2])
    _wav(w / "stereo.wav", np.stack([_tone(3200), _tone(3200, seed=3)], axis=1))
    _wav(w / "sr8k.wav", _tone(1600), sr=8000)
    (w / "dangling").mkdir()
    _wav(w / "dangling" / "ok.wav", _tone(1600))
    (w / "dangling" / "gone.wav").symlink_to(w / "nowhere.wav")
    (w / "notes.txt").write_text("not audio")
    (w / "escape.jsonl").write_text(json.dumps({"path": str(w / "in" / "a.wav"), "id": "../../escaped"}) + "\n")
    (w / "malformed.jsonl").write_text('{"path": "in/a.wav"\n')
    _export(_tiny_tokenizer(0), w / "tok")
    _export(_tiny_tokenizer(1), w / "tok2")
    assert encode_files([str(w / "in")], "identity", w / "codes_id", progress=False)["encoded"] == 2
    assert encode_files([str(w / "in")], f"dm_codec:{w / 'tok'}", w / "codes_dm", progress=False)["encoded"] == 2
    # a tiny training run: config.yaml + one checkpoint (step 1)
    corpus = _tiny.make_corpus(w, n=4)
    data = _tiny.tiny_config(corpus, w, max_steps=1, checkpoint_every=1, keep_last=2, export=False)
    _tiny.write_fake_cache(validate(data, TrainConfig), corpus)
    Trainer(validate(data, TrainConfig)).fit()
    (w / "tiny.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    bad_corpus = w / "unreadable" / "1" / "1"
    bad_corpus.mkdir(parents=True)
    for i in range(4):
        (bad_corpus / f"1-1-{i:04d}.flac").write_bytes(b"fLaC garbage")
    unreadable = dict(data, data={**data["data"], "train": [str(w / "unreadable")]},
                      trainer={**data["trainer"], "output_dir": "run_unreadable"})
    (w / "unreadable.yaml").write_text(yaml.safe_dump(unreadable, sort_keys=False))
    (w / "cfg").mkdir()
    (w / "cfg" / "base.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (w / "cfg" / "child_typo.yaml").write_text("extends: base.yaml\nmodel:\n  quantizer: {codebook_sizee: 4}\n")
    (w / "cfg" / "child_missing.yaml").write_text("extends: no_such_base.yaml\n")
    (w / "cfg" / "malformed.yaml").write_text("trainer: {max_steps: [\n")
    return w


# --------------------------------------------------------------------------- case helpers
def copy(world: Path, d: Path, name: str) -> Path:
    src = world / name
    dst = d / name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return dst


def edit_index(world: Path, d: Path, change: Callable[[dict], None]) -> None:
    c = copy(world, d, "codes_id")
    index = json.loads((c / "index.json").read_text())
    change(index)
    (c / "index.json").write_text(json.dumps(index))


def replace_npy(world: Path, d: Path, content: bytes | np.ndarray) -> None:
    c = copy(world, d, "codes_id")
    if isinstance(content, bytes):
        (c / "a.npy").write_bytes(content)
    else:
        np.save(c / "a.npy", content)


def fail_writes(monkeypatch, suffix: str, err: int) -> None:
    """Every rename of a finished ``*suffix`` file into place fails with ``err`` (as a full disk
    or a read-only folder makes the write before it fail)."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if str(dst).endswith(suffix):
            raise OSError(err, os.strerror(err))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


def nan_decoder(monkeypatch) -> None:
    def decode(self, codes, side=None):
        return torch.full((codes.shape[0], 1, codes.shape[-1] * 16), float("nan"))

    monkeypatch.setattr(DMCodecTokenizer, "decode", decode)
    monkeypatch.setattr(IdentityTokenizer, "decode", decode)


def a_bug(monkeypatch) -> None:
    from tokenizer_bench.core.cli import codec

    def boom(size):
        raise KeyError("an internal bug")

    monkeypatch.setattr(codec, "_codes_dtype", boom)


@dataclass
class Case:
    id: str
    argv: str  # split on spaces after {w} (world) and {d} (the case's own folder) are filled in
    code: int
    says: str  # a regular expression the output must match
    prepare: Callable | None = None  # (world, d, monkeypatch) -> None
    check: Callable | None = None  # (world, d) -> None, after the run


def _no_tmp_left(_w: Path, d: Path) -> None:
    left = [p for p in d.rglob("*") if ".tmp" in p.name]
    assert not left, left


def _changed_source(w: Path, d: Path, mp) -> None:
    copy(w, d, "in")
    assert encode_files([str(d / "in")], "identity", d / "c", progress=False)["encoded"] == 2
    time.sleep(0.01)
    _wav(d / "in" / "a.wav", _tone(4000, seed=9))


def _tampered(w: Path, d: Path, mp) -> None:
    t = copy(w, d, "tok")
    shutil.copy(w / "tok2" / "model.safetensors", t / "model.safetensors")


def _run_without_checkpoints(w: Path, d: Path, mp) -> None:
    (d / "r").mkdir()
    shutil.copy(w / "run" / "config.yaml", d / "r" / "config.yaml")


E = "encode"
CASES = [
    # ---------------------------------------------------------------- encode: arguments
    Case("encode-out-is-a-file", E + " {w}/in/a.wav -t identity -o {w}/in/a.wav", 1, "a file is where a folder is"),
    Case("encode-missing-input", E + " {w}/nope.wav -t identity -o {d}/c", 2, "no such file or folder"),
    Case("encode-glob-matches-nothing", E + " {w}/in/*.mp3 -t identity -o {d}/c", 2, "matches no audio file"),
    Case("encode-not-audio", E + " {w}/notes.txt -t identity -o {d}/c", 2, "not an audio file"),
    Case("encode-unknown-tokenizer", E + " {w}/in -t nosuch -o {d}/c", 2, "nosuch"),
    Case("encode-empty-checkpoint", E + " {w}/in -t dm_codec: -o {d}/c", 2, "checkpoint after ':' is empty"),
    Case("encode-missing-checkpoint", E + " {w}/in -t dm_codec:{w}/nothere -o {d}/c", 2, "not found"),
    Case("encode-batch-size-0", E + " {w}/in -t identity -o {d}/c --batch-size 0", 2, "--batch-size must be"),
    Case("encode-batch-size-negative", E + " {w}/in -t identity -o {d}/c --batch-size -3", 2, "--batch-size must"),
    Case("encode-n-q-too-large", E + " {w}/in -t identity -o {d}/c --n-q 5", 2, "--n-q: n_q must be"),
    Case("encode-n-q-zero", E + " {w}/in -t identity -o {d}/c --n-q 0", 2, "--n-q: n_q must be"),
    Case("encode-n-q-not-a-number", E + " {w}/in -t identity -o {d}/c --n-q many", 2, "Invalid value for '--n-q'"),
    Case("encode-bad-device", E + " {w}/in -t identity -o {d}/c --device gpu7", 2, "--device 'gpu7'"),
    Case("encode-option-without-value", E + " {w}/in -t identity -o {d}/c --option foo", 2, "--option 'foo'"),
    Case("encode-unknown-tokenizer-option", E + " {w}/in -t identity -o {d}/c --option bogus=1", 2,
         "unknown argument.*bogus"),
    Case("encode-missing-out", E + " {w}/in -t identity", 2, "Missing option"),
    # ---------------------------------------------------------------- encode: inputs
    Case("encode-corrupt-file", E + " {w}/bad/corrupt.wav -t identity -o {d}/c", 1, "cannot decode audio"),
    Case("encode-every-input-fails", E + " {w}/bad -t identity -o {d}/c", 1, r"encoded 0 of 2; 2 failed"),
    Case("encode-empty-audio", E + " {w}/bad/empty.wav -t identity -o {d}/c", 1, "empty audio"),
    Case("encode-nan-audio", E + " {w}/nan.wav -t identity -o {d}/c", 1, "NaN"),
    Case("encode-dangling-symlink", E + " {w}/dangling -t identity -o {d}/c", 1, "broken symbolic link"),
    Case("encode-above-full-scale", E + " {w}/loud.wav -t identity -o {d}/c", 0, "above full scale.*--normalize"),
    Case("encode-normalize", E + " {w}/loud.wav -t identity -o {d}/c --normalize", 0, "encoded 1 of 1"),
    Case("encode-clipped", E + " {w}/clipped.wav -t identity -o {d}/c", 0, "clipped: .* at full scale"),
    Case("encode-nearly-silent", E + " {w}/quiet.wav -t identity -o {d}/c", 0, "nearly silent"),
    Case("encode-truncated-wav", E + " {w}/trunc.wav -t identity -o {d}/c", 0, "is truncated: its header"),
    Case("encode-stereo", E + " {w}/stereo.wav -t identity -o {d}/c", 0, "mixed down"),
    Case("encode-other-rate", E + " {w}/sr8k.wav -t identity -o {d}/c", 0, "resampling inputs at 8000 Hz"),
    Case("encode-manifest-id-escapes", E + " {w}/escape.jsonl -t identity -o {d}/c", 1, "leads outside"),
    Case("encode-manifest-malformed", E + " {w}/malformed.jsonl -t identity -o {d}/c", 2, "invalid JSON"),
    Case("encode-duplicate-ids", E + " {w}/in/a.wav {w}/other/a.wav -t identity -o {d}/c", 2, "two inputs have"),
    Case("encode-changed-source", E + " {d}/in -t identity -o {d}/c", 0, "changed since it was encoded",
         prepare=_changed_source),
    # ---------------------------------------------------------------- encode: where it writes
    Case("encode-into-tokenizer-folder", E + " {w}/in -t identity -o {w}/tok", 2, "holds a tokenizer"),
    Case("encode-into-run-folder", E + " {w}/in -t identity -o {w}/run", 2, "holds a tokenizer or a training run"),
    Case("encode-into-tokenizer-overwrite", E + " {w}/in -t identity -o {d}/tok --overwrite", 0, "encoded 2 of 2",
         prepare=lambda w, d, mp: copy(w, d, "tok")),
    Case("encode-other-tokenizer-same-out", E + " {w}/in -t dm_codec:{w}/tok -o {d}/codes_id", 2,
         "written with tokenizer='identity'", prepare=lambda w, d, mp: copy(w, d, "codes_id")),
    Case("encode-disk-full", E + " {w}/in -t identity -o {d}/c", 1,
         r"no space left on the device while writing .*a\.npy",
         prepare=lambda w, d, mp: fail_writes(mp, ".npy", errno.ENOSPC), check=_no_tmp_left),
    Case("encode-permission-denied", E + " {w}/in -t identity -o {d}/c", 1, "permission denied: .*a\\.npy",
         prepare=lambda w, d, mp: fail_writes(mp, ".npy", errno.EACCES), check=_no_tmp_left),
    Case("encode-internal-bug", E + " {w}/in -t identity -o {d}/c", 1,
         r"KeyError: 'an internal bug' \(tests/core/cli/test_bad_inputs\.py:\d+\); rerun with --debug",
         prepare=lambda w, d, mp: a_bug(mp)),
    # ---------------------------------------------------------------- decode
    Case("decode-not-a-codes-folder", "decode {w}/in -o {d}/o", 2, "index.json: missing"),
    Case("decode-index-not-json", "decode {d}/codes_id -o {d}/o", 2, "not a readable index",
         prepare=lambda w, d, mp: (copy(w, d, "codes_id") / "index.json").write_text("{oops")),
    Case("decode-index-without-items", "decode {d}/codes_id -o {d}/o", 2, "no 'items' mapping",
         prepare=lambda w, d, mp: edit_index(w, d, lambda i: i.pop("items"))),
    Case("decode-index-name-escapes", "decode {d}/codes_id -o {d}/o", 1, "leads outside",
         prepare=lambda w, d, mp: edit_index(w, d, lambda i: i["items"].update({"../../x": {"num_samples": 5}}))),
    Case("decode-index-absolute-name", "decode {d}/codes_id -o {d}/o", 1, "not a relative name",
         prepare=lambda w, d, mp: edit_index(w, d, lambda i: i["items"].update({"/tmp/x": {}}))),
    Case("decode-index-num-samples-wrong-type", "decode {d}/codes_id -o {d}/o", 1,
         r"decoded 1 of 2.*num_samples must be a positive integer, got 'many'",
         prepare=lambda w, d, mp: edit_index(w, d, lambda i: i["items"]["a"].update(num_samples="many"))),
    Case("decode-index-tokenizer-not-a-name", "decode {d}/codes_id -o {d}/o", 2, "'tokenizer' must be a name",
         prepare=lambda w, d, mp: edit_index(w, d, lambda i: i.update(tokenizer=5))),
    Case("decode-index-empty-checkpoint-override", "decode {w}/codes_id -o {d}/o -t identity:", 2,
         "checkpoint after ':' is empty"),
    Case("decode-code-file-missing", "decode {d}/codes_id -o {d}/o", 1, "missing \\(listed in index.json",
         prepare=lambda w, d, mp: (copy(w, d, "codes_id") / "a.npy").unlink()),
    Case("decode-code-file-random-bytes", "decode {d}/codes_id -o {d}/o", 1, "not a .npy file \\(no NumPy header",
         prepare=lambda w, d, mp: replace_npy(w, d, os.urandom(64).replace(b"\x80", b"\x00").replace(b"\x93", b"1"))),
    Case("decode-code-file-pickle", "decode {d}/codes_id -o {d}/o", 1, "a Python pickle",
         prepare=lambda w, d, mp: replace_npy(w, d, b"\x80\x04\x95" + b"\x00" * 20)),
    Case("decode-code-file-truncated", "decode {d}/codes_id -o {d}/o", 1, "truncated or corrupt",
         prepare=lambda w, d, mp: replace_npy(w, d, (w / "codes_id" / "a.npy").read_bytes()[:100])),
    Case("decode-code-file-floats", "decode {d}/codes_id -o {d}/o", 1, "dtype float32; expected integers",
         prepare=lambda w, d, mp: replace_npy(w, d, np.zeros((1, 10), np.float32))),
    Case("decode-code-file-wrong-rank", "decode {d}/codes_id -o {d}/o", 1, r"neither \[Q, T\]",
         prepare=lambda w, d, mp: replace_npy(w, d, np.zeros(10, np.int32))),
    Case("decode-codes-out-of-range", "decode {d}/codes_dm -o {d}/o", 1, "codebook",
         prepare=lambda w, d, mp: (copy(w, d, "codes_dm"), np.save(d / "codes_dm" / "a.npy",
                                                                   np.full((2, 10), 99, np.int16)))),
    Case("decode-other-weights", "decode {w}/codes_dm -o {d}/o -t dm_codec:{w}/tok2", 2,
         "made with other weights"),
    Case("decode-into-tokenizer-folder", "decode {w}/codes_id -o {w}/tok", 2, "holds a tokenizer"),
    Case("decode-out-is-a-file", "decode {w}/codes_id -o {w}/in/a.wav", 1, "a file is where a folder is"),
    Case("decode-non-finite-output", "decode {w}/codes_dm -o {d}/o", 1,
         "decoded 0 of 2.*decoder produced NaN or infinite samples", prepare=lambda w, d, mp: nan_decoder(mp)),
    Case("decode-disk-full", "decode {w}/codes_id -o {d}/o", 1, r"no space left on the device while writing .*\.wav",
         prepare=lambda w, d, mp: fail_writes(mp, ".wav", errno.ENOSPC), check=_no_tmp_left),
    Case("decode-tampered-tokenizer", "decode {w}/codes_dm -o {d}/o -t dm_codec:{d}/tok", 2,
         "do not match the hash recorded at export", prepare=_tampered),
    # ---------------------------------------------------------------- export
    Case("export-not-a-run", "export {w}/in {d}/t", 2, "no config.yaml"),
    Case("export-run-without-checkpoint", "export {d}/r {d}/t", 2, "no complete checkpoint",
         prepare=_run_without_checkpoints),
    Case("export-missing-checkpoint", "export {w}/run {d}/t --checkpoint step_00000099", 2, "no trainer.pt"),
    Case("export-over-a-tokenizer", "export {w}/run {w}/tok", 2, "holds a tokenizer.*--overwrite"),
    Case("export-into-non-empty-folder", "export {w}/run {w}/in", 2, "not empty.*--overwrite"),
    Case("export-overwrite", "export {w}/run {d}/tok --overwrite", 0, "exported",
         prepare=lambda w, d, mp: copy(w, d, "tok")),
    Case("export-disk-full", "export {w}/run {d}/t", 1, "no space left on the device while writing .*safetensors",
         prepare=lambda w, d, mp: fail_writes(mp, ".safetensors", errno.ENOSPC), check=_no_tmp_left),
    # ---------------------------------------------------------------- train / configs
    Case("train-missing-config", "train {d}/nope.yaml", 2, "not found as a file or a packaged config"),
    Case("train-every-item-unreadable", "train {w}/unreadable.yaml -o {d}/r", 1, "no training step ran"),
    Case("train-existing-run-without-resume", "train {w}/tiny.yaml -o {w}/run", 2, "pass --resume"),
    Case("train-batch-size-0", "train {w}/tiny.yaml -o {d}/r --set data.batch_size=0", 2, "data.batch_size"),
    Case("train-bad-set", "train {w}/tiny.yaml --set trainer.max_steps", 2, "--set 'trainer.max_steps'"),
    Case("config-typo-in-child", "show-config {w}/cfg/child_typo.yaml", 2,
         "child_typo.yaml: model.quantizer: .*codebook_sizee"),
    Case("config-extends-missing", "show-config {w}/cfg/child_missing.yaml", 2,
         "child_missing.yaml: extends: config 'no_such_base.yaml' not found"),
    Case("config-malformed-yaml", "show-config {w}/cfg/malformed.yaml", 2, r"malformed.yaml:2:\d+: malformed YAML"),
    Case("cache-teachers-missing-config", "cache-teachers {d}/nope.yaml", 2, "not found"),
    # ---------------------------------------------------------------- compare
    Case("compare-without-data", "compare --tokenizers identity --out {d}/o", 2, "--data is required"),
    Case("compare-workers-0", "compare --tokenizers identity --data {w}/in --out {d}/o --workers 0", 2,
         "--workers and --batch-size must be at least 1"),
    Case("compare-empty-checkpoint", "compare --tokenizers dm_codec: --data {w}/in --out {d}/o", 2,
         "checkpoint after ':' is empty"),
    Case("compare-row-scores-nothing",
         "compare --tokenizers identity --data {w}/in --metrics stoi --out {d}/o --no-plots --aso-iterations 10", 1,
         "row identity scored none of its utterances", prepare=lambda w, d, mp: nan_decoder(mp)),
    # ---------------------------------------------------------------- the rest
    Case("push-not-an-export", "push {w}/in owner/repo", 2, "no config JSON"),
    Case("plugins-unknown-kind", "plugins --kind nope", 2, "unknown kind 'nope'"),
    Case("unknown-command", "frobnicate", 2, "No such command"),
    Case("unknown-option", "encode {w}/in -t identity -o {d}/c --frob", 2, "No such option"),
]


def _argv(case: Case, world: Path, d: Path) -> list[str]:
    return case.argv.format(w=world, d=d).split()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("TOKENIZER_BENCH_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # one error line stays one line for the regular expression
    monkeypatch.chdir(tmp_path)
    if case.prepare is not None:
        case.prepare(world, tmp_path, monkeypatch)
    code = run(_argv(case, world, tmp_path), debug=False)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    assert code == case.code, text
    assert re.search(case.says, " ".join(text.split()), re.S), text
    if case.code != 0 and "error:" in out.err:
        assert len([ln for ln in out.err.splitlines() if ln.startswith("error:")]) == 1, out.err
    if case.check is not None:
        case.check(world, tmp_path)


def test_the_battery_is_large_and_documented():
    """Every case is in docs/cli_errors.md with the exit code the battery checks."""
    assert len(CASES) >= 60
    doc = DOC.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \| (\d+) \|", doc, re.M))
    assert {c.id: str(c.code) for c in CASES} == rows


# --------------------------------------------------------------------------- real processes
def _cli(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_BENCH_DEBUG"}
    return subprocess.Popen([sys.executable, "-m", "tokenizer_bench.core.cli.app", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_process_exit_codes_and_debug_traceback(world, tmp_path):
    """The script's exit status is the code ``run`` returns; ``--debug`` shows the traceback."""
    p = _cli("decode", str(world / "codes_dm"), "-o", str(tmp_path / "o"), "-t", f"dm_codec:{world / 'tok2'}",
             cwd=tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2 and "made with other weights" in err and "Traceback" not in out + err
    p = _cli("--debug", "decode", str(world / "codes_dm"), "-o", str(tmp_path / "o"), "-t",
             f"dm_codec:{world / 'tok2'}", cwd=tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1 and "Traceback" in err and "made with other weights" in err


def test_ctrl_c_prints_interrupted_and_exits_130(world, tmp_path):
    """SIGINT during a command: one 'interrupted' line, exit 130 (Click alone exits silently)."""
    (tmp_path / "slow.py").write_text(
        "import signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as on a terminal (a background job ignores it)\n"
        "from tokenizer_bench.core.cli import codec\n"
        "def slow(*a, **k):\n"
        "    print('started', flush=True); time.sleep(600)\n"
        "codec.encode_files = slow\n"
        "from tokenizer_bench.core.cli.app import main\n"
        "main()\n")
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZER_BENCH_DEBUG"}
    p = subprocess.Popen([sys.executable, str(tmp_path / "slow.py"), "encode", str(world / "in"), "-t", "identity",
                          "-o", str(tmp_path / "c")], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and err.count("interrupted") == 1
    assert "Traceback" not in out + err
