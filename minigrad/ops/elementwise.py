"""Elementwise primitives, each with its backward beside its forward.

Binary ops broadcast like numpy; their backward returns gradients of the broadcast shape and
the engine sums them back to each input's shape (``autograd.unbroadcast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.autograd import Function
from minigrad.ops._operands import as_pair, as_tensor
from minigrad.tensor import Tensor


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad):
        return grad, (-grad if self.needs_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        self.save(a, b)
        return a * b

    def backward(self, grad):
        a, b = self.saved
        return (grad * b if self.needs_grad[0] else None,
                grad * a if self.needs_grad[1] else None)


class Div(Function):
    def forward(self, a, b):
        self.save(a, b)
        return a / b

    def backward(self, grad):
        a, b = self.saved
        grad_a = grad / b
        return grad_a, (-grad_a * a / b if self.needs_grad[1] else None)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class Pow(Function):
    """``a ** b``; d/da = b a^(b-1), d/db = a^b log(a) (taken as 0 where a <= 0)."""

    def forward(self, a, b):
        out = a ** b
        self.save(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved
        grad_a = None
        if self.needs_grad[0]:
            # b a^(b-1) is 0 where b == 0, even at a == 0 (where a^-1 alone would be inf)
            grad_a = grad * b * a ** np.where(b == 0, 1, b - 1)
        grad_b = None
        if self.needs_grad[1]:
            positive = a > 0
            grad_b = grad * np.where(positive, out * np.log(np.where(positive, a, 1)), 0)
        return grad_a, grad_b


class Exp(Function):
    def forward(self, a):
        out = np.exp(a)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return grad * out


class Log(Function):
    def forward(self, a):
        self.save(a)
        return np.log(a)

    def backward(self, grad):
        (a,) = self.saved
        return grad / a


class Sqrt(Function):
    def forward(self, a):
        out = np.sqrt(a)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return grad / (2 * out)


class Abs(Function):
    """|a|; the gradient at 0 is 0 (like PyTorch)."""

    def forward(self, a):
        self.save(a)
        return np.abs(a)

    def backward(self, grad):
        (a,) = self.saved
        return grad * np.sign(a)


class Tanh(Function):
    def forward(self, a):
        out = kernels.tanh_forward(a)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return kernels.tanh_backward(out, grad)


class Sigmoid(Function):
    """1 / (1 + e^-a), computed without overflow for large |a| of either sign."""

    def forward(self, a):
        out = kernels.sigmoid_forward(a)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return kernels.sigmoid_backward(out, grad)


class Relu(Function):
    def forward(self, a):
        out = np.maximum(a, 0)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return grad * (out > 0)


class Clamp(Function):
    """Limits values to [low, high] (either may be None); gradient 1 inside, 0 where clipped."""

    def forward(self, a, low=None, high=None):
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        self.save(inside)
        return np.clip(a, low, high)

    def backward(self, grad):
        (inside,) = self.saved
        return grad * inside


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split evenly (like PyTorch)."""

    pick = staticmethod(np.maximum)

    def forward(self, a, b):
        out = self.pick(a, b)
        self.save(a, b, out)
        return out

    def backward(self, grad):
        a, b, out = self.saved
        from_a = (a == out).astype(grad.dtype)
        from_b = (b == out).astype(grad.dtype)
        share = grad / (from_a + from_b)
        return share * from_a, share * from_b


class Minimum(Maximum):
    pick = staticmethod(np.minimum)


class Where(Function):
    """``condition ? a : b`` elementwise; ``condition`` is a boolean tensor (no gradient)."""

    def forward(self, condition, a, b):
        self.save(condition)
        return np.where(condition, a, b)

    def backward(self, grad):
        (condition,) = self.saved
        zero = np.zeros((), dtype=grad.dtype)
        return (None,
                np.where(condition, grad, zero) if self.needs_grad[1] else None,
                np.where(condition, zero, grad) if self.needs_grad[2] else None)


class AsType(Function):
    """Dtype conversion; the engine casts the gradient back to the input's dtype."""

    name = "astype"

    def forward(self, a, dtype=None):
        return a.astype(dtype)

    def backward(self, grad):
        return grad


# ------------------------------------------------------------------ functions
def add(a: Any, b: Any) -> Tensor:
    if type(a) is not Tensor or type(b) is not Tensor:
        a, b = as_pair(a, b)
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    if type(a) is not Tensor or type(b) is not Tensor:
        a, b = as_pair(a, b)
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    if type(a) is not Tensor or type(b) is not Tensor:
        a, b = as_pair(a, b)
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    if type(a) is not Tensor or type(b) is not Tensor:
        a, b = as_pair(a, b)
    return Div.apply(a, b)


def pow(base: Any, exponent: Any) -> Tensor:  # noqa: A001 - PyTorch's name
    return Pow.apply(*as_pair(base, exponent))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def exp(a: Tensor) -> Tensor:
    return Exp.apply(a)


def log(a: Tensor) -> Tensor:
    return Log.apply(a)


def sqrt(a: Tensor) -> Tensor:
    return Sqrt.apply(a)


def abs(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return Abs.apply(a)


def tanh(a: Tensor) -> Tensor:
    return Tanh.apply(a)


def sigmoid(a: Tensor) -> Tensor:
    return Sigmoid.apply(a)


def relu(a: Tensor) -> Tensor:
    return Relu.apply(a)


def clamp(a: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Limits ``a`` to ``[min, max]``; ``min`` or ``max`` may be None (no limit)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min ({min}) is greater than max ({max})")
    return Clamp.apply(a, low=min, high=max)


def maximum(a: Any, b: Any) -> Tensor:
    return Maximum.apply(*as_pair(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    return Minimum.apply(*as_pair(a, b))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``condition`` else ``b`` (all three broadcast together)."""
    condition = as_tensor(condition)
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {condition.dtype}")
    a, b = as_pair(a, b)
    return Where.apply(condition, a, b)


def masked_fill(a: Tensor, mask: Any, value: float) -> Tensor:
    """``a`` with ``value`` wherever the boolean ``mask`` (broadcast to ``a``) is True."""
    return where(mask, as_tensor(value, a), a)


def astype(a: Tensor, dtype: Any) -> Tensor:
    dtype = np.dtype(dtype)
    if dtype == a.dtype:
        return a
    if a.requires_grad and dtype.kind not in "fc":
        return Tensor._make(a.data.astype(dtype))  # integer results carry no gradient
    return AsType.apply(a, dtype=dtype)
