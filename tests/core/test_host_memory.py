"""Reusing freed heap inside a call: counted by the kernel's minor page faults, not by timings.

A 64 MiB tensor is above glibc's largest mmap threshold (32 MiB), so by default every allocation
of it is a fresh mapping whose 16384 pages fault in when written. Inside ``reuse_freed_memory``
the second allocation reuses the first one's heap pages: no faults. Allocator state is
process-wide and history-dependent (a freed block is reused only where it can coalesce with free
neighbours), so each scenario runs in a fresh interpreter from a known state.

Where it applies is checked with a recording stand-in for glibc: an application (the encode
command) sets the allocator around each call, a tokenizer's own methods never do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tokenizer_bench.core import host_memory

PAGES = 16384  # 64 MiB of 4 KiB pages
glibc_only = pytest.mark.skipif(not host_memory._glibc(), reason="mallopt/malloc_trim semantics are glibc's")

PRELUDE = textwrap.dedent('''
    import json, resource, torch
    from tokenizer_bench.core import host_memory as H

    def faults_of_second_allocation():
        first = torch.empty(16384 * 1024); first.fill_(1.0); del first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        second = torch.empty(16384 * 1024); second.fill_(2.0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        del second
        return after - before

    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096

    def mapped():
        return int(H._glibc().mallinfo2().hblkhd)
''')


def scenario(body: str, env_switch: str | None = None) -> dict:
    env = None
    if env_switch is not None:
        import os

        env = {**os.environ, host_memory.ENV_SWITCH: env_switch}
    code = PRELUDE + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_by_default_a_large_tensor_faults_in_every_page():
    r = scenario("print(json.dumps({'faults': faults_of_second_allocation()}))")
    assert r["faults"] >= 0.9 * PAGES


@glibc_only
def test_inside_the_block_a_conv_stack_reuses_freed_pages():
    """A codec-like forward (64-channel full-rate activations of 64 MiB, freed layer by layer)
    faults its pages in on every call by default, and almost never inside the block."""
    r = scenario('''
        torch.manual_seed(0)
        layers = [m for _ in range(4) for m in (torch.nn.Conv1d(64, 64, 3, padding=1), torch.nn.ELU())]
        net = torch.nn.Sequential(*layers)
        x = torch.randn(4, 64, 65536)

        def faults_per_call():
            with torch.no_grad():
                net(x)
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                for _ in range(3):
                    net(x)
            return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3

        outside = faults_per_call()
        with H.reuse_freed_memory() as active:
            inside = faults_per_call()
        print(json.dumps({'active': active, 'outside': outside, 'inside': inside}))
    ''')
    assert r["active"] is True
    assert r["outside"] >= 4 * PAGES  # 8 layers, each output a fresh 64 MiB mapping
    assert r["inside"] < 0.1 * r["outside"]


@glibc_only
def test_nested_blocks_restore_mmap_only_at_the_outermost_exit():
    r = scenario('''
        with H.reuse_freed_memory():
            with H.reuse_freed_memory():
                torch.ones(1024)
            inner_exit = mapped()
            inner = torch.ones(160 * 1024 * 1024 // 4)
            inner_exit = mapped() - inner_exit
        before = mapped()
        big = torch.ones(160 * 1024 * 1024 // 4)  # more than the block left free in the heap
        print(json.dumps({'inner_exit': inner_exit, 'mapped': mapped() - before, 'depth': H._depth}))
    ''')
    assert r["inner_exit"] == 0  # the heap still serves large blocks after the inner block ended
    assert r["depth"] == 0
    assert r["mapped"] >= 160 * 1024 * 1024  # after the outer one, mmap serves large blocks again


@glibc_only
def test_environment_switch_turns_it_off():
    r = scenario('''
        with H.reuse_freed_memory() as active:
            print(json.dumps({'active': active, 'faults': faults_of_second_allocation()}))
    ''', env_switch="0")
    assert r["active"] is False
    assert r["faults"] >= 0.9 * PAGES


@glibc_only
def test_a_block_whose_heap_grew_a_lot_gives_the_pages_back():
    r = scenario('''
        size = H.TRIM_AFTER_GROWTH + 64 * 1024 * 1024
        with H.reuse_freed_memory():
            big = torch.ones(size // 4); del big  # freed into the heap, still resident
            held = rss()
        print(json.dumps({'size': size, 'released': held - rss()}))
    ''')
    assert r["released"] >= 0.9 * r["size"]


@glibc_only
def test_a_small_block_keeps_its_pages_for_the_next_call():
    """Below TRIM_AFTER_GROWTH the freed 64 MiB stay resident (no malloc_trim on exit)."""
    r = scenario('''
        with H.reuse_freed_memory():
            faults_of_second_allocation()
            held = rss()
        print(json.dumps({'released': held - rss()}))
    ''')
    assert r["released"] < 0.1 * PAGES * 4096


@glibc_only
def test_release_host_memory_calls_glibc():
    assert host_memory.release_host_memory() is True


def test_on_an_accelerator_the_block_does_nothing():
    with host_memory.reuse_freed_memory_on("cuda:0") as active:
        assert active is False
        assert host_memory._depth == 0


@glibc_only
def test_on_the_cpu_the_block_acts(monkeypatch):
    monkeypatch.delenv(host_memory.ENV_SWITCH, raising=False)
    with host_memory.reuse_freed_memory_on("cpu") as active:
        assert active is True and host_memory._depth == 1
    assert host_memory._depth == 0


class _RecordingLibc:
    """Stands in for glibc: records every allocator setting instead of applying it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def recording_libc(monkeypatch):
    libc = _RecordingLibc()
    monkeypatch.setattr(host_memory, "_LIBC", libc)
    monkeypatch.delenv(host_memory.ENV_SWITCH, raising=False)
    return libc


TINY_CODEC = dict(n_filters=2, dimension=16, semantic_dimension=None, codebook_size=32, lstm_layers=0,
                  bidirectional=False, seed=0)


def test_tokenizer_methods_leave_the_allocator_alone(recording_libc):
    """The heap policy is the application's: a tokenizer's encode/decode never sets it."""
    import torch

    from tokenizer_bench.core.api import load_tokenizer

    tok = load_tokenizer("dm_codec", **TINY_CODEC)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        tok.generator.train()(torch.randn(1, 1, 3200))  # initialise the codebooks
    tok.generator.eval()
    codes = tok.encode(torch.randn(1, 1, 3200))
    tok.decode(codes)
    assert recording_libc.calls == []


def test_the_encode_command_applies_it_around_each_batch(recording_libc, tmp_path):
    """``tokenizer-bench encode`` (an application) turns mmap off for each batch and restores it."""
    import numpy as np
    import soundfile as sf

    from tokenizer_bench.core.cli.codec import encode_files

    for i in range(2):
        sf.write(tmp_path / f"u{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(3200)).astype("float32"),
                 16000)
    options = {k: v for k, v in TINY_CODEC.items() if k != "seed"}
    encode_files([str(tmp_path / "u0.wav"), str(tmp_path / "u1.wav")], "dm_codec", tmp_path / "codes",
                 options=options, progress=False, notify=lambda _m: None)
    enter = ("mallopt", host_memory._M_MMAP_MAX, 0)
    leave = ("mallopt", host_memory._M_MMAP_MAX, host_memory._DEFAULT_MMAP_MAX)
    assert recording_libc.calls.count(enter) == 2 and recording_libc.calls.count(leave) == 2
    first = recording_libc.calls.index(enter)
    assert recording_libc.calls.index(leave) > first
