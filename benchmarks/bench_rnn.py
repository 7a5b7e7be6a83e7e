"""Layer-level benchmark: one training step of rnn.LSTM / GRU / RNN against numpy and PyTorch.

A step is what training runs: clear the grads, ``output, h_n = layer(x)`` on x (L, N, H_in)
(which requires grad), ``loss = sum(output * R) + sum(h_n * S)``, ``loss.backward()``; one
layer, one direction, float32. It is timed for

- ``fused``: the layer with ``impl="fused"`` (Numba kernels, one graph node), minigrad autograd;
- ``composed``: the same layer with ``impl="composed"`` (minigrad ops per gate and step);
- ``numpy``: the plain-numpy reference of the same math (``_common.train_step``: a Python loop
  of numpy ops per step, manual backward, weight gradients as one GEMM over all steps), on
  the layer's own weights; its gradients are checked against the fused layer's once;
- ``torch``: PyTorch's ``nn.LSTM/GRU/RNN`` step with the same loss, in a separate process
  (PyTorch is never imported here) at the same thread count, timed in rounds interleaved with
  ours so that both see the same drift of this shared machine.

Rows ``gru`` (the seed's GRU: reset applied before the matmul) and ``gru_ra``
(``reset_after=True``, the cuDNN / PyTorch form): PyTorch's GRU is compared with ``gru_ra``.
The GRU / LSTM ratios ("f/LSTM", and the goal) come from a separate measurement in which the
fused LSTM, GRU and GRU reset_after steps take turns (each in its own process): rows measured
one after the other see different moments of this machine, and their ratio drifts by 20% or
more.
Times are medians over repeats; fused and numpy are called alternately, composed (10-300x
slower) after them. Each row runs in a fresh process of its own (``--row``), because glibc's
malloc adapts to the largest blocks a process has freed so far, so page faults and times
would otherwise depend on the rows measured before. Memory of one step (fused and numpy,
after warm-up): the peak of memory traced by tracemalloc (numpy reports its buffers to it)
over what existed before the step, the growth of the process's peak RSS during the step,
and minor page faults per step.

    python benchmarks/bench_rnn.py [--sizes tiny,small,medium] [--kinds lstm,gru,rnn]
        [--threads N] [--repeats R] [--no-torch] [--torch-isa native|avx2] [--quick]
        [--keep-freed-memory] [--clock wall|cpu] [--profile]

``--threads N`` sets OPENBLAS_NUM_THREADS before numpy loads and gives PyTorch N threads
(default: the CPU count). ``--keep-freed-memory`` makes glibc keep freed memory for the whole
process (``_common.keep_freed_memory``; opt-in because it is process-wide: RSS then stays at
its high-water mark). ``--profile`` prints, instead of the table, where the fused step's time
goes (layer and autograd overhead, input GEMMs, per-step GEMMs, gate kernels) at the first
size given (default small). ``--quick`` (< 1 minute on a quiet machine) cuts the repeats
and skips composed at medium.

This machine is shared: with other processes on its 2 cores, multi-threaded wall times
inflate by up to 10x (a GEMM waits for its descheduled threads), differently for numpy and
PyTorch. The header prints the load average and warns; ``--threads 1 --clock cpu`` then
times the CPU time of each (single-threaded) process instead, which stays within a few
percent. The environment may also force OpenBLAS onto older kernels (OPENBLAS_CORETYPE,
printed in the header); PyTorch's MKL/oneDNN pick theirs themselves, so on an AVX-512 CPU
with OPENBLAS_CORETYPE=Haswell the two libraries run different instruction sets.
``--torch-isa avx2`` caps PyTorch at AVX2 too (``_common.TORCH_ISA_ENV``), for a comparison
on the same instruction set; the header says which ISA each side runs.

The goals table also gives a floor: the step's GEMM work at numpy's float32 GEMM speed
(measured at the start, 1024^3, same threads). No implementation whose GEMMs run on this
numpy can be faster, so a goal below that floor's ratio cannot be met with it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

# _common before numpy: it applies --threads and --keep-freed-memory at import.
import _common as C
import numpy as np

import minigrad as mg
import rnn
from rnn import kernels

SIZES = C.SIZES
REPEATS = {"tiny": 200, "small": 30, "medium": 6}      # fused, numpy and torch
COMPOSED_REPEATS = {"tiny": 30, "small": 6, "medium": 2}
QUICK = {"tiny": 20, "small": 5, "medium": 2}
QUICK_COMPOSED = {"tiny": 5, "small": 2, "medium": 0}    # medium: skipped
ROUNDS = 3          # ours and PyTorch alternate in this many rounds per row
GOAL_TORCH = {"tiny": 0.3, "small": 0.5, "medium": 1.0}   # fused / PyTorch LSTM, at most
GOAL_GRU_LSTM = 0.8                                      # our GRU / our LSTM, at most
TORCH_KIND = {"lstm": "lstm", "gru_ra": "gru", "rnn": "rnn"}
LAYERS = {"lstm": rnn.LSTM, "gru": rnn.GRU, "gru_ra": rnn.GRU, "rnn": rnn.RNN}


def gemm_flops(kind: str, size: str) -> float:
    """GEMM work of a training step: forward 2*G*T*N*H*(H_in+H), backward twice that."""
    L, N, H_in, H = SIZES[size]
    return 6 * C.GATES[kind] * L * N * H * (H_in + H)


class Case:
    """One row: the layer (fused and composed, same weights), the inputs, and the steps."""

    def __init__(self, kind: str, size: str, seed: int = 0, shape: tuple | None = None) -> None:
        L, N, H_in, H = shape or SIZES[size]
        self.kind, self.size = kind, size
        mg.manual_seed(seed)
        options = {"reset_after": True} if kind == "gru_ra" else {}
        self.fused = LAYERS[kind](H_in, H, impl="fused", **options)
        self.composed = LAYERS[kind](H_in, H, impl="composed", **options)
        self.composed.load_state_dict(self.fused.state_dict())
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((L, N, H_in)).astype(C.DT)
        R = rng.standard_normal((L, N, H)).astype(C.DT)
        S = rng.standard_normal((1, N, H)).astype(C.DT)
        self.x = mg.tensor(x, requires_grad=True)
        self.R, self.S = mg.tensor(R), mg.tensor(S)
        w = {name: p.data for name, p in self.fused.named_parameters()}
        self.p = {"x": x.reshape(L * N, H_in), "w_ih": w["weight_ih_l0"],
                  "w_hh": w["weight_hh_l0"], "b": w["bias_l0"],
                  "b_hn": w.get("bias_hn_l0"), "h0": np.zeros((N, H), C.DT),
                  "c0": np.zeros((N, H), C.DT), "R": R.reshape(L * N, H), "S": S[0],
                  "bs": np.full(L, N, np.int64)}

    def layer_step(self, module) -> None:
        module.zero_grad()
        self.x.grad = None
        output, state = module(self.x)
        h_n = state[0] if isinstance(state, tuple) else state
        loss = (output * self.R).sum() + (h_n * self.S).sum()
        loss.backward()

    def steps(self) -> dict:
        return {"fused": lambda: self.layer_step(self.fused),
                "composed": lambda: self.layer_step(self.composed),
                "numpy": self.numpy_step}

    def numpy_step(self) -> tuple:
        return C.train_step(self.kind, self.p, ref=True, grad_h_n=True)

    def kernel_step(self, impl: str = "auto") -> tuple:
        return C.train_step(self.kind, self.p, ref=False, impl=impl, grad_h_n=True)

    def check_grads(self) -> float:
        """Largest difference between the fused layer's gradients and numpy's, relative to
        the largest numpy gradient of each (float32 with a rational tanh: ~1e-6)."""
        self.layer_step(self.fused)
        ref = self.numpy_step()
        L, N, H_in = SIZES[self.size][:3]
        ours = [self.x.grad.data.reshape(L * N, H_in), self.fused.weight_ih_l0.grad.data,
                self.fused.bias_l0.grad.data, self.fused.weight_hh_l0.grad.data]
        if self.kind == "gru_ra":
            ours.append(self.fused.bias_hn_l0.grad.data)
            ref = (*ref[:4], ref[5])
        return max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
                   for a, b in zip(ours, ref[:len(ours)], strict=True))


# ------------------------------------------------------------------------------ the table
def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def serve_row(kind: str, size: str) -> None:
    """The child process of one row (``--row KIND SIZE``): answers the parent's requests."""
    case = Case(kind, size)
    steps = case.steps()

    def handle(req: dict) -> dict:
        if req["cmd"] == "time":
            for name in req["warmup"]:
                steps[name]()
            return C.collect_times({k: steps[k] for k in req["reps"]}, req["reps"],
                                   warmup=False, clock=req["clock"])
        out = {}
        for name in ("fused", "numpy"):
            mem = C.step_memory(steps[name])
            out.update({f"mib {name}": mem["peak"], f"rss {name}": mem["rss"],
                        f"flt {name}": mem["faults"]})
        out["err"] = case.check_grads()
        return out

    C.serve(handle)


