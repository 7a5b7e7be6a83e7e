"""Fused GRU recurrence over a packed sequence: forward, backward, and the single cell.

Math (one bias per gate, gates stacked in rows r, z, n), for each step:

    r = sigmoid(xw_r + h W_hr^T)          z = sigmoid(xw_z + h W_hz^T)
    n = tanh(xw_n + (r * h) W_hn^T)       (default: the seed's, reset before the matmul)
    n = tanh(xw_n + r * (h W_hn^T + b_hn))  (reset_after: cuDNN/PyTorch; given b_hn)
    h_t = (1 - z) * h + z * n

with h = h_{t-1} and xw = x W_ih^T + b from the caller. (In reset_after form z is
1 - PyTorch's z; the layer maps the parameters.) The default form needs two dependent GEMMs
per step ((r * h) only exists after the first), reset_after one.

Shapes: N batch, L steps, H hidden, T_total packed rows; see ``_common`` for the packed
schedule and ``lstm`` for the two implementations ("loop": the whole time loop in one Numba
function; "blas": numpy matmul per step plus fused Numba gate kernels).
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
    "gru_forward",
    "gru_backward",
    "gru_cell_forward",
    "gru_cell_backward",
    "gru_forward_numpy",
    "gru_backward_numpy",
]

# "auto" uses the one-kernel loop while N * H * 3H <= LOOP_MAX_WORK (the crossover measured by
# ``benchmarks/bench_rnn_kernels.py --sweep``; e.g. N=8, H=128 still runs the loop; see lstm.py
# on how the crossover moves with the machine's load).
LOOP_MAX_WORK = 1 << 19


@kernel
def _step_rz(xw, hw, r0, B, h, gates, rh):
    """r and z for rows b < B (hw[b, :2H] = h W_rz^T); writes gates[r0 + b, :2H], rh = r * h."""
    H = h.shape[1]
    for b in range(B):
        x = xw[r0 + b]
        a = hw[b]
        hrow = h[b]
        grow = gates[r0 + b]
        rhrow = rh[b]
        for j in range(H):
            r = sigmoid_(x[j] + a[j])
            grow[j] = r
            grow[H + j] = sigmoid_(x[H + j] + a[H + j])
            rhrow[j] = r * hrow[j]


@kernel
def _step_n(xw, hw, hcol, r0, B, b_hn, after, h, hs, gates, hn):
    """n and the new state for rows b < B; updates h[b], writes hs and gates[:, 2H:].

    hw[b, hcol:hcol + H] holds (r * h) W_hn^T (default) or h W_hn^T (after, which also
    saves hn[r0 + b] = h W_hn^T + b_hn for the backward).
    """
    H = h.shape[1]
    one = gates.dtype.type(1)
    for b in range(B):
        x = xw[r0 + b]
        a = hw[b]
        hrow = h[b]
        hsrow = hs[r0 + b]
        grow = gates[r0 + b]
        if after:
            hnrow = hn[r0 + b]
            for j in range(H):
                v = a[hcol + j] + b_hn[j]
                hnrow[j] = v
                grow[2 * H + j] = tanh_(x[2 * H + j] + grow[j] * v)
        else:
            for j in range(H):
                grow[2 * H + j] = tanh_(x[2 * H + j] + a[hcol + j])
        for j in range(H):
            z = grow[H + j]
            hnew = (one - z) * hrow[j] + z * grow[2 * H + j]
            hrow[j] = hnew
            hsrow[j] = hnew


@kernel
def _bwd_zn(grad_hs, gates, hs, h0, hn, r0, B, p0, nprev, after, dh, dm, grad_xw, ghw):
    """Gradients of n and z (and r when after) for rows b < B.

    The gradient reaching h_t is dh[b] + dm[b] + grad_hs[r0 + b] (dm: the previous
    backward step's GEMM). Writes grad_xw[r0 + b, H:] (all of it when after), sets
    dh[b] to the direct part dh_t * (1 - z); when after, also ghw[b] = grad of h W_hh^T,
    i.e. (da_r, da_z, da_n * r), for the caller's GEMM dm[:B] = ghw[:B] @ W_hh.
    h_{t-1} of row b is hs[p0 + b] if b < nprev else h0[b].
    """
    H = dh.shape[1]
    one = gates.dtype.type(1)
    for b in range(B):
        gh = grad_hs[r0 + b]
        grow = gates[r0 + b]
        hprev = hs[p0 + b] if b < nprev else h0[b]
        dhrow = dh[b]
        dmrow = dm[b]
        out = grad_xw[r0 + b]
        for j in range(H):
            z = grow[H + j]
            n = grow[2 * H + j]
            dht = dhrow[j] + dmrow[j] + gh[j]
            out[2 * H + j] = dht * z * (one - n * n)
            out[H + j] = dht * (n - hprev[j]) * z * (one - z)
            dhrow[j] = dht * (one - z)
        if after:
            hnrow = hn[r0 + b]
            grow_ = ghw[b]
            for j in range(H):
                r = grow[j]
                dan = out[2 * H + j]
                dar = dan * hnrow[j] * r * (one - r)
                out[j] = dar
                grow_[j] = dar
                grow_[H + j] = out[H + j]
                grow_[2 * H + j] = dan * r


@kernel
def _bwd_r(gates, hs, h0, r0, B, p0, nprev, drh, dh, grad_xw):
    """Default form: given drh[b] = grad of (r * h) = da_n W_hn, writes grad_xw[r0 + b, :H]
    (da_r) and adds the r * drh part to dh[b]."""
    H = dh.shape[1]
    one = gates.dtype.type(1)
    for b in range(B):
        grow = gates[r0 + b]
        hprev = hs[p0 + b] if b < nprev else h0[b]
        d = drh[b]
        dhrow = dh[b]
        out = grad_xw[r0 + b]
        for j in range(H):
            r = grow[j]
            out[j] = d[j] * hprev[j] * r * (one - r)
            dhrow[j] += d[j] * r


@kernel
def _fwd_loop(xw, w_a_t, w_n_t, h, b_hn, after, batch_sizes, offsets, reverse,
              hs, gates, hn, hw, hwn, rh):
    L = batch_sizes.shape[0]
    for s in range(L):
        t = L - 1 - s if reverse else s
        B = batch_sizes[t]
        r0 = offsets[t]
        matmul_rows(h, 0, 0, B, w_a_t, hw, 0)
        _step_rz(xw, hw, r0, B, h, gates, rh)
        if after:
            _step_n(xw, hw, 2 * h.shape[1], r0, B, b_hn, after, h, hs, gates, hn)
        else:
            matmul_rows(rh, 0, 0, B, w_n_t, hwn, 0)
            _step_n(xw, hwn, 0, r0, B, b_hn, after, h, hs, gates, hn)


@kernel
def _bwd_loop(grad_hs, w_hh, w_rz, w_n, gates, hs, h0, hn, batch_sizes, offsets, reverse,
              after, dh, dm, drh, grad_xw, ghw):
    L = batch_sizes.shape[0]
    H = dh.shape[1]
    for s in range(L):
        t = s if reverse else L - 1 - s
        B = batch_sizes[t]
        r0 = offsets[t]
        p0, nprev = previous_step(batch_sizes, offsets, t, reverse)
        _bwd_zn(grad_hs, gates, hs, h0, hn, r0, B, p0, nprev, after, dh, dm, grad_xw, ghw)
        if after:
            matmul_rows(ghw, 0, 0, B, w_hh, dm, 0)
        else:
            matmul_rows(grad_xw, r0, 2 * H, B, w_n, drh, 0)
            _bwd_r(gates, hs, h0, r0, B, p0, nprev, drh, dh, grad_xw)
            matmul_rows(grad_xw, r0, 0, B, w_rz, dm, 0)


def gru_forward(xw, w_hh, h0, batch_sizes, reverse: bool = False, b_hn=None, *,
                impl: str = "auto"):
    """Run the GRU recurrence over a packed sequence.

    Args:
        xw: (T_total, 3H) input projections x W_ih^T + b, rows packed by step.
        w_hh: (3H, H) recurrent weights, gate rows r, z, n.
        h0: (N, H) initial state.
        batch_sizes: (L,) int, non-increasing; N = batch_sizes[0].
        reverse: run steps L-1..0 (each sequence starts at its own last step).
        b_hn: (H,) hidden bias of the candidate; given => reset_after form.
        impl: "auto", "loop" (one Numba kernel) or "blas" (numpy matmul per step).

    Returns:
        hs: (T_total, H) hidden state of every row.
        gates: (T_total, 3H) activated r, z, n (saved for the backward).
        hn: (T_total, H) h W_hn^T + b_hn (saved; reset_after only, else None).
        h_n: (N, H) each sequence's final state (its own last step; step 0 if reverse).
    """
    dt = float_dtype(xw)
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    N, T = sched.n, sched.total
    xw = check_float("xw", xw, dt, (T, 3 * H))
    w_hh = check_float("w_hh", w_hh, dt, (3 * H, H))
    h = check_float("h0", h0, dt, (N, H)).copy()
    after = b_hn is not None
    b = check_float("b_hn", b_hn, dt, (H,)) if after else np.zeros(H, dt)
    hs = np.empty((T, H), dt)
    gates = np.empty((T, 3 * H), dt)
    hn = np.empty((T if after else 0, H), dt)
    hw = np.empty((N, 3 * H), dt)
    hwn = np.empty((N, H), dt)
    rh = np.empty((N, H), dt)
    bs, offs = sched.batch_sizes, sched.offsets
    if choose(impl, N * 3 * H * H, LOOP_MAX_WORK) == "loop":
        w_a_t = np.ascontiguousarray((w_hh if after else w_hh[:2 * H]).T)
        w_n_t = np.ascontiguousarray(w_hh[2 * H:].T)
        _fwd_loop(xw, w_a_t, w_n_t, h, b, after, bs, offs, bool(reverse),
                  hs, gates, hn, hw, hwn, rh)
    elif after:
        w_t = w_hh.T
        for r0, B, _, _ in steps(sched, reverse):
            np.matmul(h[:B], w_t, out=hw[:B])
            _step_rz(xw, hw, r0, B, h, gates, rh)
            _step_n(xw, hw, 2 * H, r0, B, b, True, h, hs, gates, hn)
    else:
        w_rz_t, w_n_t = w_hh[:2 * H].T, w_hh[2 * H:].T
        hw_rz = hw[:, :2 * H].copy()
        for r0, B, _, _ in steps(sched, reverse):
            np.matmul(h[:B], w_rz_t, out=hw_rz[:B])
            _step_rz(xw, hw_rz, r0, B, h, gates, rh)
            np.matmul(rh[:B], w_n_t, out=hwn[:B])
            _step_n(xw, hwn, 0, r0, B, b, False, h, hs, gates, hn)
    return hs, gates, (hn if after else None), h


def gru_backward(grad_hs, grad_h_n, w_hh, h0, hs, gates, hn, batch_sizes,
                 reverse: bool = False, *, impl: str = "auto", check: bool = True):
    """Gradients of the GRU recurrence, given the forward's saved arrays.

    Args:
        grad_hs: (T_total, H) gradient w.r.t. hs, or None for zeros.
        grad_h_n: (N, H) gradient w.r.t. h_n, or None for zeros.
        w_hh: (3H, H); h0: (N, H); hs: (T_total, H); gates: (T_total, 3H);
            hn: (T_total, H) or None, as returned by ``gru_forward`` (hn given <=> reset_after);
            batch_sizes (L,) and reverse as given to it.
        impl: as in ``gru_forward``.
        check: validate w_hh, h0 and the saved arrays; ``rnn.fused`` passes False for the
            arrays its own forward checked or made (the gradients are always checked).

    Returns:
        grad_xw: (T_total, 3H) gradient w.r.t. xw (= w.r.t. r, z, n pre-activations).
        grad_h0: (N, H).
        grad_w_hh: (3H, H), a GEMM over all steps per gate block.
        grad_b_hn: (H,) for reset_after, else None.
    """
    sched = schedule(batch_sizes)
    H = np.shape(w_hh)[-1]
    N, T = sched.n, sched.total
    after = hn is not None
    dt = float_dtype(hs) if check else hs.dtype
    if check:
        w_hh = check_float("w_hh", w_hh, dt, (3 * H, H))
        h0 = check_float("h0", h0, dt, (N, H))
        hs = check_float("hs", hs, dt, (T, H))
        gates = check_float("gates", gates, dt, (T, 3 * H))
        hn = check_float("hn", hn, dt, (T, H)) if after else None
    if not after:
        hn = np.empty((0, H), dt)
    grad_hs = output_grad("grad_hs", grad_hs, dt, (T, H))
    dh = output_grad("grad_h_n", grad_h_n, dt, (N, H), copy=True)
    dm = np.zeros((N, H), dt)
    drh = np.empty((N, H), dt)
    ghw = np.empty((N, 3 * H), dt)
    grad_xw = np.empty((T, 3 * H), dt)
    bs, offs = sched.batch_sizes, sched.offsets
    w_rz, w_n = np.ascontiguousarray(w_hh[:2 * H]), np.ascontiguousarray(w_hh[2 * H:])
    if choose(impl, N * 3 * H * H, LOOP_MAX_WORK) == "loop":
        _bwd_loop(grad_hs, w_hh, w_rz, w_n, gates, hs, h0, hn, bs, offs, bool(reverse),
                  after, dh, dm, drh, grad_xw, ghw)
    else:
        for r0, B, p0, nprev in reversed(list(steps(sched, reverse))):
            _bwd_zn(grad_hs, gates, hs, h0, hn, r0, B, p0, nprev, after, dh, dm, grad_xw, ghw)
            if after:
                np.matmul(ghw[:B], w_hh, out=dm[:B])
            else:
                np.matmul(grad_xw[r0:r0 + B, 2 * H:], w_n, out=drh[:B])
                _bwd_r(gates, hs, h0, r0, B, p0, nprev, drh, dh, grad_xw)
                np.matmul(grad_xw[r0:r0 + B, :2 * H], w_rz, out=dm[:B])
    dh += dm
    h_prev = np.empty((T, H), dt)
    prev_rows(hs, h0, bs, offs, bool(reverse), h_prev)
    grad_w_hh = np.empty((3 * H, H), dt)
    np.matmul(grad_xw[:, :2 * H].T, h_prev, out=grad_w_hh[:2 * H])
    grad_b_hn = None
    if after:
        dv = grad_xw[:, 2 * H:] * gates[:, :H]          # grad of h W_hn^T + b_hn
        np.matmul(dv.T, h_prev, out=grad_w_hh[2 * H:])
        grad_b_hn = dv.sum(axis=0)
    else:
        h_prev *= gates[:, :H]                           # now r * h_prev
        np.matmul(grad_xw[:, 2 * H:].T, h_prev, out=grad_w_hh[2 * H:])
    return grad_xw, dh, grad_w_hh, grad_b_hn


def gru_cell_forward(xw, w_hh, h, b_hn=None):
    """One GRU cell step: ``gru_forward`` with L = 1.

    Args:
        xw: (N, 3H) x W_ih^T + b; w_hh: (3H, H); h: (N, H); b_hn: (H,) or None.

    Returns:
        h_new: (N, H); gates: (N, 3H) activated r, z, n; hn: (N, H) or None (saved).
    """
    hs, gates, hn, _ = gru_forward(xw, w_hh, h, [np.shape(h)[0]], b_hn=b_hn)
    return hs, gates, hn


def gru_cell_backward(grad_h, w_hh, h, h_new, gates, hn):
    """Backward of ``gru_cell_forward``: returns (grad_xw (N, 3H), grad_h (N, H),
    grad_w_hh (3H, H), grad_b_hn (H,) or None)."""
    return gru_backward(grad_h, None, w_hh, h, h_new, gates, hn, [np.shape(h)[0]])


# ---------------------------------------------------------------------------------------
# Plain-numpy reference: same API and math, one numpy expression per gate per step.


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def gru_forward_numpy(xw, w_hh, h0, batch_sizes, reverse: bool = False, b_hn=None):
    """Reference for ``gru_forward`` (exact tanh/sigmoid in every dtype)."""
    sched = schedule(batch_sizes)
    H = w_hh.shape[1]
    hs = np.empty((sched.total, H), xw.dtype)
    gates = np.empty((sched.total, 3 * H), xw.dtype)
    hn = None if b_hn is None else np.empty_like(hs)
    for r0, B, p0, nprev in steps(sched, reverse):
        rows = slice(r0, r0 + B)
        h = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        x = xw[rows]
        r = _sigmoid(x[:, :H] + h @ w_hh[:H].T)
        z = _sigmoid(x[:, H:2 * H] + h @ w_hh[H:2 * H].T)
        if b_hn is None:
            n = np.tanh(x[:, 2 * H:] + (r * h) @ w_hh[2 * H:].T)
        else:
            hn[rows] = h @ w_hh[2 * H:].T + b_hn
            n = np.tanh(x[:, 2 * H:] + r * hn[rows])
        hs[rows] = (1 - z) * h + z * n
        gates[rows] = np.concatenate([r, z, n], axis=1)
    return hs, gates, hn, hs[last_rows(sched, reverse)]


def gru_backward_numpy(grad_hs, grad_h_n, w_hh, h0, hs, gates, hn, batch_sizes,
                       reverse: bool = False):
    """Reference for ``gru_backward``: gradients accumulated per packed row."""
    sched = schedule(batch_sizes)
    H = w_hh.shape[1]
    dhs = grad_hs.copy()
    dhs[last_rows(sched, reverse)] += grad_h_n
    grad_xw = np.empty_like(gates)
    grad_h0 = np.zeros_like(h0)
    h_prev_all = np.empty_like(hs)
    n_in_all = np.empty_like(hs)      # what W_hn multiplies: r * h (default) or h (after)
    dv_all = np.empty_like(hs)        # grad of the W_hn product's output
    for r0, B, p0, nprev in reversed(list(steps(sched, reverse))):
        rows = slice(r0, r0 + B)
        h = np.concatenate([hs[p0:p0 + nprev], h0[nprev:B]])
        h_prev_all[rows] = h
        r, z, n = (gates[rows, k * H:(k + 1) * H] for k in range(3))
        d = dhs[rows]
        dan = d * z * (1 - n * n)
        daz = d * (n - h) * z * (1 - z)
        dh = d * (1 - z)
        if hn is None:
            drh = dan @ w_hh[2 * H:]
            dar = drh * h * r * (1 - r)
            dh += drh * r
            n_in_all[rows] = r * h
            dv_all[rows] = dan
        else:
            dar = dan * hn[rows] * r * (1 - r)
            dh += (dan * r) @ w_hh[2 * H:]
            n_in_all[rows] = h
            dv_all[rows] = dan * r
        dh += dar @ w_hh[:H] + daz @ w_hh[H:2 * H]
        grad_xw[rows] = np.concatenate([dar, daz, dan], axis=1)
        dhs[p0:p0 + nprev] += dh[:nprev]
        grad_h0[nprev:B] += dh[nprev:]
    grad_w_hh = np.concatenate([grad_xw[:, :2 * H].T @ h_prev_all, dv_all.T @ n_in_all])
    grad_b_hn = None if hn is None else dv_all.sum(axis=0)
    return grad_xw, grad_h0, grad_w_hh, grad_b_hn
