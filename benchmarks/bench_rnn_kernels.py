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
"flt" columns count minor page faults per step: glibc returns large freed arrays to the OS,
so each step faults its fresh arrays in again; running with e.g.
``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824`` removes them.
``--sweep`` times impl="loop" against impl="blas" over step sizes, which is how each module's
LOOP_MAX_WORK (the "auto" threshold) was chosen. float32 throughout.
"""

from __future__ import annotations

import argparse
import os

# _common before numpy: it applies --threads (OPENBLAS_NUM_THREADS) at import.
import _common as C
import numpy as np
from _common import DT, GATES, KINDS, make, page_faults, peak_mib, time_alternating, train_step

REPEATS = {"tiny": 200, "small": 30, "medium": 7}


def torch_times(threads: int, sizes) -> dict | None:
    """PyTorch's step for every kind and size, median seconds (``_common.torch_times``)."""
    return C.torch_times(threads, sizes, REPEATS)


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
            mem.update({f"flt {name}": page_faults(f) for name, f in fns.items()})
            results[(kind, size)] = (t, mem)
            print(f"  measured {kind:6s} {size:6s}: kernel {t['kernel'] * 1e3:9.3f} ms, "
                  f"numpy {t['numpy'] * 1e3:9.3f} ms", flush=True)
    return results


def sweep(repeats_scale: float):
    """impl="loop" vs impl="blas", recurrence only (fwd + bwd), over step sizes."""
    print("\nloop vs blas, recurrence only (fwd + bwd, L=20), median ms; work = B*H*G*H")
    print(f"{'kind':6s} {'N':>4s} {'H':>4s} {'work':>9s} {'loop':>8s} {'blas':>8s}  faster")
    for kind in ("lstm", "gru", "gru_ra", "rnn"):
        for N, H in ((1, 32), (4, 32), (1, 128), (4, 64), (8, 64), (16, 64), (8, 128),
                     (32, 64), (16, 128), (32, 128), (64, 128)):
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
    threads = C.blas_threads()
    sizes = args.sizes.split(",")
    print(f"float32, numpy {np.__version__}, OpenBLAS threads {threads}, "
          f"{os.cpu_count()} CPUs")
    nthreads = int(args.threads or os.cpu_count())
    # PyTorch runs before and after our table; the faster of its two medians is kept, since
    # this machine's speed drifts by up to 2x over minutes (other tenants).
    tt = None if args.no_torch else torch_times(nthreads, sizes)
    results = run_table(sizes, scale)
    if tt:
        again = torch_times(nthreads, sizes) or {}
        tt = {k: (min(v, again.get(k, v)) if isinstance(v, float) else v) for k, v in tt.items()}
    print("\nTraining step (caller GEMMs + recurrence fwd + bwd), median ms; "
          "peak traced MiB over set-up")
    head = (f"{'kind':6s} {'size':6s} {'kernel':>9s} {'numpy':>9s} {'k/np':>6s} "
            f"{'torch':>9s} {'k/torch':>7s} {'k/LSTM':>6s} {'MiB k':>7s} {'MiB np':>7s} "
            f"{'flt k':>6s} {'flt np':>6s}")
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
                  f"{rel:6.2f} {mem['kernel']:7.2f} {mem['numpy']:7.2f} "
                  f"{mem['flt kernel']:6.0f} {mem['flt numpy']:6.0f}")
    if tt:
        print(f"torch {tt['version']} with {tt['threads']} threads, best of two runs (its GRU is "
              "the reset_after form: compared with gru_ra)")
    if args.sweep:
        sweep(scale)


if __name__ == "__main__":
    main()
