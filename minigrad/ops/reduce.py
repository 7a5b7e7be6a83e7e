"""Reductions: sum, mean, max/min, logsumexp (primitives) and var, norm (composed)."""

from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

import numpy as np

from minigrad.autograd import Function
from minigrad.ops._operands import normalize_dim, normalize_dims
from minigrad.ops.elementwise import where
from minigrad.tensor import DEFAULT_DTYPE, Tensor

#: What ``max(dim)`` / ``min(dim)`` return, as in PyTorch.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _keepdim_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(grad: np.ndarray, kept_shape: tuple[int, ...], shape: tuple[int, ...]
            ) -> np.ndarray:
    """The gradient of a reduction, (kept_shape) -> (shape): each value repeated over the
    reduced axes. A read-only view with stride 0 along those axes, as ``np.broadcast_to``
    makes, built directly at half its cost (every loss ends in a reduction)."""
    kept = np.ascontiguousarray(grad).reshape(kept_shape)
    strides = [0 if k != n else s for k, n, s in zip(kept_shape, shape, kept.strides, strict=True)]
    view = np.ndarray(shape, kept.dtype, kept, 0, strides)
    view.flags.writeable = False
    return view


class Sum(Function):
    def forward(self, a, axes=(), keepdim=False):
        self.in_shape = a.shape
        if len(axes) == a.ndim:  # everything, as in every loss: numpy's quicker call
            self.kept_shape = (1,) * a.ndim
            return a.sum(keepdims=keepdim)
        self.kept_shape = _keepdim_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return _spread(grad, self.kept_shape, self.in_shape)


class Mean(Function):
    def forward(self, a, axes=(), keepdim=False):
        self.in_shape = a.shape
        self.kept_shape = _keepdim_shape(a.shape, axes)
        self.count = int(np.prod([a.shape[i] for i in axes]))
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return _spread(grad / self.count, self.kept_shape, self.in_shape)


class Max(Function):
    """Largest value over all elements (``axis`` None) or along ``axis``.

    Over all elements, the gradient is shared evenly among the elements equal to the result
    (ties, or NaNs when the result is NaN), as in PyTorch. Along an axis it goes to the
    position ``index`` (the first maximum, from ``argmax``), which the caller computes once
    and also returns as the indices."""

    reduce = staticmethod(np.max)
    arg = staticmethod(np.argmax)

    def forward(self, a, axis=None, keepdim=False, index=None):
        self.in_shape = a.shape
        self.axis = axis
        if axis is None:
            out = self.reduce(a)
            self.save(a, out)
            return out.reshape((1,) * a.ndim) if keepdim else out
        self.save(index)  # keepdim-shaped: the axis is kept with size 1
        out = np.take_along_axis(a, index, axis)
        return out if keepdim else out.squeeze(axis)

    def backward(self, grad):
        if self.axis is None:
            a, out = self.saved
            ties = np.isnan(a) if np.isnan(out) else a == out
            return ties * (grad.reshape(()) / np.count_nonzero(ties))
        (index,) = self.saved
        out = np.zeros(self.in_shape, dtype=grad.dtype)
        np.put_along_axis(out, index, grad.reshape(index.shape), self.axis)
        return out


class Min(Max):
    reduce = staticmethod(np.min)
    arg = staticmethod(np.argmin)


class LogSumExp(Function):
    """log(sum(exp(a))) over ``axes``, shifted by the max so that it never overflows."""

    def forward(self, a, axes=(), keepdim=False):
        shift = a.max(axis=axes, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0)
        kept = np.log(np.exp(a - shift).sum(axis=axes, keepdims=True)) + shift
        self.save(a, kept)
        return kept if keepdim else kept.squeeze(axis=axes)

    def backward(self, grad):
        a, kept = self.saved
        return grad.reshape(kept.shape) * np.exp(a - kept)


# ------------------------------------------------------------------ functions
def _axes(dim: Any, ndim: int, op: str) -> tuple[int, ...]:
    """Reduction axes: ``None`` or an empty sequence means every dimension (as in PyTorch)."""
    return normalize_dims(dim, ndim, op, empty_means_all=True)


