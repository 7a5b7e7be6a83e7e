"""Shared pieces of the recurrent kernels: activations, the packed step schedule, checks.

Activations. Numba has no vector math library here (no SVML), so ``math.tanh`` inside a
loop is a scalar call that blocks SIMD. For float32 the kernels therefore use a rational
approximation of tanh (``x * P(x^2) / Q(x^2)``, degree 4 over 4 in ``x^2``, clamped to
``|x| <= 9``, NaN passes through) whose loop LLVM vectorises. Against float64 tanh its
largest absolute error is 3.4e-7 (about 6 float32 ulps near 1; relative error below 2.5e-7
near 0), and sigmoid, computed as ``0.5 + 0.5 * tanh(x / 2)``, is within 2e-7 (measured on
2.4 million points; ``tests/test_rnn_kernels.py`` asserts 4e-7 and 2.5e-7). Float64 stays
exact (``math.tanh``) because gradcheck runs in float64. The coefficients were fitted for
this module (Loeb/Lawson iteratively re-weighted least squares on the relative error over
[0, 9]); Q has only positive coefficients, so it has no pole.

Each activation is a plain Python function (what runs under ``NUMBA_DISABLE_JIT=1``) with a
Numba ``overload`` that picks the float32 or float64 body while the kernel is typed.
Caution: Numba's on-disk cache is keyed on each kernel's own source file, so after editing
this file the cached kernels of ``lstm``/``gru``/``vanilla`` still hold the old inlined
code: delete ``rnn/kernels/__pycache__/*.nb[ic]`` (a fresh clone has no cache).

Packed schedule. A batch in packed layout has ``batch_sizes`` (L,), non-increasing; step t
owns rows ``offsets[t] : offsets[t] + batch_sizes[t]`` of every (T_total, .) array, row j of
a step being sequence j. The kernels keep a state buffer ``h`` (N, H) initialised from h0:
step t reads and overwrites ``h[:B]`` (B = batch_sizes[t]). In the forward direction a row
past B has ended, so ``h`` ends holding each sequence's state at its own last step; in the
reverse direction (t = L-1..0) the rows that start at step t still hold h0. One code path
serves padded and packed batches and both directions; the backward pass walks the same
schedule backwards with a gradient buffer ``dh`` (N, H) that ends as grad_h0.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit, types
from numba.extending import overload

__all__ = [
    "kernel",
    "tanh_",
    "sigmoid_",
    "Schedule",
    "schedule",
    "check_float",
    "output_grad",
    "prev_rows",
    "previous_step",
    "choose",
    "matmul_rows",
    "last_rows",
    "steps",
    "float_dtype",
]

# Every compiled kernel: cached on disk, compiled lazily on first call (no signatures),
# numpy's error model (the Python one adds a zero check to every division, which blocks
# vectorisation), and no fastmath (float64 must stay exact for gradcheck).
kernel = njit(cache=True, error_model="numpy")

# tanh(x) ~= x * P(u) / Q(u), u = x*x, |x| <= _CLAMP; coefficients lowest order first.
_CLAMP = 9.0
_P = (0.9999999794436187, 0.13381031093739196, 0.0034955945530660893,
      2.0609186941555977e-05, 1.335480703801295e-08)
_Q = (1.0, 0.46714346688693026, 0.025877006776585717, 0.0003285645261888752,
      7.776617611289505e-07)
_f32 = np.float32
_P0, _P1, _P2, _P3, _P4 = (_f32(c) for c in _P)
_Q0, _Q1, _Q2, _Q3, _Q4 = (_f32(c) for c in _Q)
_C32, _HALF32 = _f32(_CLAMP), _f32(0.5)


def _tanh32(x):
    """The float32 rational tanh; every constant is float32 so no operation widens."""
    x = min(max(x, -_C32), _C32)
    u = x * x
    p = (((_P4 * u + _P3) * u + _P2) * u + _P1) * u + _P0
    q = (((_Q4 * u + _Q3) * u + _Q2) * u + _Q1) * u + _Q0
    return x * p / q


def tanh_(x):
    """tanh for one scalar: rational approximation for float32, exact otherwise."""
    if isinstance(x, np.float32):
        return _tanh32(x)
    return math.tanh(x)


def sigmoid_(x):
    """Logistic sigmoid for one scalar, as ``0.5 + 0.5 * tanh(x / 2)``."""
    if isinstance(x, np.float32):
        return _HALF32 + _HALF32 * _tanh32(_HALF32 * x)
    return 0.5 + 0.5 * math.tanh(0.5 * x)


_tanh32_jit = njit(inline="always", error_model="numpy")(_tanh32)


@njit(inline="always", error_model="numpy")
def _sigmoid32_jit(x):
    return _HALF32 + _HALF32 * _tanh32_jit(_HALF32 * x)


@njit(inline="always")
def _tanh64_jit(x):
    return math.tanh(x)


@njit(inline="always")
def _sigmoid64_jit(x):
    return 0.5 + 0.5 * math.tanh(0.5 * x)


@overload(tanh_, inline="always", jit_options={"error_model": "numpy"})
def _ov_tanh(x):
    if x == types.float32:
        return lambda x: _tanh32_jit(x)
    if isinstance(x, types.Float):
        return lambda x: _tanh64_jit(x)
    return None


@overload(sigmoid_, inline="always", jit_options={"error_model": "numpy"})
def _ov_sigmoid(x):
    if x == types.float32:
        return lambda x: _sigmoid32_jit(x)
    if isinstance(x, types.Float):
        return lambda x: _sigmoid64_jit(x)
    return None


class Schedule:
    """The packed step schedule derived from ``batch_sizes`` (see ``schedule``).

    Attributes:
        batch_sizes: (L,) int64, non-increasing, positive; read-only.
        offsets: (L,) int64, first row of each step; read-only.
        total: T_total = batch_sizes.sum().
        n: N = batch_sizes[0].
    """

    __slots__ = ("batch_sizes", "offsets", "total", "n")

    def __init__(self, batch_sizes: np.ndarray, offsets: np.ndarray, total: int):
        self.batch_sizes = batch_sizes
        self.offsets = offsets
        self.total = total
        self.n = int(batch_sizes[0])


@kernel
def _offsets(batch_sizes, offsets):
    """Fill offsets (exclusive cumulative sum); return T_total, or -1 if batch_sizes is not
    positive and non-increasing. (One compiled call: the numpy version cost ~5 us.)"""
    total = 0
    for t in range(batch_sizes.shape[0]):
        if batch_sizes[t] < 1 or (t > 0 and batch_sizes[t] > batch_sizes[t - 1]):
            return -1
        offsets[t] = total
        total += batch_sizes[t]
    return total


def schedule(batch_sizes) -> Schedule:
    """Validate ``batch_sizes`` (1-D, positive, non-increasing) and build its Schedule (once
    per distinct value: Schedules are cached and shared).

    A Schedule is returned as it is: a caller that runs a forward and a backward over the
    same batch (``rnn.fused``) builds it once and passes it to both kernels."""
    if isinstance(batch_sizes, Schedule):
        return batch_sizes
    bs = np.ascontiguousarray(batch_sizes, dtype=np.int64)
    if bs.ndim != 1 or bs.shape[0] == 0:
        raise ValueError(f"batch_sizes must be a non-empty 1-D array, got shape {bs.shape}")
    return _schedule_of(bs.tobytes())


@functools.lru_cache(maxsize=256)
def _schedule_of(key: bytes) -> Schedule:
    """The Schedule of the int64 ``batch_sizes`` whose bytes are ``key``, built once: training
    repeats the same few shapes, and a step's forward and backward share it. Being shared,
    its arrays are read-only (an edit would corrupt the indexing of every later call)."""
    bs = np.frombuffer(key, dtype=np.int64).copy()
    offsets = np.empty_like(bs)
    total = _offsets(bs, offsets)
    if total < 0:
        raise ValueError(f"batch_sizes must be positive and non-increasing, got {bs.tolist()}")
    bs.flags.writeable = offsets.flags.writeable = False
    return Schedule(bs, offsets, int(total))


def check_float(name: str, a, dtype, shape: tuple) -> np.ndarray:
    """Return ``a`` as a C-contiguous array of ``dtype``, checking its shape.

    Raises:
        ValueError: the shape differs from ``shape``.
        TypeError: ``a`` is not float32/float64 or differs from ``dtype``.
    """
    if (type(a) is np.ndarray and a.dtype == dtype and a.shape == shape
            and a.flags.c_contiguous):
        return a                                    # the common case, in ~0.3 us
    a = np.asarray(a)
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {a.shape}")
    return np.ascontiguousarray(a)


def output_grad(name: str, grad, dtype, shape: tuple, copy: bool = False) -> np.ndarray:
    """The gradient reaching one output of a recurrence, checked as by ``check_float``:
    zeros for None, and a copy when ``copy`` (the kernel accumulates into it)."""
    if grad is None:
        return np.zeros(shape, dtype)
    grad = check_float(name, grad, dtype, shape)
    return grad.copy() if copy else grad


def float_dtype(xw) -> np.dtype:
    """The kernels' dtype: that of ``xw``, which must be float32 or float64."""
    dt = np.asarray(xw).dtype
    if dt not in (np.float32, np.float64):
        raise TypeError(f"xw: expected float32 or float64, got {dt}")
    return dt


