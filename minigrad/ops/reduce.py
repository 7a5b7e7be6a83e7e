"""Reductions: sum, mean, max/min, logsumexp (primitives) and var, norm (composed)."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from minigrad.autograd import Function
from minigrad.ops._operands import normalize_dim, normalize_dims
from minigrad.tensor import Tensor

#: What ``max(dim)`` / ``min(dim)`` return, as in PyTorch.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _keepdim_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    def forward(self, a, axes=(), keepdim=False):
        self.in_shape = a.shape
        self.kept_shape = _keepdim_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return np.broadcast_to(grad.reshape(self.kept_shape), self.in_shape)


class Mean(Function):
    def forward(self, a, axes=(), keepdim=False):
        self.in_shape = a.shape
        self.kept_shape = _keepdim_shape(a.shape, axes)
        self.count = int(np.prod([a.shape[i] for i in axes]))
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return np.broadcast_to(grad.reshape(self.kept_shape) / self.count, self.in_shape)


class Max(Function):
    """Largest value along ``axis`` (all elements when None); the gradient goes to the
    position ``argmax`` returns (the first one, on ties)."""

    arg = staticmethod(np.argmax)

    def forward(self, a, axis=None, keepdim=False):
        self.in_shape = a.shape
        self.axis = axis
        if axis is None:
            index = self.arg(a)
            out = a.reshape(-1)[index]
            if keepdim:
                out = out.reshape((1,) * a.ndim)
            self.save(np.asarray(index))
            return out
        index = np.expand_dims(self.arg(a, axis=axis), axis)
        self.save(index)
        out = np.take_along_axis(a, index, axis)
        return out if keepdim else out.squeeze(axis)

    def backward(self, grad):
        (index,) = self.saved
        out = np.zeros(self.in_shape, dtype=grad.dtype)
        if self.axis is None:
            out.reshape(-1)[index] = grad.reshape(())
        else:
            np.put_along_axis(out, index, grad.reshape(index.shape), self.axis)
        return out


class Min(Max):
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
def sum(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``dim`` (an int, a tuple of ints, or None for all dimensions)."""
    return Sum.apply(a, axes=normalize_dims(dim, a.ndim, "sum"), keepdim=keepdim)


def mean(a: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    if a.dtype.kind not in "fc":
        raise TypeError(f"mean: needs a floating-point tensor, got dtype {a.dtype}")
    return Mean.apply(a, axes=normalize_dims(dim, a.ndim, "mean"), keepdim=keepdim)


def _extreme(op: type[Max], a: Tensor, dim: int | None, keepdim: bool) -> Any:
    if a.data.size == 0:
        raise ValueError(f"{op.name}: the tensor is empty")
    if dim is None:
        return op.apply(a, axis=None, keepdim=keepdim)
    axis = normalize_dim(dim, a.ndim, op.name)
    values = op.apply(a, axis=axis, keepdim=keepdim)
    indices = op.arg(a.data, axis=axis)
    if keepdim:
        indices = np.expand_dims(indices, axis)
    return ValuesIndices(values, Tensor._make(indices.astype(np.int64)))


def max(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The largest element; with ``dim``, a ``(values, indices)`` pair along that dimension."""
    return _extreme(Max, a, dim, keepdim)


def min(a: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:  # noqa: A001
    """The smallest element; with ``dim``, a ``(values, indices)`` pair along that dimension."""
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
    return LogSumExp.apply(a, axes=normalize_dims(dim, a.ndim, "logsumexp"), keepdim=keepdim)


def var(a: Tensor, dim: Any = None, *, correction: int = 1, keepdim: bool = False) -> Tensor:
    """Variance over ``dim`` with ``correction`` (1: unbiased, as PyTorch's default)."""
    axes = normalize_dims(dim, a.ndim, "var")
    count = int(np.prod([a.shape[i] for i in axes]))
    centred = a - mean(a, axes, keepdim=True)
    return sum(centred * centred, axes, keepdim=keepdim) / builtins.max(count - correction, 0)


def norm(a: Tensor, p: float = 2.0) -> Tensor:
    """The p-norm of all elements (p = 2: Euclidean; p = inf: largest absolute value)."""
    if p == float("inf"):
        return max(a.abs())
    total = sum(a * a) if p == 2 else sum(a.abs() ** p)
    if not total.data.any():  # a is all zeros: the norm is 0, and so is its gradient (as in
        return total * 0.0  # PyTorch), where total ** (1 / p) would give 0 * inf = nan
    return total.sqrt() if p == 2 else total ** (1.0 / p)