def measure_interleaved(size: str, kinds: list, repeats: int, passthrough: list,
                        clock: str, chunks: int) -> dict:
    """Median seconds of each kind's fused step, the kinds taking turns in ``chunks`` chunks
    so that they see the same moments of the machine; each chunk starts with an untimed
    step (the process was idle while the others ran). Each kind runs in a fresh process of
    its own (as in ``measure_row``): sharing one would let the LSTM's larger frees raise
    glibc's thresholds for the GRU too, sparing it page faults it has when trained alone."""
    children = {kind: C.LineWorker([sys.executable, __file__, "--row", kind, size,
                                    *passthrough]) for kind in kinds}
    times: dict = {kind: [] for kind in kinds}
    try:
        for n in split(repeats, chunks):
            for kind, child in children.items():
                if n:
                    got = child.request({"cmd": "time", "reps": {"fused": n},
                                         "warmup": ["fused"], "clock": clock})
                    times[kind] += got["fused"]
    finally:
        for child in children.values():
            child.close()
    return {kind: float(np.median(ts)) for kind, ts in times.items()}


def measure_row(kind: str, size: str, repeats: int, composed_repeats: int, worker,
                rounds: int, passthrough: list, clock: str) -> dict:
    """One row, in a fresh process of its own: glibc's malloc adapts its thresholds to the
    largest blocks a process has freed so far (see ``_common.keep_freed_memory``), so page
    faults, RSS and time would otherwise depend on which rows ran before. Fused and numpy
    alternate, in ``rounds`` rounds interleaved with PyTorch's; then memory; then composed
    on its own (its frees would change the glibc state of the others)."""
    child = C.LineWorker([sys.executable, __file__, "--row", kind, size, *passthrough])
    times: dict = {"fused": [], "numpy": [], "composed": []}
    torch_ts: list = []
    try:
        for i, n in enumerate(split(repeats, rounds)):
            got = child.request({"cmd": "time", "reps": {"fused": n, "numpy": n},
                                 "warmup": ["fused", "numpy"] if i == 0 else [],
                                 "clock": clock})
            for name, ts in got.items():
                times[name] += ts
            if worker is not None and kind in TORCH_KIND and n:
                torch_ts += worker.times(TORCH_KIND[kind], size, n, True, clock)
        row = child.request({"cmd": "memory"})
        if composed_repeats:                    # one run only: no warm-up either
            got = child.request({"cmd": "time", "reps": {"composed": composed_repeats},
                                 "warmup": ["composed"] if composed_repeats > 1 else [],
                                 "clock": clock})
            times["composed"] = got["composed"]
    finally:
        child.close()
    row.update({name: float(np.median(ts)) for name, ts in times.items() if ts})
    row["n"] = {name: len(ts) for name, ts in times.items()}
    if torch_ts:
        row["torch"] = float(np.median(torch_ts))
    return row


