"""Tests of minigrad.kernels: each Numba kernel against its numpy version, accuracy of the
float32 approximations against float64 truth, gradients by finite differences, and a run with
``NUMBA_DISABLE_JIT=1``."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numba import njit

from minigrad import kernels
from minigrad.kernels import activations, softmax

DTYPES = (np.float32, np.float64)
SHAPES = ((1,), (7,), (1, 1), (3, 1), (4, 5), (2, 3, 9), (1, 130), (2, 1, 257), (3, 1000))
SETTINGS = settings(max_examples=25, deadline=None)


def assert_close(actual, desired, scale=1.0):
    """Kernel vs reference: a few ulp for float32 (polynomial exp), ~1e-13 for float64."""
    assert actual.dtype == desired.dtype and actual.shape == desired.shape
    if desired.dtype == np.float32:
        np.testing.assert_allclose(actual, desired, rtol=3e-6, atol=1e-6 * scale)
    else:
        np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-14 * scale)


def random(shape, dtype, seed=0, scale=3.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# --- elementwise and row-wise kernels vs numpy -----------------------------------------------

FORWARD = ("sigmoid_forward", "softmax_forward", "log_softmax_forward")
BACKWARD = {  # backward kernel -> how to make its saved forward output
    "sigmoid_backward": kernels.sigmoid_forward_numpy,
    "tanh_backward": np.tanh,
    "softmax_backward": kernels.softmax_forward_numpy,
    "log_softmax_backward": kernels.log_softmax_forward_numpy,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", FORWARD)
def test_forward_matches_numpy(name, shape, dtype):
    x = random(shape, dtype)
    got = getattr(kernels, name + "_numba")(x)
    assert_close(got, getattr(kernels, name + "_numpy")(x), scale=np.abs(x).max())
    assert_close(getattr(kernels, name)(x), got, scale=np.abs(x).max())  # routed: either one


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", BACKWARD)
def test_backward_matches_numpy(name, shape, dtype):
    y = BACKWARD[name](random(shape, dtype)).astype(dtype)
    g = random(shape, dtype, seed=1, scale=1.0)
    got = getattr(kernels, name + "_numba")(y, g)
    assert_close(got, getattr(kernels, name + "_numpy")(y, g), scale=np.abs(g).sum(-1).max())
    assert_close(getattr(kernels, name)(y, g), got, scale=np.abs(g).sum(-1).max())


@SETTINGS
@given(
    x=hnp.arrays(
        st.sampled_from(DTYPES),
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
        elements=st.floats(-60, 60, width=32),
    ),
    name=st.sampled_from(FORWARD),
)
def test_forward_matches_numpy_hypothesis(x, name):
    got = getattr(kernels, name + "_numba")(x)
    assert_close(got, getattr(kernels, name + "_numpy")(x), scale=max(1.0, np.abs(x).max()))


@SETTINGS
@given(
    y=hnp.arrays(
        st.sampled_from(DTYPES),
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=40),
        elements=st.floats(-1, 1, width=32),
    ),
    name=st.sampled_from(sorted(BACKWARD)),
)
def test_backward_matches_numpy_hypothesis(y, name):
    y = BACKWARD[name](y).astype(y.dtype)
    g = np.cos(np.arange(y.size, dtype=y.dtype)).reshape(y.shape)
    got = getattr(kernels, name + "_numba")(y, g)
    assert_close(got, getattr(kernels, name + "_numpy")(y, g), scale=y.shape[-1])


def test_tanh_forward_is_numpy():
    x = random((4, 5), np.float32)
    np.testing.assert_array_equal(kernels.tanh_forward(x), np.tanh(x))
    assert kernels.tanh_forward(x).dtype == np.float32


@pytest.mark.parametrize("name", FORWARD)
def test_0d_and_empty_inputs(name):
    fn = getattr(kernels, name + "_numba")
    empty = np.zeros((0, 5), np.float32)
    assert fn(empty).shape == (0, 5)
    if name == "sigmoid_forward":
        y = fn(np.array(0.0))
        assert y.shape == () and y == 0.5
    else:
        with pytest.raises(ValueError, match="at least one dimension"):
            fn(np.array(0.0))


def test_rejects_non_float():
    with pytest.raises(TypeError, match="float32 or float64"):
        kernels.sigmoid_forward(np.arange(3))


# --- accuracy of the float32 approximations and extreme inputs --------------------------------


@njit
def _exp_all(x, out):
    for i in range(x.size):
        out[i] = activations.scalar_exp(x[i])


def test_float32_exp_and_sigmoid_accuracy():
    x = np.linspace(-100, 100, 2_000_001, dtype=np.float32)
    truth = 1 / (1 + np.exp(-x.astype(np.float64)))
    y = kernels.sigmoid_forward_numba(x).astype(np.float64)
    assert np.abs(y - truth).max() <= 5e-7
    normal = truth > 1.2e-38
    assert (np.abs(y - truth) / truth)[normal].max() <= 1e-6
    x = np.linspace(-87.3, 88.3, 1_000_001, dtype=np.float32)
    got = np.empty_like(x)
    _exp_all(x, got)
    truth = np.exp(x.astype(np.float64))
    assert (np.abs(got - truth) / truth).max() <= 2.5e-7  # ~2 ulp
    special = np.array([-np.inf, -1000, -87.4, 0, np.nan], np.float32)
    _exp_all(special, got[:5])
    np.testing.assert_array_equal(got[:5], [0, 0, 0, 1, np.nan])


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs(dtype):
    x = np.array([-1000, -800, -80, -1e-30, 0, 1e-30, 80, 800, 1000], dtype)
    y = kernels.sigmoid_forward_numba(x)
    np.testing.assert_allclose(y, kernels.sigmoid_forward_numpy(x), rtol=1e-6, atol=1e-37)
    assert y[0] == 0 and y[1] == 0 and y[-1] == 1 and y[4] == 0.5
    assert np.isnan(kernels.sigmoid_forward_numba(np.array([np.nan], dtype)))[0]
    logits = np.stack([x, x[::-1], np.full_like(x, 1000)])
    for name in ("softmax_forward", "log_softmax_forward"):
        got = getattr(kernels, name + "_numba")(logits)
        assert np.all(np.isfinite(got))
        assert_close(got, getattr(kernels, name + "_numpy")(logits), scale=2000)
    np.testing.assert_allclose(kernels.softmax_forward(logits)[2], 1 / x.size, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_minus_inf_is_exactly_zero(dtype):
    x = np.array([[0.0, -np.inf, 1.0, -np.inf]], dtype)
    y = kernels.softmax_forward_numba(x)
    assert y[0, 1] == 0 and y[0, 3] == 0
    np.testing.assert_allclose(y.sum(), 1, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 255, 256, 257, 1000, 4097])
def test_row_reductions(n, dtype):
    v = random(n, dtype, seed=n)
    v[n // 3] = 50  # a unique maximum, somewhere else on each run
    buf = np.empty(n // 2 + 1, dtype)
    assert softmax.row_max(v, buf) == 50
    v[n // 3] = 0
    v[-1] = 60  # the odd element left over by a fold
    assert softmax.row_max(v, buf) == 60
    w = random(n, dtype, seed=n + 1)
    exact = v.astype(np.float64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(softmax.row_sum(v, buf), exact.sum(), rtol=rtol, atol=rtol * n)
    np.testing.assert_allclose(
        softmax.row_dot(v, w, buf), exact @ w.astype(np.float64), rtol=rtol, atol=rtol * n
    )


# --- gradients by finite differences (float64, both versions) --------------------------------

PAIRS = {  # forward -> backward, where backward takes the forward output
    "sigmoid_forward": "sigmoid_backward",
    "softmax_forward": "softmax_backward",
    "log_softmax_forward": "log_softmax_backward",
}


def directional_check(f, grad, x, seed=0, h=1e-6):
    """<grad, v> must equal the central difference of f along a random direction v."""
    v = np.random.default_rng(seed).standard_normal(x.shape)
    numeric = (f(x + h * v) - f(x - h * v)) / (2 * h)
    np.testing.assert_allclose(np.sum(grad * v), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("impl", ["_numba", "_numpy"])
@pytest.mark.parametrize("forward", PAIRS)
def test_backward_gradcheck(forward, impl):
    fwd = getattr(kernels, forward + impl)
    bwd = getattr(kernels, PAIRS[forward] + impl)
    x = random((3, 6), np.float64, scale=2.0)
    g = random((3, 6), np.float64, seed=5)
    directional_check(lambda z: np.sum(fwd(z) * g), bwd(fwd(x), g), x)


@pytest.mark.parametrize("impl", ["_numba", "_numpy"])
def test_tanh_backward_gradcheck(impl):
    x = random((3, 6), np.float64, scale=1.0)
    g = random((3, 6), np.float64, seed=5)
    grad = getattr(kernels, "tanh_backward" + impl)(np.tanh(x), g)
    directional_check(lambda z: np.sum(np.tanh(z) * g), grad, x)


# --- cross-entropy ----------------------------------------------------------------------------


def ce_case(dtype, n=10, c=7, seed=0):
    logits = random((n, c), dtype, seed=seed)
    targets = np.random.default_rng(seed).integers(0, c, n)
    targets[1::3] = -100
    return logits, targets


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("shape", [(10, 7), (4, 1), (1, 3), (6, 300)])
def test_cross_entropy_matches_numpy(shape, eps, dtype):
    logits, targets = ce_case(dtype, *shape)
    losses, log_probs = kernels.cross_entropy_forward_numba(logits, targets, -100, eps)
    ref_losses, ref_log_probs = kernels.cross_entropy_forward_numpy(logits, targets, -100, eps)
    assert_close(losses, ref_losses, scale=10)
    assert_close(log_probs, ref_log_probs, scale=10)
    ignored = targets == -100
    assert np.all(losses[ignored] == 0)
    grad_losses = random(shape[0], dtype, seed=2)
    args = (log_probs, targets, grad_losses, -100, eps)
    grad = kernels.cross_entropy_backward_numba(*args)
    assert_close(grad, kernels.cross_entropy_backward_numpy(*args), scale=10)
    assert np.all(grad[ignored] == 0)
    routed = kernels.cross_entropy_forward(logits, targets, -100, eps)
    assert_close(routed[0], losses, scale=10)
    assert_close(kernels.cross_entropy_backward(*args), grad, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_known_values(dtype):
    logits = np.array([[0.0, 0.0], [1000.0, -1000.0], [-80.0, 80.0]], dtype)
    targets = np.array([0, 0, 0])
    losses, _ = kernels.cross_entropy_forward_numba(logits, targets, -100, 0.0)
    np.testing.assert_allclose(losses, [np.log(2), 0, 160], rtol=1e-6)
    smooth, _ = kernels.cross_entropy_forward_numba(logits, targets, -100, 0.2)
    # row 1: 0.8 * 0 + 0.1 * (0 + 2000)
    np.testing.assert_allclose(smooth[:2], [np.log(2), 200], rtol=1e-6)


@pytest.mark.parametrize("impl", ["_numba", "_numpy"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_gradcheck(eps, impl):
    logits, targets = ce_case(np.float64, n=5, c=4, seed=3)
    weights = np.random.default_rng(4).random(5)
    fwd = getattr(kernels, "cross_entropy_forward" + impl)
    bwd = getattr(kernels, "cross_entropy_backward" + impl)

    def total(z):
        return np.sum(fwd(z, targets, -100, eps)[0] * weights)

    _, log_probs = fwd(logits, targets, -100, eps)
    grad = bwd(log_probs, targets, weights, -100, eps)
    directional_check(total, grad, logits)
    for j in range(logits.shape[1]):  # and one full column by plain finite differences
        step = np.zeros_like(logits)
        step[:, j] = 1e-6
        numeric = (total(logits + step) - total(logits - step)) / 2e-6
        np.testing.assert_allclose(grad[:, j].sum(), numeric, rtol=1e-6, atol=1e-9)


@SETTINGS
@given(
    n=st.integers(1, 20),
    c=st.integers(1, 200),
    eps=st.sampled_from([0.0, 0.1]),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 1000),
)
def test_cross_entropy_hypothesis(n, c, eps, dtype, seed):
    logits, targets = ce_case(dtype, n, c, seed)
    got = kernels.cross_entropy_forward_numba(logits, targets, -100, eps)
    ref = kernels.cross_entropy_forward_numpy(logits, targets, -100, eps)
    assert_close(got[0], ref[0], scale=10)
    grad_losses = np.ones(n, dtype)
    args = (got[1], targets, grad_losses, -100, eps)
    grad = kernels.cross_entropy_backward_numba(*args)
    assert_close(grad, kernels.cross_entropy_backward_numpy(*args), scale=10)


# --- NUMBA_DISABLE_JIT=1 ----------------------------------------------------------------------

DISABLED_JIT_SCRIPT = """
import numba
import numpy as np
from minigrad import kernels
assert numba.config.DISABLE_JIT
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    x = (3 * rng.standard_normal((2, 131))).astype(dtype)
    g = rng.standard_normal((2, 131)).astype(dtype)
    t = np.array([5, -100])
    tol = dict(rtol=3e-6, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for name in ("sigmoid_forward", "softmax_forward", "log_softmax_forward"):
        a = getattr(kernels, name + "_numba")(x)
        np.testing.assert_allclose(a, getattr(kernels, name + "_numpy")(x), **tol)
    y = kernels.log_softmax_forward_numpy(x)
    a = kernels.log_softmax_backward_numba(y, g)
    np.testing.assert_allclose(a, kernels.log_softmax_backward_numpy(y, g), **tol)
    a = kernels.cross_entropy_forward_numba(x, t, -100, 0.1)[0]
    np.testing.assert_allclose(a, kernels.cross_entropy_forward_numpy(x, t, -100, 0.1)[0], **tol)
print("ok")
"""


def test_runs_with_jit_disabled():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", textwrap.dedent(DISABLED_JIT_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"
