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
from minigrad.tensor import DEFAULT_DTYPE, Tensor

_BOOL = np.dtype(np.bool_)


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
# The four arithmetic ops skip ``as_pair`` when both operands are plain tensors of one dtype:
# the common case, and the one the per-op overhead benchmark measures.
def add(a: Any, b: Any) -> Tensor:
    """``a + b`` with broadcasting; either may be a Python number or an array."""
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = as_pair(a, b)
    return Add.apply(a, b)


_NO_BOOLEAN_SUB = ("sub: subtraction (the - operator) is not supported with booleans, as in "
                   "PyTorch; to invert a mask use ~mask or mask.logical_not()")


def sub(a: Any, b: Any) -> Tensor:
    """``a - b`` with broadcasting; refuses booleans, as PyTorch does."""
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        if isinstance(a, bool) or isinstance(b, bool):
            raise TypeError(_NO_BOOLEAN_SUB)
        a, b = as_pair(a, b)
    if a.data.dtype is _BOOL or b.data.dtype is _BOOL:
        raise TypeError(_NO_BOOLEAN_SUB)
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b`` with broadcasting; either may be a Python number or an array."""
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = as_pair(a, b)
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """True division ``a / b``; integer or boolean operands give float32 (as in PyTorch)."""
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = as_pair(a, b)
    if a.data.dtype.kind not in "fc" and b.data.dtype.kind not in "fc":
        a, b = a.astype(DEFAULT_DTYPE), b.astype(DEFAULT_DTYPE)
    return Div.apply(a, b)


def pow(base: Any, exponent: Any) -> Tensor:  # noqa: A001 - PyTorch's name
    """``base ** exponent`` with broadcasting; either may be a Python number."""
    return Pow.apply(*as_pair(base, exponent))


def neg(a: Tensor) -> Tensor:
    """``-a`` elementwise."""
    return Neg.apply(a)


def _floating(a: Tensor) -> Tensor:
    """``a`` itself if floating-point, else converted to float32: ``exp`` of an integer
    tensor is float32 in PyTorch (numpy would give float64)."""
    return a if a.data.dtype.kind in "fc" else a.astype(DEFAULT_DTYPE)


def exp(a: Tensor) -> Tensor:
    """``e ** a`` elementwise; integer input gives float32."""
    return Exp.apply(_floating(a))


def log(a: Tensor) -> Tensor:
    """Natural logarithm elementwise; integer input gives float32."""
    return Log.apply(_floating(a))


def sqrt(a: Tensor) -> Tensor:
    """Square root elementwise; integer input gives float32."""
    return Sqrt.apply(_floating(a))


def abs(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    """``|a|`` elementwise; the gradient at 0 is 0."""
    return Abs.apply(a)


def tanh(a: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise, in (-1, 1); integer input gives float32."""
    return Tanh.apply(_floating(a))


def sigmoid(a: Tensor) -> Tensor:
    """``1 / (1 + exp(-a))`` elementwise, in (0, 1), without overflow; integer input gives
    float32."""
    return Sigmoid.apply(_floating(a))


def relu(a: Tensor) -> Tensor:
    """``max(a, 0)`` elementwise; the gradient is 1 where ``a > 0``, else 0."""
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
