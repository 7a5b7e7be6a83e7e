"""minigrad.memory.keep_freed_memory, and the examples' process settings that call it.

Each check runs in a fresh interpreter: the setting is process-wide and cannot be undone."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Four 2.3 MiB arrays made and freed per step: by default glibc trims its heap after each
# step and the next step faults every page in again (thousands of minor faults).
FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from minigrad.memory import keep_freed_memory
    assert keep_freed_memory() is True
def step():
    arrays = [np.ones(600_000, np.float32) for _ in range(4)]
    del arrays
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def run(code: str, *args: str, env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_kept_memory_is_not_faulted_in_again():
    default = float(run(FAULTS, "default"))
    kept = float(run(FAULTS, "keep"))
    assert default > 1000          # every step maps its pages afresh
    assert kept < 10               # after the first steps the pages stay mapped


class _Libc:
    """A C library without glibc's mallopt (macOS) or whose mallopt refuses (musl)."""

    def __init__(self, answer=None):
        if answer is not None:
            self.calls = []
            self.mallopt = lambda param, value: self.calls.append(param) or answer


@pytest.mark.parametrize("libc", ["missing", "no mallopt", "refuses"])
def test_without_glibc_nothing_changes(monkeypatch, libc):
    import ctypes

    from minigrad import memory

    fake = _Libc(answer=0 if libc == "refuses" else None)

    def load(name):
        if libc == "missing":
            raise OSError("no such library")
        return fake

    monkeypatch.setattr(ctypes, "CDLL", load)
    assert memory.keep_freed_memory() is False
    if libc == "refuses":
        assert len(fake.calls) == 2  # both settings are asked for, each on its own


@pytest.mark.parametrize("malloc_env", [{}, {"MALLOC_ARENA_MAX": "2"},
                                        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}])
def test_examples_keep_freed_memory_unless_the_environment_speaks(malloc_env):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env.update(malloc_env, PYTHONPATH=str(ROOT / "examples"))
    code = ("import sys, _process_settings, os; "
            "print(os.environ['OPENBLAS_NUM_THREADS'], 'minigrad.memory' in sys.modules)")
    threads, imported = run(code, env=env).split()
    assert threads == os.environ.get("OPENBLAS_NUM_THREADS", "1")
    assert imported == str(not malloc_env)  # minigrad.memory is imported to apply it
