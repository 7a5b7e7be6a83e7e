"""Benchmark of the fused recurrent kernels (rnn.kernels) for one training step.

A step is what the layer will run: the caller-side input GEMM ``xw = x W_ih^T + b``, the
recurrence forward, its backward with ``grad_hs`` from the loss ``sum(hs * R)``, and the
caller-side GEMMs ``grad_x = grad_xw W_ih``, ``grad_W_ih = grad_xw^T x``, ``grad_b``. It is timed
for the kernels ("kernel", impl="auto") and for the plain-numpy reference of the same math
("numpy": a Python loop of numpy ops, weight gradients as one GEMM), as medians over repeats
taken alternately, with peak traced memory (tracemalloc) of one step over the set-up arrays.
If torch imports, PyTorch's nn.LSTM / nn.GRU / nn.RNN training step (forward + backward, grads
for the input too) is timed in a separate process (OpenBLAS threads of this process spin for
a while after each GEMM and would slow it down).

    python benchmarks/bench_rnn_kernels.py [--threads N] [--quick] [--sweep] [--no-torch]

``--threads`` sets OPENBLAS_NUM_THREADS (and torch's thread count) before numpy loads;
``--sweep`` times impl="loop" against impl="blas" over step sizes, which is how each module's
LOOP_MAX_WORK (the "auto" threshold) was chosen. float32 throughout.
"""

from __future__ import annotations

import os
import sys


def _threads_from_argv() -> str | None:
    if "--threads" in sys.argv:
        return sys.argv[sys.argv.index("--threads") + 1]
    return None


if _threads_from_argv():                      # must happen before numpy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = _threads_from_argv()

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnn.kernels import gru, lstm, vanilla  # noqa: E402

SIZES = {  # name: (L, N, H_in, H)
    "tiny": (20, 1, 16, 32),
    "small": (50, 32, 64, 128),
    "medium": (100, 64, 256, 256),
}
REPEATS = {"tiny": 200, "small": 30, "medium": 7}
KINDS = ("lstm", "gru", "gru_ra", "rnn")    # gru: the seed's form; gru_ra: reset_after
GATES = {"lstm": 4, "gru": 3, "gru_ra": 3, "rnn": 1}
DT = np.float32


def blas_threads() -> str:
    """OpenBLAS's thread count as numpy will use it (best effort)."""
    try:
        import ctypes
        import glob

        libs = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "*openblas*"))
        lib = ctypes.CDLL(libs[0])
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(lib, name):
                return str(getattr(lib, name)())
    except (OSError, IndexError):
        pass
    return os.environ.get("OPENBLAS_NUM_THREADS", f"{os.cpu_count()} (cpu count)")


def make(kind: str, size: str, seed: int = 0) -> dict:
    L, N, H_in, H = SIZES[size]
    G = GATES[kind]
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    p = {
        "x": rng.standard_normal((L * N, H_in)),
        "w_ih": rng.uniform(-k, k, (G * H, H_in)),
        "b": rng.uniform(-k, k, G * H),
        "w_hh": rng.uniform(-k, k, (G * H, H)),
        "h0": np.zeros((N, H)),
        "c0": np.zeros((N, H)),
        "R": rng.standard_normal((L * N, H)),
        "b_hn": rng.uniform(-k, k, H),
    }
    p = {name: v.astype(DT) for name, v in p.items()}
    p["bs"] = np.full(L, N, np.int64)
    return p