def fmt(v, width: int, spec: str = ".3f") -> str:
    return f"{'-':>{width}s}" if v is None else f"{v:{width}{spec}}"


def ratio(a, b):
    return None if a is None or b is None else a / b


def gru_lstm_ratio(results: dict, kind: str, size: str) -> float | None:
    """This kind's fused step over the LSTM's, from the interleaved measurement."""
    together = results.get(("interleaved", size), {})
    return ratio(together.get(kind), together.get("lstm"))


def print_tables(results: dict, sizes: list, kinds: list, tinfo) -> None:
    print("\nTraining step (forward + backward, grads of all parameters and of x), median ms")
    print(f"{'kind':6s} {'size':6s} {'fused':>9s} {'composed':>9s} {'numpy':>9s} "
          f"{'torch':>9s} | {'f/numpy':>7s} {'c/f':>6s} {'f/torch':>7s} {'goal':>5s} "
          f"{'f/LSTM':>6s} {'GF/s':>5s} {'n f/c':>7s}")
    for size in sizes:
        for kind in kinds:
            r = results[(kind, size)]
            f, c, n, t = (r.get(k) for k in ("fused", "composed", "numpy", "torch"))
            ms = [None if v is None else v * 1e3 for v in (f, c, n, t)]
            goal = GOAL_TORCH[size] if kind == "lstm" else None
            versus_lstm = None if kind == "lstm" else gru_lstm_ratio(results, kind, size)
            print(f"{kind:6s} {size:6s} {fmt(ms[0], 9)} {fmt(ms[1], 9)} {fmt(ms[2], 9)} "
                  f"{fmt(ms[3], 9)} | {fmt(ratio(f, n), 7, '.2f')} {fmt(ratio(c, f), 6, '.1f')} "
                  f"{fmt(ratio(f, t), 7, '.2f')} {fmt(goal, 5, '.1f')} "
                  f"{fmt(versus_lstm, 6, '.2f')} "
                  f"{gemm_flops(kind, size) / f / 1e9:5.1f} "
                  f"{r['n']['fused']:>3d}/{r['n'].get('composed', 0):<3d}")
    print("f = fused, c = composed; goal: of f/torch; f/LSTM: this kind's fused step over "
          "the fused LSTM's, the kinds taking turns (not this table's rows); GF/s: GEMM FLOP "
          "of the step / fused time; n: repeats (fused, numpy and torch / composed; composed "
          "is not warmed up when run once)")
    if tinfo:
        print(f"torch {tinfo[0]} ({tinfo[3]} kernels), {tinfo[1]} threads, separate process, "
              f"timed in {tinfo[2]} rounds interleaved with ours; its GRU is the reset_after "
              "form (row gru_ra)")

    print("\nMemory of one step (after warm-up): tracemalloc peak over the memory "
          "before it, MiB; peak-RSS growth, MiB; minor page faults per step")
    print(f"{'kind':6s} {'size':6s} {'peak f':>8s} {'peak np':>8s} {'f/np':>5s} "
          f"{'<=np?':>5s} | {'RSS f':>7s} {'RSS np':>7s} | {'flt f':>7s} {'flt np':>7s} | "
          f"{'grad err':>8s}")
    for size in sizes:
        for kind in kinds:
            r = results[(kind, size)]
            mf, mn = r["mib fused"], r["mib numpy"]
            print(f"{kind:6s} {size:6s} {mf:8.2f} {mn:8.2f} {mf / mn:5.2f} "
                  f"{'yes' if mf <= mn else 'NO':>5s} | {fmt(r['rss fused'], 7, '.2f')} "
                  f"{fmt(r['rss numpy'], 7, '.2f')} | {r['flt fused']:7.0f} "
                  f"{r['flt numpy']:7.0f} | {r['err']:8.1e}")
    print("tiny: a step's arrays take a few KiB, so the graph's Python objects (also traced) "
          "decide; grad err: max |fused - numpy| / max |numpy| over the gradients of x and "
          "each parameter")


