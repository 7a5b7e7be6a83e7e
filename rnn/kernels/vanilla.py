"""Fused Elman RNN recurrence (tanh or relu) over a packed sequence, and the single cell.

Math, for each step: ``h_t = act(xw_t + h_{t-1} W_hh^T)`` with act tanh or relu and
xw = x W_ih^T + b from the caller. Backward: ``da = dh_t * act'(h_t)`` (1 - h^2, or h > 0),
``dh_{t-1} = da W_hh``.

Shapes: N batch, L steps, H hidden, T_total packed rows; see ``_common`` for the packed
schedule and ``lstm`` for the two implementations ("loop": the whole time loop in one Numba
function; "blas": numpy matmul per step plus a fused Numba kernel).
"""

from __future__ import annotations

import numpy as np

from ._common import (
    check_float,
    choose,
    float_dtype,
    kernel,
    last_rows,
    matmul_rows,
    output_grad,
    prev_rows,
    schedule,
    steps,
    tanh_,
)

__all__ = [
    "rnn_forward",
    "rnn_backward",
    "rnn_cell_forward",
    "rnn_cell_backward",
    "rnn_forward_numpy",
    "rnn_backward_numpy",
]

# "auto" uses the one-kernel loop while N * H * H <= LOOP_MAX_WORK (the crossover measured by
# ``benchmarks/bench_rnn_kernels.py --sweep``; e.g. N=16, H=128 still runs the loop).
LOOP_MAX_WORK = 1 << 18


@kernel
def _step_fwd(xw, hw, r0, B, relu, h, hs):
    """h[b] = hs[r0 + b] = act(xw[r0 + b] + hw[b]) for b < B."""
    H = h.shape[1]
    zero = hs.dtype.type(0)
    for b in range(B):
        x = xw[r0 + b]
        a = hw[b]
        hrow = h[b]
        hsrow = hs[r0 + b]
        if relu:
            for j in range(H):
                v = x[j] + a[j]
                if v < zero:        # written so that NaN propagates
                    v = zero
                hrow[j] = v
                hsrow[j] = v
        else:
            for j in range(H):
                v = tanh_(x[j] + a[j])
                hrow[j] = v
                hsrow[j] = v


@kernel
def _step_bwd(grad_hs, hs, r0, B, relu, dh, grad_xw):
    """grad_xw[r0 + b] = (dh[b] + grad_hs[r0 + b]) * act'(hs[r0 + b]) for b < B; the caller
    then sets dh[:B] = grad_xw[r0:r0 + B] @ W_hh."""
    H = dh.shape[1]
    one = hs.dtype.type(1)
    zero = hs.dtype.type(0)
    for b in range(B):
        gh = grad_hs[r0 + b]
        y = hs[r0 + b]
        dhrow = dh[b]
        out = grad_xw[r0 + b]
        if relu:
            for j in range(H):
                out[j] = dhrow[j] + gh[j] if y[j] > zero else zero
        else:
            for j in range(H):
                out[j] = (dhrow[j] + gh[j]) * (one - y[j] * y[j])


@kernel
def _fwd_loop(xw, w_hh_t, h, batch_sizes, offsets, reverse, relu, hs, hw):
    L = batch_sizes.shape[0]
    for s in range(L):
        t = L - 1 - s if reverse else s
        B = batch_sizes[t]
        matmul_rows(h, 0, 0, B, w_hh_t, hw, 0)
        _step_fwd(xw, hw, offsets[t], B, relu, h, hs)


@kernel
def _bwd_loop(grad_hs, w_hh, hs, batch_sizes, offsets, reverse, relu, dh, grad_xw):
    L = batch_sizes.shape[0]
    for s in range(L):
        t = s if reverse else L - 1 - s
        B = batch_sizes[t]
        _step_bwd(grad_hs, hs, offsets[t], B, relu, dh, grad_xw)
        matmul_rows(grad_xw, offsets[t], 0, B, w_hh, dh, 0)


def _relu(nonlinearity: str) -> bool:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity == "relu"


def rnn_forward(xw, w_hh, h0, batch_sizes, reverse: bool = False, nonlinearity: str = "tanh",
                *, impl: str = "auto"):
    """Run the Elman RNN recurrence over a packed sequence.

    Args:
        xw: (T_total, H) input projections x W_ih^T + b, rows packed by step.
        w_hh: (H, H) recurrent weights.
        h0: (N, H) initial state.
        batch_sizes: (L,) int, non-increasing; N = batch_sizes[0].
        reverse: run steps L-1..0 (each sequence starts at its own last step).
        nonlinearity: "tanh" or "relu".
        impl: "auto", "loop" (one Numba kernel) or "blas" (numpy matmul per step).

    Returns:
        hs: (T_total, H) hidden state of every row (also what the backward needs).
        h_n: (N, H) each sequence's final state (its own last step; step 0 if reverse).
    """
    relu = _relu(nonlinearity)
    dt = float_dtype(xw)
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    N, T = sched.n, sched.total
    xw = check_float("xw", xw, dt, (T, H))
    w_hh = check_float("w_hh", w_hh, dt, (H, H))
    h = check_float("h0", h0, dt, (N, H)).copy()
    hs = np.empty((T, H), dt)
    hw = np.empty((N, H), dt)
    if choose(impl, N * H * H, LOOP_MAX_WORK) == "loop":
        _fwd_loop(xw, np.ascontiguousarray(w_hh.T), h, sched.batch_sizes, sched.offsets,
                  bool(reverse), relu, hs, hw)
    else:
        w_t = w_hh.T
        for r0, B, _, _ in steps(sched, reverse):
            np.matmul(h[:B], w_t, out=hw[:B])
            _step_fwd(xw, hw, r0, B, relu, h, hs)
    return hs, h


