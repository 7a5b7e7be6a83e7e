"""The checker itself: it passes correct ops and catches wrong ones, naming the worst element."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import REGISTRY, Function
from minigrad.gradcheck import GradcheckError, gradcheck, numeric_gradient


def leaf(shape, seed=0, requires_grad=True):
    values = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return mg.tensor(values, dtype=np.float64, requires_grad=requires_grad)


@pytest.fixture
def wrong_ops():
    """Ops with deliberately wrong backwards, registered for one test only.

    Subclassing Function registers the op in REGISTRY by name; the names are unique to this
    file and removed afterwards, so the registry test of test_ops.py never sees them."""
    names = []

    def define(name, forward, backward):
        op = type(f"Wrong_{name}", (Function,), {"name": name, "forward": forward,
                                                   "backward": backward})
        names.append(name)
        return op

    yield define
    for name in names:
        REGISTRY.pop(name, None)


def _mul_forward(self, a, b):
    self.save(a, b)
    return a * b


def test_passes_correct_ops():
    a, b = leaf((3, 4)), leaf((4,), seed=1)
    assert gradcheck(lambda x, y: (x * y).tanh() @ y, [a, b])
    assert gradcheck(lambda x: x.split(2, dim=1), [a])  # several outputs
    assert gradcheck(lambda x: mg.cat([x, x.exp()], 0).softmax(0), [a])
    assert gradcheck(lambda x, y: x / y, [a, b], raise_exception=False)


def test_catches_a_wrong_backward(wrong_ops):
    square = wrong_ops("test_wrong_square",
                       lambda self, a: (self.save(a), a * a)[1],
                       lambda self, grad: grad * self.saved[0])  # should be 2 * a * grad
    x = leaf((2, 3))
    with pytest.raises(GradcheckError, match="gradcheck failed: input 0 at position"):
        gradcheck(square.apply, [x])
    assert gradcheck(square.apply, [x], raise_exception=False) is False
    assert "test_wrong_square" in REGISTRY  # registered until the fixture removes it


def test_reports_the_worst_element(wrong_ops):
    def backward(self, grad):
        a, b = self.saved
        grad_b = grad * a
        grad_b[1, 2] += 0.5  # one wrong element, in the second input
        grad_b[0, 0] += 0.01  # a smaller error elsewhere
        return grad * b, grad_b

    mul = wrong_ops("test_wrong_mul", _mul_forward, backward)
    a, b = leaf((2, 3)), leaf((2, 3), seed=1)
    with pytest.raises(GradcheckError) as info:
        gradcheck(mul.apply, [a, b])
    message = str(info.value)
    found = re.search(r"input 1 at position \(1, 2\): analytic (\S+) vs numeric (\S+)", message)
    assert found, message
    analytic, numeric = float(found[1]), float(found[2])
    assert abs(analytic - numeric - 0.5) < 1e-6  # exactly the error we put in
    assert "difference 0.5" in message


def test_catches_a_missing_gradient_and_respects_the_tolerances(wrong_ops):
    forgetful = wrong_ops("test_forgets_b", _mul_forward,
                          lambda self, grad: (grad * self.saved[1], None))
    a, b = leaf((3,)), leaf((3,), seed=1)
    with pytest.raises(GradcheckError, match="input 1 at position .*analytic 0 vs"):
        gradcheck(forgetful.apply, [a, b])

    def scaled(factor):
        def backward(self, grad):
            a, b = self.saved
            return grad * b * factor, grad * a * factor
        return backward

    close = wrong_ops("test_off_by_1e-5", _mul_forward, scaled(1 + 1e-5))
    assert gradcheck(close.apply, [a, b])  # within rtol=1e-3
    off = wrong_ops("test_off_by_1e-2", _mul_forward, scaled(1 + 1e-2))
    assert not gradcheck(off.apply, [a, b], raise_exception=False)
    assert gradcheck(off.apply, [a, b], rtol=2e-2)


def test_refuses_float32_inputs():
    x = mg.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    with pytest.raises(TypeError, match="input 1 has dtype float32.*float64"):
        gradcheck(lambda a, b: a * b, [leaf((2,)), x])


def test_needs_an_input_that_requires_grad_and_an_output_that_depends_on_it():
    with pytest.raises(ValueError, match="no input has requires_grad"):
        gradcheck(lambda a: a * 2, [leaf((2,), requires_grad=False)])
    with pytest.raises(GradcheckError, match="no output requires grad"):
        gradcheck(lambda a: mg.tensor([1.0], dtype=np.float64), [leaf((2,))])


def test_leaves_the_callers_tensors_untouched():
    x, c = leaf((3, 2)), leaf((2,), requires_grad=False)
    before_x, before_c = x.data.copy(), c.data.copy()
    x.grad = mg.tensor(np.full((3, 2), 7.0))
    assert gradcheck(lambda a, b: (a * b).exp(), [x, c])
    np.testing.assert_array_equal(x.data, before_x)
    np.testing.assert_array_equal(c.data, before_c)
    np.testing.assert_array_equal(x.grad.data, np.full((3, 2), 7.0))
    assert x.requires_grad and not c.requires_grad and x.is_leaf


def test_numeric_gradient_is_central_differences_and_restores_the_array():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = x.copy()
    grad = numeric_gradient(lambda: float((x ** 3).sum()), x, eps=1e-5)
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-9)
    np.testing.assert_array_equal(x, before)
    # Exact for a quadratic: the central difference has no eps^2 term to lose.
    grad = numeric_gradient(lambda: float((x * x).sum()), x, eps=0.5)
    np.testing.assert_allclose(grad, 2 * before, rtol=1e-14)
    assert numeric_gradient(lambda: 0.0, np.zeros((0, 3))).shape == (0, 3)
