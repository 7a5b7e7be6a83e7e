"""Numba kernels vs their numpy references, per kernel, dtype and size, in one process.

Run: ``python benchmarks/bench_kernels.py [--quick] [--repeats N]``

Prints a markdown table of median wall times (``time.perf_counter``, after a warm-up that also
compiles the kernels) and the ratio numpy / numba (> 1: Numba is faster), plus which one the
routed kernel (``minigrad.kernels.<name>``) runs. Both sides include their Python wrappers
(dtype check, output allocation), since that is what the autograd ops pay. The kernels are
single-threaded (no ``parallel=True``), and so are numpy's elementwise ufuncs and reductions.
"""

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minigrad import kernels  # noqa: E402

SIZES = ((32, 128), (32, 512), (64, 1024), (256, 4096))
IGNORE = -100
SMOOTHING = 0.1


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after three warm-up calls."""
    for _ in range(3):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return float(np.median(times))


def cases(shape: tuple[int, int], dtype: type, rng: np.random.Generator):
    """Yield ``(kernel name, argument tuple)`` for every kernel with a Numba version."""
    n, c = shape
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    yield "sigmoid_forward", (x,)
    yield "sigmoid_backward", (kernels.sigmoid_forward_numpy(x), g)
    yield "tanh_backward", (np.tanh(x), g)
    yield "softmax_forward", (x,)
    yield "softmax_backward", (kernels.softmax_forward_numpy(x), g)
    yield "log_softmax_forward", (x,)
    yield "log_softmax_backward", (kernels.log_softmax_forward_numpy(x), g)
    targets = rng.integers(0, c, n)
    targets[::8] = IGNORE
    yield "cross_entropy_forward", (x, targets, IGNORE, SMOOTHING)
    log_probs = kernels.log_softmax_forward_numpy(x)
    grad_losses = np.full(n, 1.0 / n, dtype)
    yield "cross_entropy_backward", (log_probs, targets, grad_losses, IGNORE, SMOOTHING)


def routed_to(name: str, args: tuple) -> str:
    """Which version ``kernels.<name>`` runs for these arguments (spies on the numpy one)."""
    module = sys.modules[getattr(kernels, name).__module__]
    numpy_name = name + "_numpy"
    original = getattr(module, numpy_name)
    calls = []

    def spy(*a):
        calls.append(1)
        return original(*a)

    setattr(module, numpy_name, spy)
    try:
        getattr(module, name)(*args)
    finally:
        setattr(module, numpy_name, original)
    return "numpy" if calls else "numba"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="repeats for small sizes")
    parser.add_argument("--quick", action="store_true", help="two sizes, 30 repeats")
    opts = parser.parse_args()
    sizes = SIZES[:2] if opts.quick else SIZES
    repeats = 30 if opts.quick else opts.repeats

    import numba

    print(
        f"# minigrad kernel benchmark: numba {numba.__version__}, numpy {np.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()})"
    )
    print(
        "# threads: kernels and numpy ufuncs single-threaded; "
        f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS} (unused)"
    )
    print("# times: median microseconds; ratio = numpy / numba (> 1 means Numba is faster)\n")
    print("| kernel | dtype | size | numba µs | numpy µs | ratio | routed to |")
    print("|---|---|---|---:|---:|---:|---|")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        rows: dict[str, list[str]] = {}
        for shape in sizes:
            reps = max(20, repeats // 8) if shape[0] * shape[1] >= 1 << 20 else repeats
            for name, args in cases(shape, dtype, rng):
                numba_fn = getattr(kernels, name + "_numba")
                numpy_fn = getattr(kernels, name + "_numpy")
                t_numba = median_seconds(lambda f=numba_fn, a=args: f(*a), reps)
                t_numpy = median_seconds(lambda f=numpy_fn, a=args: f(*a), reps)
                rows.setdefault(name, []).append(
                    f"| {name} | {np.dtype(dtype).name} | {shape[0]}x{shape[1]} "
                    f"| {t_numba * 1e6:.1f} | {t_numpy * 1e6:.1f} | {t_numpy / t_numba:.2f} "
                    f"| {routed_to(name, args)} |"
                )
        for lines in rows.values():
            print("\n".join(lines))
    print("\ntanh_forward has no Numba version: it is np.tanh (SIMD), see its docstring.")


if __name__ == "__main__":
    main()