def train_step(kind: str, p: dict, ref: bool, impl: str = "auto") -> tuple:
    """One forward + backward incl. the caller's GEMMs; returns the gradients."""
    x, w_ih, w_hh, h0, bs = p["x"], p["w_ih"], p["w_hh"], p["h0"], p["bs"]
    kw = {} if ref else {"impl": impl}
    xw = x @ w_ih.T
    xw += p["b"]
    if kind == "lstm":
        fwd, bwd = ((lstm.lstm_forward_numpy, lstm.lstm_backward_numpy) if ref
                    else (lstm.lstm_forward, lstm.lstm_backward))
        hs, cs, gates, h_n, c_n = fwd(xw, w_hh, h0, p["c0"], bs, **kw)
        zero = np.zeros_like(h0)
        grad_xw, grad_h0, _, grad_w_hh = bwd(p["R"], zero, zero, w_hh, h0, p["c0"], hs, cs,
                                             gates, bs, **kw)
    elif kind.startswith("gru"):
        fwd, bwd = ((gru.gru_forward_numpy, gru.gru_backward_numpy) if ref
                    else (gru.gru_forward, gru.gru_backward))
        b_hn = p["b_hn"] if kind == "gru_ra" else None
        hs, gates, hn, h_n = fwd(xw, w_hh, h0, bs, False, b_hn, **kw)
        grad_xw, grad_h0, grad_w_hh, _ = bwd(p["R"], np.zeros_like(h0), w_hh, h0, hs, gates,
                                             hn, bs, **kw)
    else:
        fwd, bwd = ((vanilla.rnn_forward_numpy, vanilla.rnn_backward_numpy) if ref
                    else (vanilla.rnn_forward, vanilla.rnn_backward))
        hs, h_n = fwd(xw, w_hh, h0, bs, **kw)
        grad_xw, grad_h0, grad_w_hh = bwd(p["R"], np.zeros_like(h0), w_hh, h0, hs, bs, **kw)
    grad_x = grad_xw @ w_ih
    grad_w_ih = grad_xw.T @ x
    grad_b = grad_xw.sum(axis=0)
    return grad_x, grad_w_ih, grad_b, grad_w_hh, grad_h0


def time_alternating(fns: dict, repeats: int) -> dict:
    """Median seconds per call of each function, calls interleaved to share the drift."""
    for f in fns.values():
        f()                                     # warm-up (and compile)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def peak_mib(f) -> float:
    """Peak traced memory of one call, over what was allocated before it."""
    f()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


_TORCH_SCRIPT = r"""
import json, sys, time
import torch
threads, sizes, repeats = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
torch.set_num_threads(threads)
out = {"threads": torch.get_num_threads(), "version": torch.__version__}
for kind, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU), ("rnn", torch.nn.RNN)):
    for size, (L, N, H_in, H) in sizes.items():
        torch.manual_seed(0)
        m = cls(H_in, H)
        x = torch.randn(L, N, H_in, requires_grad=True)
        R = torch.randn(L, N, H)
        def step():
            m.zero_grad(); x.grad = None
            y, _ = m(x)
            (y * R).sum().backward()
        for _ in range(3):
            step()
        ts = []
        for _ in range(repeats[size]):
            t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
        ts.sort()
        out[f"{kind}/{size}"] = ts[len(ts) // 2]
print(json.dumps(out))
"""