def rnn_backward(grad_hs, grad_h_n, w_hh, h0, hs, batch_sizes, reverse: bool = False,
                 nonlinearity: str = "tanh", *, impl: str = "auto", check: bool = True):
    """Gradients of the Elman RNN recurrence.

    Args:
        grad_hs: (T_total, H) gradient w.r.t. hs, or None for zeros.
        grad_h_n: (N, H) gradient w.r.t. h_n, or None for zeros.
        w_hh: (H, H); h0: (N, H); hs: (T_total, H) from ``rnn_forward``;
            batch_sizes, reverse, nonlinearity as given to it.
        impl: as in ``rnn_forward``.
        check: validate w_hh, h0 and hs; ``rnn.fused`` passes False for the arrays its own
            forward checked or made (the gradients are always checked).

    Returns:
        grad_xw: (T_total, H); grad_h0: (N, H); grad_w_hh: (H, H) = grad_xw^T @ h_prev_all.
    """
    relu = _relu(nonlinearity)
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    N, T = sched.n, sched.total
    dt = float_dtype(hs) if check else hs.dtype
    if check:
        w_hh = check_float("w_hh", w_hh, dt, (H, H))
        h0 = check_float("h0", h0, dt, (N, H))
        hs = check_float("hs", hs, dt, (T, H))
    grad_hs = output_grad("grad_hs", grad_hs, dt, (T, H))
    dh = output_grad("grad_h_n", grad_h_n, dt, (N, H), copy=True)
    grad_xw = np.empty((T, H), dt)
    bs, offs = sched.batch_sizes, sched.offsets
    if choose(impl, N * H * H, LOOP_MAX_WORK) == "loop":
        _bwd_loop(grad_hs, w_hh, hs, bs, offs, bool(reverse), relu, dh, grad_xw)
    else:
        for r0, B, _, _ in reversed(list(steps(sched, reverse))):
            _step_bwd(grad_hs, hs, r0, B, relu, dh, grad_xw)
            np.matmul(grad_xw[r0:r0 + B], w_hh, out=dh[:B])
    h_prev = np.empty((T, H), dt)
    prev_rows(hs, h0, bs, offs, bool(reverse), h_prev)
    return grad_xw, dh, grad_xw.T @ h_prev


def rnn_cell_forward(a, nonlinearity: str = "tanh"):
    """One RNN cell step from its pre-activations a (N, H) = x W_ih^T + b + h W_hh^T:
    returns h (N, H) = act(a)."""
    relu = _relu(nonlinearity)
    dt = float_dtype(a)
    a = check_float("a", a, dt, np.shape(a))
    h = np.empty_like(a)
    _step_fwd(a, np.zeros_like(a), 0, a.shape[0], relu, h, h)
    return h


def rnn_cell_backward(grad_h, h, nonlinearity: str = "tanh"):
    """Backward of ``rnn_cell_forward``: grad_a (N, H) from grad_h and the output h (N, H)."""
    relu = _relu(nonlinearity)
    dt = float_dtype(h)
    h = check_float("h", h, dt, np.shape(h))
    grad_h = check_float("grad_h", grad_h, dt, h.shape)
    grad_a = np.empty_like(h)
    _step_bwd(grad_h, h, 0, h.shape[0], relu, np.zeros_like(h), grad_a)
    return grad_a


# ---------------------------------------------------------------------------------------
# Plain-numpy reference: same API and math.


def rnn_forward_numpy(xw, w_hh, h0, batch_sizes, reverse: bool = False,
                      nonlinearity: str = "tanh"):
    """Reference for ``rnn_forward``."""
    act = (lambda v: np.maximum(v, 0)) if _relu(nonlinearity) else np.tanh
    sched = schedule(batch_sizes)
    hs = np.empty((sched.total, w_hh.shape[0]), xw.dtype)
    for r0, B, p0, nprev in steps(sched, reverse):
        h = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        hs[r0:r0 + B] = act(xw[r0:r0 + B] + h @ w_hh.T)
    return hs, hs[last_rows(sched, reverse)]


def rnn_backward_numpy(grad_hs, grad_h_n, w_hh, h0, hs, batch_sizes, reverse: bool = False,
                       nonlinearity: str = "tanh"):
    """Reference for ``rnn_backward``: gradients accumulated per packed row."""
    relu = _relu(nonlinearity)
    sched = schedule(batch_sizes)
    dhs = grad_hs.copy()
    dhs[last_rows(sched, reverse)] += grad_h_n
    grad_xw = np.empty_like(hs)
    grad_h0 = np.zeros_like(h0)
    h_prev_all = np.empty_like(hs)
    for r0, B, p0, nprev in reversed(list(steps(sched, reverse))):
        rows = slice(r0, r0 + B)
        h_prev_all[rows] = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        y = hs[rows]
        da = dhs[rows] * ((y > 0) if relu else (1 - y * y))
        grad_xw[rows] = da
        dh = da @ w_hh
        dhs[p0:p0 + nprev] += dh[:nprev]
        grad_h0[nprev:B] += dh[nprev:]
    return grad_xw, grad_h0, grad_xw.T @ h_prev_all
