"""Turning op arguments into tensors and dims into axes, with errors that name the op."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import DEFAULT_DTYPE, Tensor, _to_array


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; a Python number takes the dtype of ``like`` (so ``x * 2`` keeps
    float32). Constants never require grad."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and like is not None:
        dtype = like.data.dtype
        if dtype.kind not in "fc" and isinstance(value, float):
            dtype = DEFAULT_DTYPE
        return Tensor._make(np.asarray(value, dtype=dtype))
    return Tensor._make(_to_array(value))


def as_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors (either may be a Python number or an array)."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, a)
    b = as_tensor(b)
    return as_tensor(a, b), b


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """A possibly negative ``dim`` as an index in ``range(ndim)``."""
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions"
                         f" (expected a value in [{-size}, {size - 1}])")
    return int(dim) % size


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple[int, ...]:
    """``dim`` (None for all, an int, or a sequence of ints) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    axes = sorted({normalize_dim(d, ndim, op) for d in dims})
    if len(axes) != len(dims):
        raise ValueError(f"{op}: dim {dim} names the same dimension twice")
    return tuple(a for a in axes if a < ndim)


def shape_arg(shape: tuple, op: str) -> tuple[int, ...]:
    """Accepts ``f(2, 3)`` and ``f((2, 3))`` like PyTorch."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be ints, got {shape!r}") from None
