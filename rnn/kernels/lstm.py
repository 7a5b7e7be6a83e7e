"""Fused LSTM recurrence over a packed sequence: forward, backward, and the single cell.

Math (one bias per gate, gates stacked in rows i, f, g, o), for each step:

    a   = xw_t + h_{t-1} W_hh^T                 (xw = x W_ih^T + b, computed by the caller)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), tanh(a_g), sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

Shapes: N batch (= batch_sizes[0]), L steps, H hidden, T_total = batch_sizes.sum() packed rows
(see ``_common`` for the packed schedule; a padded (L, N, .) batch is batch_sizes = [N] * L).

Two implementations of the time loop, chosen by size (``impl="auto"``):

- ``"loop"``: the whole time loop in one Numba function with a hand-written matmul whose inner
  loop vectorises. No per-step Python or BLAS call overhead: wins when a step is tiny.
- ``"blas"``: a Python loop calling numpy's matmul (OpenBLAS, multi-threaded) for
  h_{t-1} W_hh^T and one fused Numba kernel for the gates. Wins once a step's GEMM is big.

Both call the same step kernels, so they agree to rounding. ``lstm_forward_numpy`` and
``lstm_backward_numpy`` are the plain-numpy reference (same API) that the tests compare with.
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
    previous_step,
    schedule,
    sigmoid_,
    steps,
    tanh_,
)

__all__ = [
    "lstm_forward",
    "lstm_backward",
    "lstm_cell_forward",
    "lstm_cell_backward",
    "lstm_forward_numpy",
    "lstm_backward_numpy",
]

# "auto" uses the one-kernel loop while a step's recurrent GEMM (N * H * 4H multiply-adds) is
# at most this many: the crossover measured by ``benchmarks/bench_rnn_kernels.py --sweep``
# (float32, 2 cores; e.g. N=16, H=64 runs the loop, N=8, H=128 calls BLAS). Near the
# crossover the winner changes with the load of the machine (BLAS's second thread waits
# when the other core is busy): measure in train_step terms, several times, before moving it.
LOOP_MAX_WORK = 1 << 18


@kernel
def _step_fwd(xw, hw, r0, B, h, c, hs, cs, gates):
    """One step's gates for rows b < B: a = xw[r0 + b] + hw[b]; updates the state rows
    h[b], c[b] (c read as c_{t-1}) and writes hs, cs, gates at row r0 + b."""
    H = h.shape[1]
    for b in range(B):
        x = xw[r0 + b]
        a = hw[b]
        hrow = h[b]
        crow = c[b]
        hsrow = hs[r0 + b]
        csrow = cs[r0 + b]
        grow = gates[r0 + b]
        for j in range(H):
            i = sigmoid_(x[j] + a[j])
            f = sigmoid_(x[H + j] + a[H + j])
            g = tanh_(x[2 * H + j] + a[2 * H + j])
            o = sigmoid_(x[3 * H + j] + a[3 * H + j])
            cn = f * crow[j] + i * g
            hn = o * tanh_(cn)
            crow[j] = cn
            hrow[j] = hn
            csrow[j] = cn
            hsrow[j] = hn
            grow[j] = i
            grow[H + j] = f
            grow[2 * H + j] = g
            grow[3 * H + j] = o


@kernel
def _step_bwd(grad_hs, gates, cs, c0, r0, B, p0, nprev, dh, dc, grad_xw):
    """One step's gate gradients for rows b < B.

    Reads dh[b] (gradient reaching h_t from later steps and h_n) plus grad_hs[r0 + b], and
    dc[b]; writes grad_xw[r0 + b] (= grad of the pre-activation a) and dc[b] <- grad c_{t-1}.
    c_{t-1} of row b is cs[p0 + b] if b < nprev else c0[b]. The caller then sets
    dh[:B] = grad_xw[r0:r0 + B] @ W_hh.
    """
    H = dh.shape[1]
    one = gates.dtype.type(1)
    for b in range(B):
        gh = grad_hs[r0 + b]
        grow = gates[r0 + b]
        crow = cs[r0 + b]
        cprev = cs[p0 + b] if b < nprev else c0[b]
        dhrow = dh[b]
        dcrow = dc[b]
        out = grad_xw[r0 + b]
        for j in range(H):
            i = grow[j]
            f = grow[H + j]
            g = grow[2 * H + j]
            o = grow[3 * H + j]
            tc = tanh_(crow[j])
            dht = dhrow[j] + gh[j]
            dct = dcrow[j] + dht * o * (one - tc * tc)
            out[j] = dct * g * i * (one - i)
            out[H + j] = dct * cprev[j] * f * (one - f)
            out[2 * H + j] = dct * i * (one - g * g)
            out[3 * H + j] = dht * tc * o * (one - o)
            dcrow[j] = dct * f


@kernel
def _fwd_loop(xw, w_hh_t, h, c, batch_sizes, offsets, reverse, hs, cs, gates, hw):
    L = batch_sizes.shape[0]
    for s in range(L):
        t = L - 1 - s if reverse else s
        B = batch_sizes[t]
        matmul_rows(h, 0, 0, B, w_hh_t, hw, 0)
        _step_fwd(xw, hw, offsets[t], B, h, c, hs, cs, gates)


@kernel
def _bwd_loop(grad_hs, w_hh, c0, cs, gates, batch_sizes, offsets, reverse, dh, dc, grad_xw):
    L = batch_sizes.shape[0]
    for s in range(L):
        t = s if reverse else L - 1 - s
        B = batch_sizes[t]
        p0, nprev = previous_step(batch_sizes, offsets, t, reverse)
        _step_bwd(grad_hs, gates, cs, c0, offsets[t], B, p0, nprev, dh, dc, grad_xw)
        matmul_rows(grad_xw, offsets[t], 0, B, w_hh, dh, 0)


def _check(xw, w_hh, h0, c0, batch_sizes):
    dt = float_dtype(xw)
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    xw = check_float("xw", xw, dt, (sched.total, 4 * H))
    w_hh = check_float("w_hh", w_hh, dt, (4 * H, H))
    h0 = check_float("h0", h0, dt, (sched.n, H))
    c0 = check_float("c0", c0, dt, (sched.n, H))
    return dt, sched, H, xw, w_hh, h0, c0


def lstm_forward(xw, w_hh, h0, c0, batch_sizes, reverse: bool = False, *, impl: str = "auto"):
    """Run the LSTM recurrence over a packed sequence.

    Args:
        xw: (T_total, 4H) input projections x W_ih^T + b, rows packed by step.
        w_hh: (4H, H) recurrent weights, gate rows i, f, g, o.
        h0, c0: (N, H) initial states.
        batch_sizes: (L,) int, non-increasing; N = batch_sizes[0].
        reverse: run steps L-1..0 (each sequence starts at its own last step).
        impl: "auto", "loop" (one Numba kernel) or "blas" (numpy matmul per step).

    Returns:
        hs, cs: (T_total, H) hidden and cell state of every row.
        gates: (T_total, 4H) activated i, f, g, o (saved for the backward).
        h_n, c_n: (N, H) each sequence's final state (its own last step; step 0 if reverse).

    All arrays share xw's dtype (float32 or float64).
    """
    dt, sched, H, xw, w_hh, h0, c0 = _check(xw, w_hh, h0, c0, batch_sizes)
    T = sched.total
    hs = np.empty((T, H), dt)
    cs = np.empty((T, H), dt)
    gates = np.empty((T, 4 * H), dt)
    h = h0.copy()
    c = c0.copy()
    hw = np.empty((sched.n, 4 * H), dt)
    if choose(impl, sched.n * 4 * H * H, LOOP_MAX_WORK) == "loop":
        w_hh_t = np.ascontiguousarray(w_hh.T)
        _fwd_loop(xw, w_hh_t, h, c, sched.batch_sizes, sched.offsets, bool(reverse),
                  hs, cs, gates, hw)
    else:
        w_hh_t = w_hh.T
        for r0, B, _, _ in steps(sched, reverse):
            np.matmul(h[:B], w_hh_t, out=hw[:B])
            _step_fwd(xw, hw, r0, B, h, c, hs, cs, gates)
    return hs, cs, gates, h, c


def lstm_backward(grad_hs, grad_h_n, grad_c_n, w_hh, h0, c0, hs, cs, gates, batch_sizes,
                  reverse: bool = False, *, impl: str = "auto", check: bool = True):
    """Gradients of the LSTM recurrence, given the forward's saved arrays.

    Args:
        grad_hs: (T_total, H) gradient w.r.t. hs, or None for zeros.
        grad_h_n, grad_c_n: (N, H) gradients w.r.t. h_n and c_n, or None for zeros.
        w_hh: (4H, H); h0, c0: (N, H); hs, cs: (T_total, H); gates: (T_total, 4H) as
            returned by ``lstm_forward``; batch_sizes (L,) and reverse as given to it.
        impl: as in ``lstm_forward``.
        check: validate w_hh, h0, c0 and the saved arrays; ``rnn.fused`` passes False for
            the arrays its own forward checked or made (the gradients are always checked).

    Returns:
        grad_xw: (T_total, 4H) gradient w.r.t. xw (= w.r.t. the gate pre-activations; the
            caller turns it into grads of W_ih, b and x with its own GEMMs).
        grad_h0, grad_c0: (N, H).
        grad_w_hh: (4H, H), one GEMM over all steps: grad_xw^T @ h_prev_all.
    """
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    N, T = sched.n, sched.total
    dt = float_dtype(hs) if check else hs.dtype
    if check:
        w_hh = check_float("w_hh", w_hh, dt, (4 * H, H))
        h0 = check_float("h0", h0, dt, (N, H))
        c0 = check_float("c0", c0, dt, (N, H))
        hs = check_float("hs", hs, dt, (T, H))
        cs = check_float("cs", cs, dt, (T, H))
        gates = check_float("gates", gates, dt, (T, 4 * H))
    grad_hs = output_grad("grad_hs", grad_hs, dt, (T, H))
    dh = output_grad("grad_h_n", grad_h_n, dt, (N, H), copy=True)
    dc = output_grad("grad_c_n", grad_c_n, dt, (N, H), copy=True)
    grad_xw = np.empty((T, 4 * H), dt)
    bs, offs = sched.batch_sizes, sched.offsets
    if choose(impl, N * 4 * H * H, LOOP_MAX_WORK) == "loop":
        _bwd_loop(grad_hs, w_hh, c0, cs, gates, bs, offs, bool(reverse), dh, dc, grad_xw)
    else:
        for r0, B, p0, nprev in reversed(list(steps(sched, reverse))):
            _step_bwd(grad_hs, gates, cs, c0, r0, B, p0, nprev, dh, dc, grad_xw)
            np.matmul(grad_xw[r0:r0 + B], w_hh, out=dh[:B])
    h_prev = np.empty((T, H), dt)
    prev_rows(hs, h0, bs, offs, bool(reverse), h_prev)
    grad_w_hh = grad_xw.T @ h_prev
    return grad_xw, dh, dc, grad_w_hh


def lstm_cell_forward(a, c_prev):
    """One LSTM cell step from its pre-activations.

    Args:
        a: (N, 4H) pre-activations x W_ih^T + b + h_prev W_hh^T, gate rows i, f, g, o.
        c_prev: (N, H) previous cell state.

    Returns:
        h, c: (N, H) new states; gates: (N, 4H) activated i, f, g, o (for the backward).
    """
    dt = float_dtype(a)
    N, G = np.shape(a)
    a = check_float("a", a, dt, (N, G))
    c = check_float("c_prev", c_prev, dt, (N, G // 4)).copy()
    h = np.empty_like(c)
    gates = np.empty_like(a)
    _step_fwd(a, np.zeros_like(a), 0, N, h, c, h, c.copy(), gates)
    return h, c, gates


def lstm_cell_backward(grad_h, grad_c, c_prev, c, gates):
    """Backward of ``lstm_cell_forward``.

    Args:
        grad_h, grad_c: (N, H) gradients w.r.t. the new h and c (None for zeros).
        c_prev, c: (N, H) previous and new cell state; gates: (N, 4H) as returned.

    Returns:
        grad_a: (N, 4H) gradient w.r.t. the pre-activations; grad_c_prev: (N, H).
    """
    dt = float_dtype(gates)
    N, G = np.shape(gates)
    H = G // 4
    gates = check_float("gates", gates, dt, (N, G))
    c = check_float("c", c, dt, (N, H))
    c_prev = check_float("c_prev", c_prev, dt, (N, H))
    gh = output_grad("grad_h", grad_h, dt, (N, H))
    dc = output_grad("grad_c", grad_c, dt, (N, H), copy=True)
    grad_a = np.empty((N, G), dt)
    _step_bwd(gh, gates, c, c_prev, 0, N, 0, 0, np.zeros((N, H), dt), dc, grad_a)
    return grad_a, dc


# ---------------------------------------------------------------------------------------
# Plain-numpy reference: same API and math, one numpy expression per gate per step.


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def lstm_forward_numpy(xw, w_hh, h0, c0, batch_sizes, reverse: bool = False):
    """Reference for ``lstm_forward`` (exact tanh/sigmoid in every dtype)."""
    sched = schedule(batch_sizes)
    H = w_hh.shape[1]
    hs = np.empty((sched.total, H), xw.dtype)
    cs = np.empty_like(hs)
    gates = np.empty((sched.total, 4 * H), xw.dtype)
    for r0, B, p0, nprev in steps(sched, reverse):
        h_prev = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        c_prev = np.concatenate([cs[p0:p0 + nprev], c0[nprev:B]])
        a = xw[r0:r0 + B] + h_prev @ w_hh.T
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 3 * H:])
        g = np.tanh(a[:, 2 * H:3 * H])
        cs[r0:r0 + B] = f * c_prev + i * g
        hs[r0:r0 + B] = o * np.tanh(cs[r0:r0 + B])
        gates[r0:r0 + B] = np.concatenate([i, f, g, o], axis=1)
    last = last_rows(sched, reverse)
    return hs, cs, gates, hs[last], cs[last]


def lstm_backward_numpy(grad_hs, grad_h_n, grad_c_n, w_hh, h0, c0, hs, cs, gates,
                        batch_sizes, reverse: bool = False):
    """Reference for ``lstm_backward``: gradients accumulated per packed row."""
    sched = schedule(batch_sizes)
    H = w_hh.shape[1]
    last = last_rows(sched, reverse)
    dhs = grad_hs.copy()
    dhs[last] += grad_h_n
    dcs = np.zeros_like(cs)
    dcs[last] += grad_c_n
    grad_xw = np.empty_like(gates)
    grad_h0 = np.zeros_like(h0)
    grad_c0 = np.zeros_like(c0)
    h_prev_all = np.empty_like(hs)
    for r0, B, p0, nprev in reversed(list(steps(sched, reverse))):
        rows = slice(r0, r0 + B)
        i, f, g, o = (gates[rows, k * H:(k + 1) * H] for k in range(4))
        c_prev = np.concatenate([cs[p0:p0 + nprev], c0[nprev:B]])
        h_prev_all[rows] = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        tc = np.tanh(cs[rows])
        dc = dcs[rows] + dhs[rows] * o * (1 - tc * tc)
        da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                             dc * i * (1 - g * g), dhs[rows] * tc * o * (1 - o)], axis=1)
        grad_xw[rows] = da
        dh_prev = da @ w_hh
        dhs[p0:p0 + nprev] += dh_prev[:nprev]
        dcs[p0:p0 + nprev] += (dc * f)[:nprev]
        grad_h0[nprev:B] += dh_prev[nprev:]
        grad_c0[nprev:B] += (dc * f)[nprev:]
    return grad_xw, grad_h0, grad_c0, grad_xw.T @ h_prev_all
