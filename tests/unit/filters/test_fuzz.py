"""Fuzzing of the C matcher: the sanitized libFuzzer-compatible target (native/fuzz) under a
bounded mutation loop, and a mutation-based differential run through the Python bindings."""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import subprocess
import sys

import pytest

from omd.filters import parse

from ._support import IMPLS, instance_status

ROOT = pathlib.Path(__file__).resolve().parents[3]
SANITIZE = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer"]


def _run_native_fuzzer(tmp_path: pathlib.Path, iterations: int) -> str:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler: the fuzz target cannot be built")
    exe = tmp_path / "fuzz_matcher"
    subprocess.run([cc, "-std=c99", *SANITIZE, "-DOMF_FUZZ_MAIN", f"-I{ROOT / 'native'}",
                    str(ROOT / "native/fuzz/fuzz_matcher.c"), str(ROOT / "native/matcher.c"),
                    "-o", str(exe)], check=True)
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(ROOT / "native/fuzz/make_corpus.py"), str(corpus)], check=True,
                   cwd=ROOT)
    for crash in (ROOT / "native/fuzz/regressions").iterdir():  # inputs that once failed
        shutil.copy(crash, corpus / crash.name)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    proc = subprocess.run([str(exe), str(corpus), str(iterations), "7"], capture_output=True,
                          text=True, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr[-4000:]
    return proc.stdout


def test_native_fuzz_smoke(tmp_path):
    """A short sanitized fuzz run (5,000 mutated inputs) finds no crash, UB or leak."""
    assert "5000 iterations" in _run_native_fuzzer(tmp_path, 5000)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_native_fuzz_bounded_run(tmp_path):
    """200,000 mutated programs, topics and data frames under ASan+UBSan: no crash, no leak."""
    assert "200000 iterations" in _run_native_fuzzer(tmp_path, 200_000)


MUTATION_TOKENS = [b"{", b"}", b"[", b"]", b'"', b"\\", b"\\u", b"\\ud800", b":", b",", b"\0", b"=",
                   b"\xff", b"-", b"1e999", b" ", b"null", b"tru"]


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    b = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(b))
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            del b[pos:]
        elif op == 2:
            del b[pos : pos + rng.randint(1, 8)]
        else:
            b[pos:pos] = rng.choice(MUTATION_TOKENS)
    return bytes(b)


def _differential_mutations(iterations: int) -> None:
    rng = random.Random(1234)
    specs = [parse(e) for e in (
        ['InstanceStatusUpdated,path=svc1,.instance_status.frozen_at="0001-01-01T00:00:00Z"'],
        ['.instance_status.resources."fs#1".status=up', "path!=svc[2-3]"],
        [".instance_status.avail!=down,node=n*", ".labels.path>=svc"],
        [".instance_status.resources.\"app#1\".status<\"e\"", "InstanceStatusUpdated"],
    )]
    c, py = IMPLS["c"], IMPLS["python"]
    pairs = [(c.Matcher(s), py.Matcher(s)) for s in specs]
    banks = [c.MatcherBank(), py.MatcherBank()]
    for bank in banks:
        for s in specs:
            bank.add(py.Matcher(s))
    seeds = [instance_status(f"svc{i}", f"n{i}", avail=a) for i, a in enumerate(["up", "down", "warn"])]
    batch = []
    for i in range(iterations):
        topic, data = rng.choice(seeds)
        if rng.random() < 0.25:
            topic = _mutate(rng, topic)
        else:
            data = _mutate(rng, data)
        mc, mp = pairs[i % len(pairs)]
        assert mc.match(topic, data) == mp.match(topic, data), (topic, data)
        batch.append((topic, data))
        if len(batch) == 500:
            assert banks[0].match_batch(batch) == banks[1].match_batch(batch)
            batch = []


def test_mutated_frames_agree_quick():
    """On 3,000 mutated frames both implementations agree and nothing raises."""
    _differential_mutations(3000)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_mutated_frames_agree_long_run():
    """On 200,000 mutated topics and data frames both implementations agree and nothing raises."""
    _differential_mutations(200_000)
