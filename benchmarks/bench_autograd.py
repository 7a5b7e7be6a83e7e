"""Autograd overhead per op, and Numba's cold/warm start, as medians over repeats.

    python benchmarks/bench_autograd.py [--ops 10000] [--repeats 7]

1. Overhead: a chain of ``--ops`` ops on 1-element tensors (``y = y * a``, ``y = y + b``,
   alternating), forward then backward, in microseconds per op. The array work is negligible,
   so this measures the engine itself. PyTorch (and micrograd) run the same chain in separate
   processes when installed, at 1 thread; ratios are against PyTorch measured in this run.
2. Start-up: ``import minigrad`` plus a first training step (tanh, sigmoid, softmax,
   cross-entropy forward and backward), in a fresh process with an empty Numba cache (cold:
   includes compiling the kernels) and again with the cache filled (warm).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHAIN_WORKERS = {
    "minigrad": """
import minigrad as mg
def chain(n):
    a = mg.tensor([1.0001], requires_grad=True)
    b = mg.tensor([0.0001], requires_grad=True)
    y = mg.tensor([1.0], requires_grad=True)
    start = time.perf_counter()
    for _ in range(n // 2):
        y = y * a
        y = y + b
    y.sum().backward()
    return time.perf_counter() - start
""",
    "pytorch": """
import torch
torch.set_num_threads(1)
def chain(n):
    a = torch.tensor([1.0001], requires_grad=True)
    b = torch.tensor([0.0001], requires_grad=True)
    y = torch.tensor([1.0], requires_grad=True)
    start = time.perf_counter()
    for _ in range(n // 2):
        y = y * a
        y = y + b
    y.sum().backward()
    return time.perf_counter() - start
""",
    "micrograd": """
from micrograd.engine import Value
sys.setrecursionlimit(1_000_000)
def chain(n):
    a, b, y = Value(1.0001), Value(0.0001), Value(1.0)
    start = time.perf_counter()
    for _ in range(n // 2):
        y = y * a
        y = y + b
    y.backward()
    return time.perf_counter() - start
""",
}

CHAIN_MAIN = """
import json, statistics, sys, time
{body}
n, repeats = {n}, {repeats}
chain(n)  # warm-up
times = [chain(n) / n * 1e6 for _ in range(repeats)]
print(json.dumps(times))
"""

FIRST_STEP = """
import time
start = time.perf_counter()
import minigrad as mg
import minigrad.functional as F
imported = time.perf_counter()
mg.manual_seed(0)
x = mg.randn(32, 16)
w1 = mg.randn(64, 16, requires_grad=True)
w2 = mg.randn(10, 64, requires_grad=True)
h = F.linear(x, w1).tanh() * F.linear(x, w1).sigmoid()
logits = F.linear(h, w2)
loss = F.cross_entropy(logits, mg.tensor([i % 10 for i in range(32)])) \\
    + logits.softmax(-1).sum() \\
    + logits.log_softmax(-1).sum()
loss.backward()
done = time.perf_counter()
print(imported - start, done - imported)
"""


def run_python(code: str, env: dict | None = None) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr else "failed")
    return result.stdout.strip()


def chain_times(library: str, n: int, repeats: int) -> list[float] | None:
    code = CHAIN_MAIN.format(body=CHAIN_WORKERS[library], n=n, repeats=repeats)
    try:
        return json.loads(run_python(code))
    except RuntimeError as err:
        if library == "minigrad":
            raise
        print(f"  {library:<10} not measured ({err})")
        return None


def startup_times(repeats: int) -> tuple[tuple[float, float], list[tuple[float, float]]]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = tuple(float(v) for v in run_python(FIRST_STEP, env).split())
        warm = [tuple(float(v) for v in run_python(FIRST_STEP, env).split())
                for _ in range(repeats)]
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"Autograd overhead: chain of {args.ops} ops on 1-element tensors, forward + "
          f"backward, median of {args.repeats} runs (each library in its own process, "
          "1 thread)")
    medians = {}
    for library in CHAIN_WORKERS:
        times = chain_times(library, args.ops, args.repeats)
        if times is not None:
            medians[library] = statistics.median(times)
    baseline = medians.get("pytorch")
    for library, median in medians.items():
        ratio = f"   {median / baseline:.2f}x PyTorch" if baseline else ""
        print(f"  {library:<10} {median:7.2f} us/op{ratio}")

    print(f"\nStart-up: import minigrad + first training step "
          f"(warm: median of {args.repeats} runs)")
    cold, warm = startup_times(args.repeats)
    warm_import = statistics.median(w[0] for w in warm)
    warm_step = statistics.median(w[1] for w in warm)
    print(f"  cold cache: import {cold[0]:.2f} s, first step {cold[1]:.2f} s "
          f"(compiles the kernels)")
    print(f"  warm cache: import {warm_import:.2f} s, first step {warm_step:.2f} s")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