def sum(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a sequence of ints, or None / ``()`` for all dimensions)."""
    return Sum.apply(a, axes=_axes(dim, a.ndim, "sum"), keepdim=keepdim)


def mean(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (as in ``sum``); needs a floating-point tensor, like PyTorch."""
    if a.dtype.kind not in "fc":
        raise TypeError(f"mean: needs a floating-point tensor, got dtype {a.dtype} "
                        "(convert with .float())")
    return Mean.apply(a, axes=_axes(dim, a.ndim, "mean"), keepdim=keepdim)


def _extreme(op: type[Max], a: Tensor, dim: int | None, keepdim: bool) -> Any:
    if a.data.size == 0:
        raise ValueError(f"{op.name}: the tensor is empty")
    if dim is None:
        return op.apply(a, axis=None, keepdim=keepdim)
    axis = normalize_dim(dim, a.ndim, op.name)
    index = np.expand_dims(op.arg(a.data, axis=axis), axis).astype(np.int64, copy=False)
    values = op.apply(a, axis=axis, keepdim=keepdim, index=index)
    return ValuesIndices(values, Tensor._make(index if keepdim else index.squeeze(axis)))


def max(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The largest element (ties share the gradient); with ``dim``, a ``(values, indices)``
    pair along that dimension (the gradient goes to the index, the first maximum)."""
    return _extreme(Max, a, dim, keepdim)


def min(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The smallest element (ties share the gradient); with ``dim``, a ``(values, indices)``
    pair along that dimension (the gradient goes to the index, the first minimum)."""
    return _extreme(Min, a, dim, keepdim)


def argmax(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return Tensor._make(np.asarray(np.argmax(a.data), dtype=np.int64))
    axis = normalize_dim(dim, a.ndim, "argmax")
    return Tensor._make(np.argmax(a.data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmin(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return Tensor._make(np.asarray(np.argmin(a.data), dtype=np.int64))
    axis = normalize_dim(dim, a.ndim, "argmin")
    return Tensor._make(np.argmin(a.data, axis=axis, keepdims=keepdim).astype(np.int64))


def logsumexp(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(a)))`` over ``dim`` (as in ``sum``), without overflow."""
    return LogSumExp.apply(a, axes=_axes(dim, a.ndim, "logsumexp"), keepdim=keepdim)


def var(a: Tensor, dim: Any = None, *, correction: int = 1, keepdim: bool = False) -> Tensor:
    """Variance over ``dim`` with ``correction`` (1: unbiased, as PyTorch's default)."""
    axes = _axes(dim, a.ndim, "var")
    count = int(np.prod([a.shape[i] for i in axes]))
    centred = a - mean(a, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim=keepdim) / builtins.max(count - correction, 0)


def norm(a: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm of all elements, ``(sum |a|^p)^(1/p)``, like ``torch.linalg.vector_norm``.

    ``p = inf`` gives the largest ``|a|`` and ``p = -inf`` the smallest (ties share the
    gradient); ``p = 0`` the number of non-zero elements, a constant without gradient.
    Elements equal to 0 get gradient 0 for every p, as in PyTorch (for ``p < 1`` the formula
    would give ``inf * 0 = nan`` there), and so does every element when the norm is 0.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.number)):
        raise TypeError(f"norm: p must be a number (or float('inf')), got {p!r}")
    p = float(p)
    if math.isnan(p):
        raise ValueError("norm: p must not be nan")
    if p == math.inf:
        return max(a.abs())
    if p == -math.inf:
        return min(a.abs())
    nonzero = a.data != 0
    if p == 0:
        dtype = a.dtype if a.dtype.kind == "f" else DEFAULT_DTYPE
        return Tensor._make(np.asarray(np.count_nonzero(nonzero), dtype=dtype))
    if not nonzero.all() and (p < 0 or not nonzero.any()):
        # The norm is 0 (for p < 0, a single 0 makes sum |a|^p infinite), and so is its
        # gradient; the formula would give nan. Still a function of ``a``, so it stays in
        # the graph like any other result.
        return sum(where(np.zeros(a.shape, dtype=bool), a, 0.0))
    if p == 2:
        total = sum(a * a)
    elif p < 1 and not nonzero.all():
        # Keep the zeros out of |a|^p, whose derivative p |a|^(p-1) is infinite there.
        powered = where(nonzero, a, 1.0).abs() ** p
        total = sum(where(nonzero, powered, 0.0))
    else:
        total = sum(a.abs() ** p)
    return total.sqrt() if p == 2 else total ** (1.0 / p)