@njit(inline="always")
def previous_step(batch_sizes, offsets, t, reverse):
    """Where step t's rows read their state: (p0, nprev), rows ``p0 .. p0 + nprev`` of the
    step processed just before it; step t's rows ``j >= nprev`` start from h0 instead.

    Forward, that is step t - 1 (every row continues; none at t = 0). Reverse, step t + 1:
    only its ``batch_sizes[t + 1]`` rows continue, the longer sequences start at step t."""
    L = batch_sizes.shape[0]
    if reverse:
        return (offsets[t + 1], batch_sizes[t + 1]) if t + 1 < L else (0, 0)
    return (offsets[t - 1], batch_sizes[t]) if t > 0 else (0, 0)


def choose(impl: str, work: int, limit: int) -> str:
    """The time-loop implementation for ``impl="auto"``: "loop" (one Numba kernel with a
    hand-written GEMM) while a step's recurrent matmul has at most ``limit`` multiply-adds
    (``work`` = N * G*H * H), "blas" (numpy matmul per step) above."""
    if impl == "auto":
        return "loop" if work <= limit else "blas"
    if impl not in ("loop", "blas"):
        raise ValueError(f"impl must be 'auto', 'loop' or 'blas', got {impl!r}")
    return impl


@kernel
def prev_rows(hs, h0, batch_sizes, offsets, reverse, out):
    """Gather each packed row's previous state: out[r] = the h that row r's step read.

    Forward: step t's row j read hs[offsets[t-1] + j] (h0[j] at t = 0). Reverse: it read
    hs[offsets[t+1] + j] if j < batch_sizes[t+1], else h0[j] (the sequence starts there).

    Args:
        hs: (T_total, H) states written by the forward kernel.
        h0: (N, H) initial states.
        batch_sizes, offsets: (L,) int64 schedule.
        reverse: direction of the recurrence.
        out: (T_total, H) filled in place.
    """
    L = batch_sizes.shape[0]
    H = hs.shape[1]
    for t in range(L):
        r0 = offsets[t]
        B = batch_sizes[t]
        p0, nprev = previous_step(batch_sizes, offsets, t, reverse)
        for j in range(B):
            if j < nprev:
                for k in range(H):
                    out[r0 + j, k] = hs[p0 + j, k]
            else:
                for k in range(H):
                    out[r0 + j, k] = h0[j, k]


