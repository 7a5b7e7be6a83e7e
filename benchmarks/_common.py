"""Shared pieces of the recurrent benchmarks (``bench_rnn_kernels.py``, ``bench_rnn.py``).

Import this module before numpy: at import it applies two command-line flags that only work
before numpy (and so OpenBLAS) loads or before the first large allocation:

- ``--threads N`` sets OPENBLAS_NUM_THREADS (the benchmarks also give PyTorch N threads);
- ``--keep-freed-memory`` calls ``keep_freed_memory()``: glibc keeps freed memory instead of
  giving it back to the OS (see there). Process-wide, so opt-in and reported.

Then: the problem sizes, the plain-numpy reference training step (``train_step`` on the arrays
of ``make``), timing, memory and page-fault probes, and a PyTorch worker process.
"""

from __future__ import annotations

import ctypes
import os
import sys


def _flag_value(flag: str) -> str | None:
    if flag in sys.argv[1:-1]:
        return sys.argv[sys.argv.index(flag) + 1]
    prefix = flag + "="
    return next((a[len(prefix):] for a in sys.argv[1:] if a.startswith(prefix)), None)


_KEEP_APPLIED: bool | None = None  # None: not asked; True/False: glibc accepted it or not


def keep_freed_memory() -> bool:
    """``minigrad.memory.keep_freed_memory`` (process-wide), remembering whether it applied.
    Called after the thread settings above, since importing minigrad loads numpy."""
    global _KEEP_APPLIED
    from minigrad.memory import keep_freed_memory as keep

    _KEEP_APPLIED = keep()
    return _KEEP_APPLIED


def keep_freed_memory_status() -> str:
    if _KEEP_APPLIED is None:
        return "off (glibc defaults)"
    if not _KEEP_APPLIED:
        return "REQUESTED BUT NOT APPLIED (mallopt unavailable or refused)"
    return "on (minigrad.memory.keep_freed_memory: glibc keeps freed memory for reuse)"


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:                      # the checkout's minigrad and rnn, installed or not
    sys.path.insert(0, ROOT)
if _flag_value("--threads"):                 # must happen before numpy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = _flag_value("--threads")
if "--keep-freed-memory" in sys.argv[1:]:     # before the first large allocation
    keep_freed_memory()

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from rnn.kernels import gru, lstm, vanilla  # noqa: E402

SIZES = {  # name: (L, N, H_in, H)
    "tiny": (20, 1, 16, 32),
    "small": (50, 32, 64, 128),
    "medium": (100, 64, 256, 256),
}
KINDS = ("lstm", "gru", "gru_ra", "rnn")    # gru: the seed's form; gru_ra: reset_after
GATES = {"lstm": 4, "gru": 3, "gru_ra": 3, "rnn": 1}
DT = np.float32


# ---------------------------------------------------------------- the machine, as measured
def _openblas():
    import glob

    libs = glob.glob(str(Path(np.__file__).parent.parent / "numpy.libs" / "*openblas*"))
    return ctypes.CDLL(libs[0]) if libs else None


def _openblas_call(names: tuple[str, ...], restype) -> object | None:
    try:
        lib = _openblas()
    except OSError:
        return None
    for name in names:
        if lib is not None and hasattr(lib, name):
            f = getattr(lib, name)
            f.restype = restype
            return f()
    return None


