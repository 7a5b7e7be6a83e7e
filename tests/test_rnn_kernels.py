"""Tests of the fused recurrent kernels (rnn.kernels): against the plain-numpy references,
against float64 central differences, packed against one-sequence-at-a-time, the cells, the
float32 activations, input validation, and a run with NUMBA_DISABLE_JIT=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad.gradcheck import numeric_gradient
from rnn.kernels import gru, lstm, vanilla

KINDS = ["lstm", "gru", "gru_after", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "gru_after": 3, "rnn_tanh": 1, "rnn_relu": 1}
IMPLS = ["loop", "blas"]
PADDED = [4, 4, 4]
PACKED = [4, 3, 3, 1]


# ---------------------------------------------------------------------------------------
# One uniform driver over the three modules: inputs, forward, backward, scalar loss.


def make_inputs(kind, batch_sizes, H=3, dtype=np.float64, seed=0):
    """Random inputs (xw, w_hh, h0, [c0], [b_hn]) and loss weights (R, S, [U])."""
    rng = np.random.default_rng(seed)
    T, N, G = int(sum(batch_sizes)), batch_sizes[0], GATES[kind]
    a = {"xw": rng.standard_normal((T, G * H)), "w_hh": 0.6 * rng.standard_normal((G * H, H)),
         "h0": 0.5 * rng.standard_normal((N, H))}
    if kind == "lstm":
        a["c0"] = rng.standard_normal((N, H))
    if kind == "gru_after":
        a["b_hn"] = rng.standard_normal(H)
    w = {"hs": rng.standard_normal((T, H)), "h_n": rng.standard_normal((N, H))}
    if kind == "lstm":
        w["c_n"] = rng.standard_normal((N, H))
    return {k: v.astype(dtype) for k, v in a.items()}, {k: v.astype(dtype) for k, v in w.items()}


def forward(kind, a, bs, reverse, impl):
    """Outputs {hs, h_n[, c_n]} and the saved arrays; impl "numpy" runs the reference."""
    ref = impl == "numpy"
    kw = {} if ref else {"impl": impl}
    if kind == "lstm":
        f = lstm.lstm_forward_numpy if ref else lstm.lstm_forward
        hs, cs, gates, h_n, c_n = f(a["xw"], a["w_hh"], a["h0"], a["c0"], bs, reverse, **kw)
        return {"hs": hs, "h_n": h_n, "c_n": c_n}, (hs, cs, gates)
    if kind.startswith("gru"):
        f = gru.gru_forward_numpy if ref else gru.gru_forward
        hs, gates, hn, h_n = f(a["xw"], a["w_hh"], a["h0"], bs, reverse, a.get("b_hn"), **kw)
        return {"hs": hs, "h_n": h_n}, (hs, gates, hn)
    f = vanilla.rnn_forward_numpy if ref else vanilla.rnn_forward
    hs, h_n = f(a["xw"], a["w_hh"], a["h0"], bs, reverse, kind[4:], **kw)
    return {"hs": hs, "h_n": h_n}, (hs,)


def backward(kind, a, w, bs, reverse, impl, saved):
    """Gradients {xw, h0, w_hh[, c0][, b_hn]} of sum(hs*R) + sum(h_n*S) [+ sum(c_n*U)]."""
    ref = impl == "numpy"
    kw = {} if ref else {"impl": impl}
    if kind == "lstm":
        f = lstm.lstm_backward_numpy if ref else lstm.lstm_backward
        gx, gh0, gc0, gw = f(w["hs"], w["h_n"], w["c_n"], a["w_hh"], a["h0"], a["c0"], *saved,
                             bs, reverse, **kw)
        return {"xw": gx, "h0": gh0, "c0": gc0, "w_hh": gw}
    if kind.startswith("gru"):
        f = gru.gru_backward_numpy if ref else gru.gru_backward
        gx, gh0, gw, gb = f(w["hs"], w["h_n"], a["w_hh"], a["h0"], *saved, bs, reverse, **kw)
        g = {"xw": gx, "h0": gh0, "w_hh": gw}
        if kind == "gru_after":
            g["b_hn"] = gb
        else:
            assert gb is None
        return g
    f = vanilla.rnn_backward_numpy if ref else vanilla.rnn_backward
    gx, gh0, gw = f(w["hs"], w["h_n"], a["w_hh"], a["h0"], *saved, bs, reverse, kind[4:], **kw)
    return {"xw": gx, "h0": gh0, "w_hh": gw}


def loss(kind, a, w, bs, reverse, impl):
    out, _ = forward(kind, a, bs, reverse, impl)
    return sum(float(np.sum(out[k] * w[k])) for k in w)


def assert_close(got: dict, want: dict, rtol, atol, what=""):
    assert set(got) == set(want), what
    for k in want:
        assert got[k].dtype == want[k].dtype, f"{what} {k}: dtype"
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=f"{what} {k}")


# ---------------------------------------------------------------------------------------
# Kernels against the plain-numpy references.


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bs", [PADDED, PACKED], ids=["padded", "packed"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_matches_numpy_float64(kind, impl, bs, reverse):
    a, w = make_inputs(kind, bs, H=5)
    out, saved = forward(kind, a, bs, reverse, impl)
    out_ref, saved_ref = forward(kind, a, bs, reverse, "numpy")
    assert_close(out, out_ref, 1e-12, 1e-12, "forward")
    for s, s_ref in zip(saved, saved_ref, strict=True):
        if s_ref is not None:
            np.testing.assert_allclose(s, s_ref, rtol=1e-12, atol=1e-12)
    grads = backward(kind, a, w, bs, reverse, impl, saved)
    assert_close(grads, backward(kind, a, w, bs, reverse, "numpy", saved_ref), 1e-12, 1e-12,
                 "backward")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_matches_numpy_float32(kind, impl, reverse):
    """float32 (rational tanh) against the float64 reference on the same values."""
    bs = [6, 6, 5, 3, 3, 2, 1]
    a, w = make_inputs(kind, bs, H=8, dtype=np.float32, seed=1)
    out, saved = forward(kind, a, bs, reverse, impl)
    grads = backward(kind, a, w, bs, reverse, impl, saved)
    a64 = {k: v.astype(np.float64) for k, v in a.items()}
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    out_ref, saved_ref = forward(kind, a64, bs, reverse, "numpy")
    grads_ref = backward(kind, a64, w64, bs, reverse, "numpy", saved_ref)
    for got, want in ((out, out_ref), (grads, grads_ref)):
        for k in want:
            assert got[k].dtype == np.float32
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=2e-5, err_msg=k)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
       kind=st.sampled_from(KINDS), impl=st.sampled_from(IMPLS), reverse=st.booleans(),
       hidden=st.integers(1, 4))
def test_matches_numpy_random_batches(lengths, kind, impl, reverse, hidden):
    lengths = sorted(lengths, reverse=True)
    bs = [sum(n > t for n in lengths) for t in range(lengths[0])]
    a, w = make_inputs(kind, bs, H=hidden, seed=len(lengths))
    out, saved = forward(kind, a, bs, reverse, impl)
    out_ref, saved_ref = forward(kind, a, bs, reverse, "numpy")
    assert_close(out, out_ref, 1e-12, 1e-12)
    assert_close(backward(kind, a, w, bs, reverse, impl, saved),
                 backward(kind, a, w, bs, reverse, "numpy", saved_ref), 1e-12, 1e-12)


# ---------------------------------------------------------------------------------------
# Backward against float64 central differences of the scalar loss.


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradients_finite_differences(kind, reverse):
    bs = [3, 2, 2, 1]
    a, w = make_inputs(kind, bs, H=3, seed=2)
    if kind == "rnn_relu":      # keep pre-activations away from relu's kink
        a["xw"] += np.sign(a["xw"]) * 0.2
    _, saved = forward(kind, a, bs, reverse, "loop")
    grads = backward(kind, a, w, bs, reverse, "loop", saved)
    for name in grads:
        num = numeric_gradient(lambda: loss(kind, a, w, bs, reverse, "loop"), a[name])
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-8, err_msg=name)


def test_finite_difference_check_catches_a_wrong_gradient():
    """The check above is not vacuous: a gradient off in one entry fails it."""
    bs = [2, 2]
    a, w = make_inputs("lstm", bs, seed=3)
    _, saved = forward("lstm", a, bs, False, "loop")
    g = backward("lstm", a, w, bs, False, "loop", saved)["w_hh"]
    g[1, 2] *= 1.001
    num = numeric_gradient(lambda: loss("lstm", a, w, bs, False, "loop"), a["w_hh"])
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------
# Packed batches: each sequence evolves as if it ran alone.


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("impl", IMPLS)
def test_packed_equals_each_sequence_alone(kind, reverse, impl):
    lengths = [5, 3, 3, 1]
    bs = [sum(n > t for n in lengths) for t in range(lengths[0])]
    a, w = make_inputs(kind, bs, H=4, seed=4)
    out, saved = forward(kind, a, bs, reverse, impl)
    grads = backward(kind, a, w, bs, reverse, impl, saved)
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]])
    grad_w_sum = 0
    for j, n in enumerate(lengths):
        rows = offsets[:n] + j              # sequence j's rows, in time order
        aj = dict(a, xw=a["xw"][rows], h0=a["h0"][j:j + 1])
        if "c0" in a:
            aj["c0"] = a["c0"][j:j + 1]
        wj = {k: (v[rows] if k == "hs" else v[j:j + 1]) for k, v in w.items()}
        out_j, saved_j = forward(kind, aj, [1] * n, reverse, impl)
        np.testing.assert_allclose(out["hs"][rows], out_j["hs"], rtol=1e-13, atol=1e-14)
        for k in ("h_n", "c_n"):
            if k in out:
                np.testing.assert_allclose(out[k][j:j + 1], out_j[k], rtol=1e-13, atol=1e-14)
        g_j = backward(kind, aj, wj, [1] * n, reverse, impl, saved_j)
        np.testing.assert_allclose(grads["xw"][rows], g_j["xw"], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(grads["h0"][j:j + 1], g_j["h0"], rtol=1e-12, atol=1e-13)
        grad_w_sum = grad_w_sum + g_j["w_hh"]
    np.testing.assert_allclose(grads["w_hh"], grad_w_sum, rtol=1e-12, atol=1e-12)


def test_padded_batch_is_a_reshape():
    """A (L, N, 4H) padded batch runs as batch_sizes = [N] * L through a reshape (no copy)."""
    L, N, H = 4, 3, 2
    a, _ = make_inputs("lstm", [N] * L, H=H, seed=5)
    xw3 = a["xw"].reshape(L, N, 4 * H)
    hs, *_ = lstm.lstm_forward(xw3.reshape(L * N, 4 * H), a["w_hh"], a["h0"], a["c0"],
                               [N] * L)
    ref, *_ = lstm.lstm_forward_numpy(a["xw"], a["w_hh"], a["h0"], a["c0"], [N] * L)
    assert np.shares_memory(xw3.reshape(L * N, 4 * H), a["xw"])
    np.testing.assert_allclose(hs.reshape(L, N, H), ref.reshape(L, N, H), rtol=1e-12)


def test_unused_gradients_may_be_none():
    bs = [2, 1]
    a, w = make_inputs("lstm", bs, seed=6)
    _, saved = forward("lstm", a, bs, False, "loop")
    got = lstm.lstm_backward(None, None, None, a["w_hh"], a["h0"], a["c0"], *saved, bs)
    zeros = {k: np.zeros_like(v) for k, v in w.items()}
    want = backward("lstm", a, zeros, bs, False, "loop", saved)
    for g, k in zip(got, ("xw", "h0", "c0", "w_hh"), strict=True):
        np.testing.assert_array_equal(g, want[k])


# ---------------------------------------------------------------------------------------
# Cells.


def test_lstm_cell_is_one_step_from_zero_state():
    N, H = 3, 4
    rng = np.random.default_rng(7)
    a_, c_prev = rng.standard_normal((N, 4 * H)), rng.standard_normal((N, H))
    h, c, gates = lstm.lstm_cell_forward(a_, c_prev)
    w_hh, h0 = rng.standard_normal((4 * H, H)), np.zeros((N, H))
    hs, cs, gates_ref, _, _ = lstm.lstm_forward_numpy(a_, w_hh, h0, c_prev, [N])
    np.testing.assert_allclose(h, hs, rtol=1e-13)
    np.testing.assert_allclose(c, cs, rtol=1e-13)
    np.testing.assert_allclose(gates, gates_ref, rtol=1e-13)
    gh, gc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grad_a, grad_c_prev = lstm.lstm_cell_backward(gh, gc, c_prev, c, gates)
    ref = lstm.lstm_backward_numpy(np.zeros((N, H)), gh, gc, w_hh, h0, c_prev, hs, cs,
                                   gates_ref, [N])
    np.testing.assert_allclose(grad_a, ref[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad_c_prev, ref[2], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("after", [False, True])
def test_gru_cell_is_one_step(after):
    a, w = make_inputs("gru_after" if after else "gru", [3], H=4, seed=8)
    h, gates, hn = gru.gru_cell_forward(a["xw"], a["w_hh"], a["h0"], a.get("b_hn"))
    out, saved = forward("gru_after" if after else "gru", a, [3], False, "numpy")
    np.testing.assert_allclose(h, out["hs"], rtol=1e-13)
    g = gru.gru_cell_backward(w["hs"], a["w_hh"], a["h0"], h, gates, hn)
    zero = dict(w, h_n=np.zeros_like(w["h_n"]))
    ref = backward("gru_after" if after else "gru", a, zero, [3], False, "numpy", saved)
    for got, k in zip(g, ("xw", "h0", "w_hh", "b_hn"), strict=True):
        if k in ref:
            np.testing.assert_allclose(got, ref[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell(nonlinearity):
    rng = np.random.default_rng(9)
    a_ = rng.standard_normal((3, 5))
    h = vanilla.rnn_cell_forward(a_, nonlinearity)
    np.testing.assert_allclose(h, np.tanh(a_) if nonlinearity == "tanh" else np.maximum(a_, 0))
    gh = rng.standard_normal((3, 5))
    ga = vanilla.rnn_cell_backward(gh, h, nonlinearity)
    num = numeric_gradient(lambda: float(np.sum(vanilla.rnn_cell_forward(a_, nonlinearity) * gh)),
                       a_)
    np.testing.assert_allclose(ga, num, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------------------
# float32 activations, NaN, dispatch, validation.


def test_float32_activations_are_accurate():
    """The rational tanh (and sigmoid built on it) stay within 4e-7 of float64 everywhere."""
    x = np.concatenate([np.linspace(-12, 12, 400_001), np.logspace(-12, 1.1, 20_000),
                        -np.logspace(-12, 1.1, 20_000), [0.0, 9.0, -9.0, 1e30, -1e30]])
    x32 = x.astype(np.float32)
    exact = np.tanh(x32.astype(np.float64))
    t = vanilla.rnn_cell_forward(x32.reshape(-1, 1), "tanh").ravel()
    assert t.dtype == np.float32
    assert np.abs(t - exact).max() <= 4e-7
    small = (np.abs(x32) < 1) & (x32 != 0)          # relative error (< 4 ulps) near zero
    assert np.all(np.abs(t[small] - exact[small]) <= 2.5e-7 * np.abs(exact[small]))
    n = x32.size - x32.size % 4
    a_ = np.zeros((n // 4, 16), np.float32)
    a_[:, :4] = x32[:n].reshape(-1, 4)                  # the i gate of H = 4
    _, _, gates = lstm.lstm_cell_forward(a_, np.zeros((n // 4, 4), np.float32))
    sig = 1 / (1 + np.exp(-x32[:n].astype(np.float64)))
    assert np.abs(gates[:, :4].ravel() - sig).max() <= 2.5e-7
    t64 = vanilla.rnn_cell_forward(x.reshape(-1, 1), "tanh").ravel()
    assert np.abs(t64 - np.tanh(x)).max() <= 1e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates(dtype):
    a, _ = make_inputs("lstm", [2, 2], H=3, dtype=dtype, seed=10)
    a["xw"][0, 0] = np.nan
    hs, *_ = lstm.lstm_forward(a["xw"], a["w_hh"], a["h0"], a["c0"], [2, 2])
    assert np.isnan(hs[0, 0]) and np.isnan(hs[2]).any()
    for nl in ("tanh", "relu"):
        h = vanilla.rnn_cell_forward(np.array([[np.nan, 1.0]], dtype), nl)
        assert np.isnan(h[0, 0]) and not np.isnan(h[0, 1])


def test_auto_dispatch_by_size():
    from rnn.kernels._common import choose

    assert choose("auto", 1 * 4 * 32 * 32, lstm.LOOP_MAX_WORK) == "loop"
    assert choose("auto", 32 * 4 * 128 * 128, lstm.LOOP_MAX_WORK) == "blas"
    assert choose("auto", 1 * 3 * 32 * 32, gru.LOOP_MAX_WORK) == "loop"
    assert choose("auto", 64 * 256 * 256, vanilla.LOOP_MAX_WORK) == "blas"
    assert choose("blas", 1, lstm.LOOP_MAX_WORK) == "blas"
    with pytest.raises(ValueError, match="impl"):
        choose("fast", 1, 1)


def test_validation_errors():
    a, _ = make_inputs("lstm", [2, 2], H=3)
    args = (a["xw"], a["w_hh"], a["h0"], a["c0"])
    with pytest.raises(ValueError, match="non-increasing"):
        lstm.lstm_forward(*args, [1, 3])
    with pytest.raises(ValueError, match="non-empty"):
        lstm.lstm_forward(*args, [])
    with pytest.raises(ValueError, match=r"xw: expected shape \(5, 12\)"):
        lstm.lstm_forward(*args, [3, 2])
    with pytest.raises(TypeError, match="h0: expected dtype float64, got float32"):
        lstm.lstm_forward(a["xw"], a["w_hh"], a["h0"].astype(np.float32), a["c0"], [2, 2])
    with pytest.raises(TypeError, match="float32 or float64"):
        lstm.lstm_forward(a["xw"].astype(np.int64), a["w_hh"], a["h0"], a["c0"], [2, 2])
    with pytest.raises(ValueError, match="nonlinearity"):
        vanilla.rnn_forward(a["xw"][:, :3], a["w_hh"][:3], a["h0"], [2, 2], False, "gelu")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", IMPLS)
def test_backward_without_checks_gives_the_same_gradients(kind, impl):
    """``check=False`` (what rnn.fused passes for its own saved arrays) skips only checks: the
    gradients are bit-identical, and the gradients themselves are still checked."""
    a, w = make_inputs(kind, PACKED, H=4, seed=5)
    _, saved = forward(kind, a, PACKED, False, impl)
    w["hs"] = np.broadcast_to(w["hs"][:1], w["hs"].shape)  # as a sum's backward gives
    want = backward(kind, a, w, PACKED, False, impl, saved)
    module = {"l": lstm, "g": gru, "r": vanilla}[kind[0]]
    name = {"l": "lstm_backward", "g": "gru_backward", "r": "rnn_backward"}[kind[0]]
    original = getattr(module, name)
    try:
        setattr(module, name, lambda *args, **kw: original(*args, **kw, check=False))
        got = backward(kind, a, w, PACKED, False, impl, saved)
        w["hs"] = w["hs"][:, :3]
        with pytest.raises(ValueError, match="grad_hs: expected shape"):
            backward(kind, a, w, PACKED, False, impl, saved)
    finally:
        setattr(module, name, original)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_schedules_are_cached_shared_and_read_only():
    from rnn.kernels._common import schedule

    sizes = np.array([3, 2, 2])
    first = schedule(sizes)
    sizes[0] = 1                      # the caller's array changes: the cache is keyed by value
    assert schedule([3, 2, 2]) is first
    assert schedule(np.array([3, 2, 2], dtype=np.int32)) is first
    assert schedule([3, 2, 1]) is not first
    assert first.batch_sizes.tolist() == [3, 2, 2] and first.offsets.tolist() == [0, 3, 5]
    assert first.total == 7
    for shared in (first.batch_sizes, first.offsets):  # an edit would corrupt later calls
        with pytest.raises(ValueError, match="read-only"):
            shared[0] = 0
    for _ in range(2):                # a refused schedule is refused every time (not cached)
        with pytest.raises(ValueError, match="non-increasing"):
            schedule(sizes)


def test_non_contiguous_inputs_are_accepted():
    a, _ = make_inputs("rnn_tanh", [3, 3], H=4, seed=11)
    w_f = np.asfortranarray(a["w_hh"])
    hs, _ = vanilla.rnn_forward(a["xw"], w_f, a["h0"], [3, 3])
    ref, _ = vanilla.rnn_forward_numpy(a["xw"], a["w_hh"], a["h0"], [3, 3])
    np.testing.assert_allclose(hs, ref, rtol=1e-13)


# ---------------------------------------------------------------------------------------
# The library still works (slowly) without Numba's JIT.

_NO_JIT_SCRIPT = """
import numpy as np
import numba.core.config as cfg
assert cfg.DISABLE_JIT
from rnn.kernels import gru, lstm, vanilla
rng = np.random.default_rng(0)
bs, H = [2, 1], 2
for dt, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
    r = lambda *s: rng.standard_normal(s).astype(dt)
    for impl in ("loop", "blas"):
        xw, w, h0, c0 = r(3, 4 * H), r(4 * H, H), r(2, H), r(2, H)
        out = lstm.lstm_forward(xw, w, h0, c0, bs, True, impl=impl)
        ref = lstm.lstm_forward_numpy(xw, w, h0, c0, bs, True)
        g = lstm.lstm_backward(r(3, H), r(2, H), r(2, H), w, h0, c0, *out[:3], bs, True,
                               impl=impl)
        for x, y in zip(out, ref):
            np.testing.assert_allclose(x, y, rtol=tol, atol=tol)
        xw, w, b = r(3, 3 * H), r(3 * H, H), r(H)
        for bhn in (None, b):
            out = gru.gru_forward(xw, w, h0, bs, False, bhn, impl=impl)
            ref = gru.gru_forward_numpy(xw, w, h0, bs, False, bhn)
            gru.gru_backward(r(3, H), r(2, H), w, h0, *out[:3], bs, impl=impl)
            np.testing.assert_allclose(out[0], ref[0], rtol=tol, atol=tol)
        xw, w = r(3, H), r(H, H)
        for nl in ("tanh", "relu"):
            out = vanilla.rnn_forward(xw, w, h0, bs, False, nl, impl=impl)
            vanilla.rnn_backward(r(3, H), None, w, h0, out[0], bs, False, nl, impl=impl)
            np.testing.assert_allclose(out[0], vanilla.rnn_forward_numpy(xw, w, h0, bs, False,
                                                                         nl)[0], rtol=tol)
print("ok")
"""


def test_works_with_numba_jit_disabled():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _NO_JIT_SCRIPT], env=env, cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 7), (4, 2, 3), (7, 33, 50), (9, 64, 20)])
def test_hand_written_matmul(shape):
    """matmul_rows (the loop path's GEMM) on row/column windows, odd sizes included."""
    from rnn.kernels._common import matmul_rows

    B, K, M = shape
    rng = np.random.default_rng(12)
    a, w = rng.standard_normal((B + 3, K + 2)), rng.standard_normal((K, M))
    out = np.full((B + 1, M + 4), 7.0)
    matmul_rows(a, 3, 2, B, w, out, 4)
    np.testing.assert_allclose(out[:B, 4:], a[3:3 + B, 2:2 + K] @ w, rtol=1e-12, atol=1e-12)
    assert np.all(out[:B, :4] == 7.0) and np.all(out[B:] == 7.0)     # nothing else touched