def print_goals(results: dict, sizes: list, kinds: list, peak: float) -> None:
    print("\nGoals (from the issue) beside the measured ratios")
    print(f"{'goal':44s} {'target':>7s} {'measured':>9s}  met")
    for size in sizes:
        r = results.get(("lstm", size))
        if r and "torch" in r:
            v = r["fused"] / r["torch"]
            floor = gemm_flops("lstm", size) / peak / r["torch"]
            print(f"{'fused / PyTorch LSTM, ' + size:44s} {'<= ' + str(GOAL_TORCH[size]):>7s} "
                  f"{v:9.2f}  {'yes' if v <= GOAL_TORCH[size] else 'NO'}  (GEMM floor "
                  f"{floor:.2f}{': out of reach' if floor > GOAL_TORCH[size] else ''})")
    for size in sizes:
        for kind in ("gru", "gru_ra"):
            v = gru_lstm_ratio(results, kind, size)
            if v is not None:
                label = f"our {'GRU' if kind == 'gru' else 'GRU reset_after'} / our LSTM, {size}"
                print(f"{label:44s} {'<= ' + str(GOAL_GRU_LSTM):>7s} {v:9.2f}  "
                      f"{'yes' if v <= GOAL_GRU_LSTM else 'NO'}")
        t_lstm = results.get(("lstm", size), {}).get("torch")
        t_gru = results.get(("gru_ra", size), {}).get("torch")
        if t_lstm and t_gru:
            print(f"{'  (for reference: PyTorch GRU / LSTM, ' + size + ')':44s} {'':>7s} "
                  f"{t_gru / t_lstm:9.2f}")
    for size in sizes:
        rows = [(k, size) for k in kinds]
        worst = max(rows, key=lambda ks: results[ks]["mib fused"] / results[ks]["mib numpy"])
        w = results[worst]["mib fused"] / results[worst]["mib numpy"]
        met = sum(results[ks]["mib fused"] <= results[ks]["mib numpy"] for ks in rows)
        print(f"{'peak step memory fused / plain numpy, ' + size:44s} {'<= 1':>7s} {w:9.2f}  "
              f"{'yes' if met == len(rows) else 'NO'} (worst row: {worst[0]}; "
              f"{met} of {len(rows)} rows met)")