def blas_threads() -> str:
    """OpenBLAS's thread count as numpy will use it (best effort)."""
    n = _openblas_call(("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                        "openblas_get_num_threads"), ctypes.c_int)
    if n is not None:
        return str(n)
    return os.environ.get("OPENBLAS_NUM_THREADS", f"{os.cpu_count()} (cpu count)")


def blas_core() -> str:
    """The OpenBLAS kernel set numpy runs (e.g. Haswell = AVX2, SkylakeX = AVX-512), and
    OPENBLAS_CORETYPE if the environment forces one."""
    name = _openblas_call(("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                           "openblas_get_corename"), ctypes.c_char_p)
    core = name.decode() if isinstance(name, bytes) else "?"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return core + (f" (forced by OPENBLAS_CORETYPE={forced})" if forced else "")


def load_average() -> str:
    """1-minute load average: other processes on this 2-core machine skew every figure."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def busy_warning(threads: int) -> str | None:
    """A warning when other processes already keep the cores busy: with more runnable
    threads than cores, a multi-threaded GEMM waits for its descheduled threads at every
    barrier, and wall times of BLAS and PyTorch inflate by up to 10x, differently for each."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load + threads > (os.cpu_count() or 1) + 1.0:
        return (f"WARNING: load average {load:.1f} on {os.cpu_count()} CPUs: other processes "
                "compete for the cores and wall times are unreliable (multi-threaded ones "
                "most). Prefer a quiet machine, or --threads 1 --clock cpu.")
    return None


# ---------------------------------------------------------- the plain-numpy reference step
def make(kind: str, size: str, seed: int = 0) -> dict:
    """Random float32 arrays for ``train_step``: x (L*N, H_in) packed, w_ih (G*H, H_in),
    b (G*H,), w_hh (G*H, H), h0 and c0 zeros (N, H), R (L*N, H) the gradient of hs,
    S (N, H) that of h_n, b_hn (H,) (gru_ra only); bs (L,) batch sizes."""
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
        "S": rng.standard_normal((N, H)),       # drawn last: the others stay as they were
    }
    p = {name: v.astype(DT) for name, v in p.items()}
    p["bs"] = np.full(L, N, np.int64)
    return p


def _loss(p: dict, hs: np.ndarray, h_n: np.ndarray, with_h_n: bool) -> float | None:
    """The loss value ``sum(hs * R) + sum(h_n * S)`` (only computed ``with_h_n``)."""
    return float((hs * p["R"]).sum() + (h_n * p["S"]).sum()) if with_h_n else None


def train_step(kind: str, p: dict, ref: bool, impl: str = "auto",
               grad_h_n: bool = False) -> tuple:
    """One forward + backward of the recurrence incl. the caller's GEMMs (``xw = x W_ih^T +
    b`` before, grads of x, W_ih, b after), the loss being ``sum(hs * R)`` (plus
    ``sum(h_n * S)`` with ``grad_h_n``, which then also computes the loss's value, as a
    training step through autograd does). ``ref``: the plain-numpy reference of
    ``rnn.kernels`` (a Python loop of numpy ops per step, manual backward, weight gradients
    as one GEMM) instead of the kernels. Returns grad_x, grad_W_ih, grad_b, grad_W_hh,
    grad_h0 (and grad_b_hn for gru_ra)."""
    x, w_ih, w_hh, h0, bs = p["x"], p["w_ih"], p["w_hh"], p["h0"], p["bs"]
    kw = {} if ref else {"impl": impl}
    xw = x @ w_ih.T
    xw += p["b"]
    d_h_n = p["S"] if grad_h_n else np.zeros_like(h0)
    extra = ()
    if kind == "lstm":
        fwd, bwd = ((lstm.lstm_forward_numpy, lstm.lstm_backward_numpy) if ref
                    else (lstm.lstm_forward, lstm.lstm_backward))
        hs, cs, gates, h_n, c_n = fwd(xw, w_hh, h0, p["c0"], bs, **kw)
        _loss(p, hs, h_n, grad_h_n)
        grad_xw, grad_h0, _, grad_w_hh = bwd(p["R"], d_h_n, np.zeros_like(h0), w_hh, h0,
                                             p["c0"], hs, cs, gates, bs, **kw)
    elif kind.startswith("gru"):
        fwd, bwd = ((gru.gru_forward_numpy, gru.gru_backward_numpy) if ref
                    else (gru.gru_forward, gru.gru_backward))
        b_hn = p["b_hn"] if kind == "gru_ra" else None
        hs, gates, hn, h_n = fwd(xw, w_hh, h0, bs, False, b_hn, **kw)
        _loss(p, hs, h_n, grad_h_n)
        grad_xw, grad_h0, grad_w_hh, grad_b_hn = bwd(p["R"], d_h_n, w_hh, h0, hs, gates,
                                                     hn, bs, **kw)
        extra = () if b_hn is None else (grad_b_hn,)
    else:
        fwd, bwd = ((vanilla.rnn_forward_numpy, vanilla.rnn_backward_numpy) if ref
                    else (vanilla.rnn_forward, vanilla.rnn_backward))
        hs, h_n = fwd(xw, w_hh, h0, bs, **kw)
        _loss(p, hs, h_n, grad_h_n)
        grad_xw, grad_h0, grad_w_hh = bwd(p["R"], d_h_n, w_hh, h0, hs, bs, **kw)
    grad_x = grad_xw @ w_ih
    grad_w_ih = grad_xw.T @ x
    grad_b = grad_xw.sum(axis=0)
    return (grad_x, grad_w_ih, grad_b, grad_w_hh, grad_h0, *extra)


# ------------------------------------------------------------------------------ probes
# "wall": elapsed time. "cpu": CPU time of the whole process, which leaves out the time it
# waited for a core: on a busy machine (other processes on these 2 cores) it is far steadier,
# but it only measures the work where all of it runs on one thread (--threads 1), and it
# counts threads that spin waiting for work.
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def collect_times(fns: dict, repeats: int | dict, warmup: bool = True,
                  clock: str = "wall") -> dict:
    """Seconds of each call of each function, calls interleaved so that they share the
    machine's drift. ``repeats`` may be a dict per name (a function with fewer repeats
    drops out of the later passes); ``clock`` a key of ``CLOCKS``."""
    now = CLOCKS[clock]
    if warmup:
        for f in fns.values():
            f()                                 # warm-up (and compile)
    runs = repeats if isinstance(repeats, dict) else dict.fromkeys(fns, repeats)
    times: dict = {name: [] for name in fns}
    for i in range(max(runs.values(), default=0)):
        for name, f in fns.items():
            if i < runs[name]:
                t = now()
                f()
                times[name].append(now() - t)
    return times


def time_alternating(fns: dict, repeats: int | dict, warmup: bool = True,
                     clock: str = "wall") -> dict:
    """Median seconds per call of each function (see ``collect_times``)."""
    times = collect_times(fns, repeats, warmup, clock)
    return {name: float(np.median(ts)) for name, ts in times.items()}


def peak_mib(f) -> float:
    """Peak traced memory (tracemalloc, which numpy reports its buffers to) of one call, over
    what was allocated before it (after a warm-up call)."""
    f()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def step_memory(f) -> dict:
    """Memory of one call, three ways at once (call ``f`` once before, to warm it up):

    - ``peak``: peak traced memory (tracemalloc; numpy reports its buffers to it) over what
      was allocated before, MiB: what the step itself needs, whatever the allocator does;
    - ``rss``: growth of the process's peak resident set (VmHWM, reset through
      /proc/self/clear_refs) over the RSS before, MiB, None off Linux: what the OS had to
      hand out (memory that glibc kept from earlier steps costs nothing here);
    - ``faults``: minor page faults during the call.
    """
    rusage = resource.getrusage
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")                       # resets VmHWM to the current RSS
        rss_before = _proc_status_kib("VmRSS")
    except (OSError, KeyError):
        rss_before = None
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    faults = rusage(resource.RUSAGE_SELF).ru_minflt
    f()
    faults = rusage(resource.RUSAGE_SELF).ru_minflt - faults
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = None if rss_before is None else (_proc_status_kib("VmHWM") - rss_before) / 1024
    return {"peak": (peak - base) / 2**20, "rss": rss, "faults": faults}


def page_faults(f, n: int = 3) -> float:
    """Minor page faults per call: by default glibc hands large freed arrays back to the
    OS, so every step faults its fresh arrays in again (see ``keep_freed_memory``)."""
    f()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        f()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n


# ---------------------------------------------------------------------- worker processes
class LineWorker:
    """A child process that answers JSON requests, one line each way (see ``serve``). Its
    stderr is this process's. ``settle`` seconds are waited before and after each request:
    OpenBLAS (and OpenMP) threads keep spinning ~0.1 s after a GEMM and would slow down
    whichever process runs next on this 2-core machine."""

    def __init__(self, argv: list, settle: float = 0.0, env: dict | None = None) -> None:
        self.settle = settle
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args[:3]} died (exit {self.proc.wait()})")
        return json.loads(line)

    def request(self, obj):
        time.sleep(self.settle)
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        reply = self.read()
        time.sleep(self.settle)
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def serve(handle) -> None:
    """The child's side of ``LineWorker``: answers each request line with ``handle(obj)``."""
    for line in sys.stdin:
        print(json.dumps(handle(json.loads(line))), flush=True)


#: Environment that caps the instruction set of PyTorch's kernels: its own (ATen), oneDNN's
#: (its fused CPU LSTM) and MKL's (its GEMMs). "avx2" matches OPENBLAS_CORETYPE=Haswell, the
#: AVX2 kernels this environment forces on numpy even where the CPU has AVX-512.
TORCH_ISA_ENV = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
             "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def sgemm_peak(n: int = 1024, repeats: int = 7) -> float:
    """numpy's float32 GEMM speed, FLOP/s (median of ``repeats`` n x n x n products): the
    ceiling for a training step whose time is mostly GEMMs."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), np.float32), rng.random((n, n), np.float32)
    out = np.empty((n, n), np.float32)
    ts = []
    for _ in range(repeats + 2):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / float(np.median(ts[2:]))


_TORCH_WORKER = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
print(json.dumps({"threads": torch.get_num_threads(), "version": torch.__version__,
                  "isa": torch.backends.cpu.get_cpu_capability()}), flush=True)
classes = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
steps = {}
for line in sys.stdin:
    req = json.loads(line)
    key = (req["kind"], tuple(req["shape"]), req["grad_h_n"])
    if key not in steps:
        L, N, H_in, H = req["shape"]
        torch.manual_seed(0)
        m = classes[req["kind"]](H_in, H)
        x = torch.randn(L, N, H_in, requires_grad=True)
        R, S = torch.randn(L, N, H), torch.randn(1, N, H)

        def step(m=m, x=x, R=R, S=S, with_h_n=req["grad_h_n"]):
            m.zero_grad(); x.grad = None
            y, h_n = m(x)
            loss = (y * R).sum()
            if with_h_n:
                loss = loss + ((h_n[0] if isinstance(h_n, tuple) else h_n) * S).sum()
            loss.backward()

        for _ in range(3):
            step()
        steps[key] = step
    now = time.process_time if req.get("clock") == "cpu" else time.perf_counter
    ts = []
    for _ in range(req["repeats"]):
        t = now(); steps[key](); ts.append(now() - t)
    print(json.dumps(ts), flush=True)
"""


def torch_importable() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except ValueError:
        return False


class TorchWorker(LineWorker):
    """PyTorch in its own process (never imported here): ``times(kind, size, repeats)`` runs
    its ``nn.LSTM/GRU/RNN`` training step (forward + backward, grads for the input too; loss
    ``sum(y * R)``, plus ``sum(h_n * S)`` with ``grad_h_n``) that many times and returns the
    seconds of each. Living through the whole run, it can be timed in rounds interleaved
    with ours, so that both see the same drift of this shared machine."""

    def __init__(self, threads: int, settle: float = 0.2, isa: str = "native") -> None:
        env = dict(os.environ, **TORCH_ISA_ENV[isa])
        super().__init__([sys.executable, "-c", _TORCH_WORKER, str(threads)], settle, env)
        info = self.read()
        self.threads, self.version, self.isa = info["threads"], info["version"], info["isa"]

    def times(self, kind: str, size: str, repeats: int, grad_h_n: bool = False,
              clock: str = "wall") -> list:
        return self.request({"kind": kind, "shape": SIZES[size], "repeats": repeats,
                             "grad_h_n": grad_h_n, "clock": clock})


def torch_times(threads: int, sizes, repeats: dict, grad_h_n: bool = False) -> dict | None:
    """Median seconds of PyTorch's step for every kind ("lstm", "gru", "rnn") and size, as
    ``{"<kind>/<size>": seconds, "threads": n, "version": v}``; None without torch."""
    if not torch_importable():
        return None
    try:
        worker = TorchWorker(threads)
    except RuntimeError as err:
        print(err)
        return None
    out: dict = {"threads": worker.threads, "version": worker.version}
    try:
        for kind in ("lstm", "gru", "rnn"):
            for size in sizes:
                ts = worker.times(kind, size, repeats[size], grad_h_n)
                out[f"{kind}/{size}"] = float(np.median(ts))
    finally:
        worker.close()
    return out