def last_rows(sched: Schedule, reverse: bool) -> np.ndarray:
    """(N,) packed row holding each sequence's final state (h_n's source rows)."""
    if reverse:
        return np.arange(sched.n)
    lengths = (sched.batch_sizes[None, :] > np.arange(sched.n)[:, None]).sum(axis=1)
    return sched.offsets[lengths - 1] + np.arange(sched.n)


def steps(sched: Schedule, reverse: bool):
    """Yield (r0, B, p0, nprev) per step in processing order: step t's rows start at r0;
    its row j < nprev continued from row p0 + j, the others from the initial state."""
    bs, offs = sched.batch_sizes, sched.offsets
    L = bs.shape[0]
    order = range(L - 1, -1, -1) if reverse else range(L)
    for t in order:
        p0, nprev = previous_step(bs, offs, t, reverse)
        yield int(offs[t]), int(bs[t]), int(p0), int(nprev)


@kernel
def _matmul_row(arow, w, orow):
    """orow = arow @ w for one row; four rows of w per pass over orow."""
    K, M = w.shape
    K4 = K - K % 4
    for m in range(M):
        orow[m] = 0
    for k in range(0, K4, 4):
        a0, a1, a2, a3 = arow[k], arow[k + 1], arow[k + 2], arow[k + 3]
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        for m in range(M):
            orow[m] += (a0 * w0[m] + a1 * w1[m]) + (a2 * w2[m] + a3 * w3[m])
    for k in range(K4, K):
        ak = arow[k]
        wrow = w[k]
        for m in range(M):
            orow[m] += ak * wrow[m]