def torch_times(threads: int) -> dict | None:
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return None
    except ValueError:
        return None
    time.sleep(0.5)                             # let this process's OpenBLAS threads idle
    proc = subprocess.run(
        [sys.executable, "-c", _TORCH_SCRIPT, str(threads), json.dumps(SIZES),
         json.dumps(REPEATS)], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        print("torch benchmark failed:", proc.stderr.strip().splitlines()[-1:])
        return None
    return json.loads(proc.stdout)


def run_table(sizes, repeats_scale: float) -> dict:
    results = {}
    for size in sizes:
        for kind in KINDS:
            p = make(kind, size)
            fns = {"kernel": lambda k=kind, p=p: train_step(k, p, False),
                   "numpy": lambda k=kind, p=p: train_step(k, p, True)}
            n = max(3, int(REPEATS[size] * repeats_scale))
            t = time_alternating(fns, n)
            mem = {name: peak_mib(f) for name, f in fns.items()}
            results[(kind, size)] = (t, mem)
            print(f"  measured {kind:6s} {size:6s}: kernel {t['kernel'] * 1e3:9.3f} ms, "
                  f"numpy {t['numpy'] * 1e3:9.3f} ms", flush=True)
    return results


def sweep(repeats_scale: float):
    """impl="loop" vs impl="blas", recurrence only (fwd + bwd), over step sizes."""
    print("\nloop vs blas, recurrence only (fwd + bwd, L=20), median ms; work = B*H*G*H")
    print(f"{'kind':6s} {'N':>4s} {'H':>4s} {'work':>9s} {'loop':>8s} {'blas':>8s}  faster")
    for kind in ("lstm", "gru", "gru_ra", "rnn"):
        for N, H in ((1, 32), (1, 64), (4, 32), (1, 128), (4, 64), (8, 64), (2, 128),
                     (16, 64), (8, 128), (32, 128)):
            L, G = 20, GATES[kind]
            p = make(kind, "tiny")
            rng = np.random.default_rng(1)
            p.update(x=rng.standard_normal((L * N, 8)).astype(DT),
                     w_ih=(0.1 * rng.standard_normal((G * H, 8))).astype(DT),
                     b=np.zeros(G * H, DT), h0=np.zeros((N, H), DT), c0=np.zeros((N, H), DT),
                     w_hh=(rng.standard_normal((G * H, H)) / np.sqrt(H)).astype(DT),
                     R=rng.standard_normal((L * N, H)).astype(DT),
                     b_hn=np.zeros(H, DT), bs=np.full(L, N, np.int64))
            fns = {impl: (lambda i=impl, k=kind, p=p: train_step(k, p, False, i))
                   for impl in ("loop", "blas")}
            t = time_alternating(fns, max(5, int(50 * repeats_scale)))
            best = min(t, key=t.get)
            print(f"{kind:6s} {N:4d} {H:4d} {N * H * G * H:9d} {t['loop'] * 1e3:8.3f} "
                  f"{t['blas'] * 1e3:8.3f}  {best}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="OPENBLAS_NUM_THREADS")
    ap.add_argument("--quick", action="store_true", help="a fifth of the repeats")
    ap.add_argument("--sweep", action="store_true", help="loop vs blas crossover")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--sizes", default="tiny,small,medium")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    threads = blas_threads()
    sizes = args.sizes.split(",")
    print(f"float32, numpy {np.__version__}, OpenBLAS threads {threads}, "
          f"{os.cpu_count()} CPUs")
    results = run_table(sizes, scale)
    tt = None if args.no_torch else torch_times(int(args.threads or os.cpu_count()))
    print("\nTraining step (caller GEMMs + recurrence fwd + bwd), median ms; "
          "peak traced MiB over set-up")
    head = (f"{'kind':6s} {'size':6s} {'kernel':>9s} {'numpy':>9s} {'k/np':>6s} "
            f"{'torch':>9s} {'k/torch':>7s} {'k/LSTM':>6s} {'MiB k':>7s} {'MiB np':>7s}")
    print(head)
    for size in sizes:
        for kind in KINDS:
            t, mem = results[(kind, size)]
            tk, tn = t["kernel"] * 1e3, t["numpy"] * 1e3
            key = f"{kind.replace('_ra', '')}/{size}"
            tor = tt.get(key) * 1e3 if tt and kind != "gru" else None
            tor_s = f"{tor:9.3f} {tk / tor:7.2f}" if tor else f"{'-':>9s} {'-':>7s}"
            rel = tk / (results[("lstm", size)][0]["kernel"] * 1e3)
            print(f"{kind:6s} {size:6s} {tk:9.3f} {tn:9.3f} {tk / tn:6.2f} {tor_s} "
                  f"{rel:6.2f} {mem['kernel']:7.2f} {mem['numpy']:7.2f}")
    if tt:
        print(f"torch {tt['version']} with {tt['threads']} threads (its GRU is the reset_after "
              "form: compared with gru_ra)")
    if args.sweep:
        sweep(scale)


if __name__ == "__main__":
    main()
