"""Comparisons and logical ops: boolean results, no gradient (not graph nodes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.ops._operands import as_pair, as_tensor
from minigrad.tensor import Tensor

#: Functions of minigrad.ops that are deliberately not differentiable.
NON_DIFFERENTIABLE = ("lt", "le", "gt", "ge", "eq", "ne", "logical_not", "logical_and",
                      "logical_or", "argmax", "argmin")


def _compare(ufunc: np.ufunc, a: Any, b: Any) -> Tensor:
    a, b = as_pair(a, b)
    try:
        return Tensor._make(np.asarray(ufunc(a.data, b.data)))
    except ValueError as err:
        raise ValueError(f"{ufunc.__name__}: cannot broadcast shapes {a.shape} and {b.shape}: "
                         f"{err}") from None


def lt(a: Any, b: Any) -> Tensor:
    return _compare(np.less, a, b)


def le(a: Any, b: Any) -> Tensor:
    return _compare(np.less_equal, a, b)


def gt(a: Any, b: Any) -> Tensor:
    return _compare(np.greater, a, b)


def ge(a: Any, b: Any) -> Tensor:
    return _compare(np.greater_equal, a, b)


def eq(a: Any, b: Any) -> Tensor:
    return _compare(np.equal, a, b)


def ne(a: Any, b: Any) -> Tensor:
    return _compare(np.not_equal, a, b)


def logical_and(a: Any, b: Any) -> Tensor:
    return _compare(np.logical_and, a, b)


def logical_or(a: Any, b: Any) -> Tensor:
    return _compare(np.logical_or, a, b)


def logical_not(a: Any) -> Tensor:
    return Tensor._make(np.logical_not(as_tensor(a).data))
