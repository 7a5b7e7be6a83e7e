"""Functions that make tensors: ``tensor``, ``zeros``, ``ones``, ``randn``, ``arange``, ..."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from minigrad import random
from minigrad.ops._operands import python_number_dtype, shape_arg
from minigrad.tensor import DEFAULT_DTYPE, Tensor


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False,
           name: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (like ``torch.tensor``)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(np.array(data, copy=True) if isinstance(data, np.ndarray) else data,
                  requires_grad=requires_grad, dtype=dtype, name=name)


def _filled(fill: Any, shape: tuple, dtype: Any, requires_grad: bool) -> Tensor:
    array = np.full(shape_arg(shape, "factory"), fill,
                    dtype=DEFAULT_DTYPE if dtype is None else dtype)
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(0, shape, dtype, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(1, shape, dtype, requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``shape`` filled with ``fill_value``. Without ``dtype``, the value decides
    it as in PyTorch: bool -> bool, int -> int64, float -> float32."""
    if dtype is None:
        dtype = python_number_dtype(fill_value)
    return _filled(fill_value, (shape,), dtype, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(0, t.shape, t.dtype if dtype is None else dtype, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _filled(1, t.shape, t.dtype if dtype is None else dtype, requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global generator (see ``manual_seed``)."""
    array = random.generator().standard_normal(shape_arg(shape, "randn"))
    return Tensor(array.astype(DEFAULT_DTYPE if dtype is None else dtype),
                  requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the global generator."""
    array = random.generator().random(shape_arg(shape, "rand"))
    return Tensor(array.astype(DEFAULT_DTYPE if dtype is None else dtype),
                  requires_grad=requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    """``start, start + step, ...`` up to but excluding ``end``, like ``torch.arange``:
    int64 when every argument is an integer, float32 otherwise.

    Floating values are computed as ``start + i * step`` in float64 and rounded once to the
    dtype, so no rounding error accumulates along the range. PyTorch's CPU kernel (SIMD,
    so it depends on the machine) rounds the first value of each block of 8 to float32 and
    adds the other offsets to that rounded value, so its float32 values can differ from these
    in the last bits, by more than one ulp only near 0 (where these are the exact ones).

    Example:
        >>> arange(5).tolist(), arange(0, 1, 0.25).tolist()
        ([0, 1, 2, 3, 4], [0.0, 0.25, 0.5, 0.75])
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    whole = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dtype = np.dtype((np.int64 if whole else DEFAULT_DTYPE) if dtype is None else dtype)
    if dtype.kind != "f":
        return Tensor(np.arange(start, end, step, dtype=dtype))
    count = max(math.ceil((end - start) / step), 0)  # PyTorch's length, in float64
    return Tensor((start + np.arange(count, dtype=np.float64) * step).astype(dtype))