@kernel
def matmul_rows(a, r0, acol, B, w, out, ocol):
    """out[b, ocol:ocol + M] = a[r0 + b, acol:acol + K] @ w for b < B; w is (K, M).

    The hand-written GEMM of the one-kernel loops (no BLAS call overhead, no packing). The
    inner loop runs over contiguous rows of w, which LLVM vectorises; each pass updates four
    output rows from two rows of w, so loads and stores per multiply-add stay low (measured
    ~110-150 GFLOP/s float32 on one core at the sizes it is used for, about what one
    OpenBLAS thread reaches). Rows are sliced first so that every index is a bare loop
    counter: an offset index (``ocol + m``) gets Numba's negative-index wraparound, which
    blocks vectorisation (this alone was a 5x slowdown).
    """
    K, M = w.shape
    K2 = K - K % 2
    B4 = B - B % 4
    for b in range(0, B4, 4):
        x0 = a[r0 + b, acol:acol + K]
        x1 = a[r0 + b + 1, acol:acol + K]
        x2 = a[r0 + b + 2, acol:acol + K]
        x3 = a[r0 + b + 3, acol:acol + K]
        o0 = out[b, ocol:ocol + M]
        o1 = out[b + 1, ocol:ocol + M]
        o2 = out[b + 2, ocol:ocol + M]
        o3 = out[b + 3, ocol:ocol + M]
        for m in range(M):
            o0[m] = 0
            o1[m] = 0
            o2[m] = 0
            o3[m] = 0
        for k in range(0, K2, 2):
            w0, w1 = w[k], w[k + 1]
            a00, a01, a10, a11 = x0[k], x0[k + 1], x1[k], x1[k + 1]
            a20, a21, a30, a31 = x2[k], x2[k + 1], x3[k], x3[k + 1]
            for m in range(M):
                v0, v1 = w0[m], w1[m]
                o0[m] += a00 * v0 + a01 * v1
                o1[m] += a10 * v0 + a11 * v1
                o2[m] += a20 * v0 + a21 * v1
                o3[m] += a30 * v0 + a31 * v1
        if K2 < K:
            wk = w[K - 1]
            a00, a10, a20, a30 = x0[K - 1], x1[K - 1], x2[K - 1], x3[K - 1]
            for m in range(M):
                v0 = wk[m]
                o0[m] += a00 * v0
                o1[m] += a10 * v0
                o2[m] += a20 * v0
                o3[m] += a30 * v0
    for b in range(B4, B):
        _matmul_row(a[r0 + b, acol:acol + K], w, out[b, ocol:ocol + M])