# ---------------------------------------------------------------------------- the profile
def profile(case: Case, repeats: int, clock: str) -> None:
    """Where the fused step's time goes: each piece timed alone, alternately. The fixed cost
    is the same step with every size 1: layer Python, graph nodes, engine and kernel dispatch,
    which no arithmetic speed-up can remove. The per-step GEMMs are timed as one G*H-wide GEMM
    per step (the seed's GRU makes two: 2H, then H)."""
    kind, p = case.kind, case.p
    L, N, H_in, H = SIZES[case.size]
    G = C.GATES[kind]
    x, w_ih, w_hh, b = p["x"], p["w_ih"], p["w_hh"], p["b"]
    xw = x @ w_ih.T + b
    b_hn = p["b_hn"] if kind == "gru_ra" else None
    zero = np.zeros((N, H), C.DT)
    if kind == "lstm":
        fwd = lambda: kernels.lstm_forward(xw, w_hh, zero, zero, p["bs"])  # noqa: E731
        saved = fwd()
        bwd = lambda: kernels.lstm_backward(p["R"], p["S"], None, w_hh, zero, zero,  # noqa
                                            *saved[:3], p["bs"])
    elif kind.startswith("gru"):
        fwd = lambda: kernels.gru_forward(xw, w_hh, zero, p["bs"], False, b_hn)  # noqa: E731
        saved = fwd()
        bwd = lambda: kernels.gru_backward(p["R"], p["S"], w_hh, zero, *saved[:3],  # noqa
                                           p["bs"])
    else:
        fwd = lambda: kernels.rnn_forward(xw, w_hh, zero, p["bs"])  # noqa: E731
        saved = fwd()
        bwd = lambda: kernels.rnn_backward(p["R"], p["S"], w_hh, zero, saved[0],  # noqa
                                           p["bs"])
    grad_xw = bwd()[0]
    hw = np.empty((N, G * H), C.DT)
    dh = np.empty((N, H), C.DT)
    w_hh_t = w_hh.T

    def step_gemms_fwd():
        for _ in range(L):
            np.matmul(zero, w_hh_t, out=hw)

    def step_gemms_bwd():
        for t in range(L):
            np.matmul(grad_xw[t * N:(t + 1) * N], w_hh, out=dh)

    def input_gemms():
        xw_ = x @ w_ih.T
        xw_ += b
        return grad_xw @ w_ih, grad_xw.T @ x, grad_xw.sum(axis=0)

    def grad_w_hh_gemm():
        return grad_xw.T @ saved[0]

    unit = Case(kind, case.size, shape=(1, 1, 1, 1))
    pieces = {
        "layer step (fused, autograd)": lambda: case.layer_step(case.fused),
        "same step at L = N = H_in = H = 1 (fixed cost)": lambda: unit.layer_step(unit.fused),
        "kernel step (same math, no autograd)": case.kernel_step,
        "kernel step, impl='loop'": lambda: case.kernel_step("loop"),
        "kernel step, impl='blas'": lambda: case.kernel_step("blas"),
        "  recurrence forward (kernels.*_forward)": fwd,
        "  recurrence backward (kernels.*_backward)": bwd,
        f"    {L} step GEMMs fwd ({N}x{H} @ {H}x{G * H})": step_gemms_fwd,
        f"    {L} step GEMMs bwd ({N}x{G * H} @ {G * H}x{H})": step_gemms_bwd,
        "    grad_W_hh GEMM (one, all steps)": grad_w_hh_gemm,
        "  input GEMMs (xw, grad_x, grad_W_ih, grad_b)": input_gemms,
    }
    t = C.time_alternating(pieces, repeats, clock=clock)
    flt = {name: C.page_faults(f, 2) for name, f in list(pieces.items())[:3:2]}
    total = t["layer step (fused, autograd)"]
    print(f"\nProfile of the fused {kind} step at {case.size} {SIZES[case.size]} "
          f"(L, N, H_in, H): median ms over {repeats} alternating repeats")
    for name, v in t.items():
        extra = f"  ({flt[name]:.0f} page faults)" if name in flt else ""
        print(f"{name:48s} {v * 1e3:8.3f}  {v / total:6.1%}{extra}")
    kernel = t["kernel step (same math, no autograd)"]
    rec = t["  recurrence forward (kernels.*_forward)"] + t[
        "  recurrence backward (kernels.*_backward)"]
    gemms = [t[k] for k in list(t)[7:11]]       # step GEMMs fwd, bwd, grad_W_hh, input GEMMs
    rest = rec - sum(gemms[:3])
    print(f"{'=> layer + autograd overhead (layer - kernel)':48s} {(total - kernel) * 1e3:8.3f}"
          f"  {(total - kernel) / total:6.1%}")
    print(f"{'=> all GEMMs (the four groups above)':48s} {sum(gemms) * 1e3:8.3f}  "
          f"{sum(gemms) / total:6.1%}  ({gemm_flops(kind, case.size) / sum(gemms) / 1e9:.0f} "
          "GFLOP/s)")
    print(f"{'=> recurrence minus its GEMMs (gates, glue)':48s} {rest * 1e3:8.3f}  "
          f"{rest / total:6.1%}")
    if rest < 0:
        print("   (negative: at this size impl='auto' runs the one-kernel loop with its own "
              "matmul, not the per-step BLAS calls timed above)")

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(max(3, repeats // 3)):
        case.layer_step(case.fused)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    print(f"\ncProfile of {max(3, repeats // 3)} layer steps, by own time (top 14):")
    print("\n".join(lines[start:start + 15]))


# ---------------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,small,medium")
    ap.add_argument("--kinds", default="lstm,gru,rnn",
                    help="lstm, gru (adds the gru_ra row), gru_ra, rnn")
    ap.add_argument("--threads", type=int, default=None,
                    help="OPENBLAS_NUM_THREADS and PyTorch threads (default: CPU count)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="repeats of fused, numpy and torch (composed: at most its default)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-isa", choices=sorted(C.TORCH_ISA_ENV), default="native",
                    help="cap PyTorch's instruction set; avx2 matches OPENBLAS_CORETYPE=Haswell")
    ap.add_argument("--quick", action="store_true", help="few repeats (< 1 minute)")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="glibc keeps freed memory (mallopt; process-wide, see _common)")
    ap.add_argument("--profile", action="store_true",
                    help="where the fused step's time goes, at the first size")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: CPU time of each process, steadier on a busy machine; needs "
                    "--threads 1")
    ap.add_argument("--row", nargs=2, metavar=("KIND", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.row:                                # a child process of measure_row
        serve_row(*args.row)
        return
    sizes = args.sizes.split(",")
    kinds = []
    for k in args.kinds.split(","):
        kinds += [g for g in (["gru", "gru_ra"] if k == "gru" else [k]) if g not in kinds]
    for name, given, known in (("size", sizes, SIZES), ("kind", kinds, LAYERS)):
        bad = [g for g in given if g not in known]
        if bad:
            ap.error(f"unknown {name} {bad}; choose from {list(known)}")
    threads = args.threads or os.cpu_count()
    if args.clock == "cpu" and threads != 1:
        ap.error("--clock cpu needs --threads 1: the CPU time of a process counts its "
                 "BLAS threads' spinning, and with several threads it is not elapsed time")
    started = time.perf_counter()
    print(f"float32; numpy {np.__version__}, OpenBLAS {C.blas_core()}, {C.blas_threads()} "
          f"threads; {os.cpu_count()} CPUs; load average {C.load_average()} at start")
    print(f"keep freed memory: {C.keep_freed_memory_status()}; clock: {args.clock}")
    warning = C.busy_warning(threads)
    if warning:
        print(warning)

    if args.profile:
        size = sizes[0] if args.sizes != ap.get_default("sizes") else "small"
        for kind in kinds:
            profile(Case(kind, size), args.repeats or (10 if args.quick else REPEATS[size]),
                    args.clock)
        return

    worker = None
    if not args.no_torch and C.torch_importable():
        try:
            worker = C.TorchWorker(threads, isa=args.torch_isa)
        except RuntimeError as err:
            print(err)
        else:
            print(f"PyTorch kernels: {worker.isa} (--torch-isa {args.torch_isa})")
    peak = C.sgemm_peak()
    print(f"numpy float32 GEMM, 1024^3: {peak / 1e9:.0f} GFLOP/s (the GEMM floor below)")
    passthrough = ["--threads", str(threads)] + (["--keep-freed-memory"]
                                                 if args.keep_freed_memory else [])
    rounds = 1 if args.quick else ROUNDS
    tinfo = (worker.version, worker.threads, rounds, worker.isa) if worker else None
    results = {}
    try:
        for size in sizes:
            n = args.repeats or (QUICK if args.quick else REPEATS)[size]
            nc = (QUICK_COMPOSED if args.quick else COMPOSED_REPEATS)[size]
            nc = min(nc, args.repeats) if args.repeats else nc
            for kind in kinds:
                r = measure_row(kind, size, n, nc, worker, rounds, passthrough, args.clock)
                results[(kind, size)] = r
                print(f"  measured {kind:6s} {size:6s}: fused {r['fused'] * 1e3:9.3f} ms, "
                      f"composed {r.get('composed', float('nan')) * 1e3:9.3f} ms, numpy "
                      f"{r['numpy'] * 1e3:9.3f} ms"
                      + (f", torch {r['torch'] * 1e3:9.3f} ms" if "torch" in r else ""),
                      flush=True)
            together = [k for k in ("lstm", "gru", "gru_ra") if k in kinds]
            if "lstm" in together and len(together) > 1:
                results[("interleaved", size)] = measure_interleaved(
                    size, together, n, passthrough, args.clock, rounds)
    finally:
        if worker:
            worker.close()
    print_tables(results, sizes, kinds, tinfo)
    print_goals(results, sizes, kinds, peak)
    composed = ", ".join(f"{s} {results[(kinds[0], s)]['n'].get('composed', 0)}"
                         for s in sizes)
    print(f"\ncomposed repeats per size (fewer: it is slow): {composed}; load average "
          f"{C.load_average()} at the end; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
