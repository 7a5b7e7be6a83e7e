"""Turning op arguments into tensors and dims into axes, with errors that name the op.

Binary ops promote their operands' dtypes by PyTorch's rules, which differ from numpy's in
three ways (``result_dtype``): the kind of number decides before the width (bool < integer <
floating, so ``int64 + float32`` is float32, not float64); a 0-d tensor does not widen a
dimensioned one of the same kind (``float32 (3,) * float64 ()`` is float32); and a Python
number only decides the dtype when it is of a higher kind than the tensor (``int_tensor * 2.5``
is float32, ``bool_tensor * 3`` int64, ``float32_tensor * 2`` float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import DEFAULT_DTYPE, Tensor, _to_array

#: The kinds of number, in the order in which they win a promotion.
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
#: The dtype a Python number gets when its kind, not the tensor's, decides the result.
_PYTHON_NUMBER_DTYPES = (np.dtype(np.bool_), np.dtype(np.int64), DEFAULT_DTYPE)


def python_number_dtype(value: bool | int | float) -> np.dtype:
    """bool -> bool, int -> int64, float -> float32, as PyTorch's factories infer them."""
    return _PYTHON_NUMBER_DTYPES[_rank_of_number(value)]


def _rank_of_number(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 0
    return 1 if isinstance(value, (int, np.integer)) else 2


def result_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """The dtype of a binary op on tensors ``a`` and ``b``, by PyTorch's rules.

    The higher kind (bool < integer < floating) wins with its own dtype, whatever the shapes:
    ``int64 + float32 -> float32``. Within one kind, a dimensioned tensor beats a 0-d one
    (``float32 (3,) * float64 () -> float32``); two of the same standing promote as usual
    (``float32 (3,) + float64 (3,) -> float64``)."""
    dtype_a, dtype_b = a.data.dtype, b.data.dtype
    if dtype_a == dtype_b:
        return dtype_a
    rank_a, rank_b = _KIND_RANK.get(dtype_a.kind), _KIND_RANK.get(dtype_b.kind)
    if rank_a is None or rank_b is None:  # not numbers (strings, objects): numpy decides
        return np.result_type(dtype_a, dtype_b)
    if rank_a != rank_b:
        return dtype_a if rank_a > rank_b else dtype_b
    if (a.data.ndim == 0) != (b.data.ndim == 0):
        return dtype_b if a.data.ndim == 0 else dtype_a
    return np.promote_types(dtype_a, dtype_b)


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor. A Python number next to a tensor ``like`` takes its dtype unless
    the number is of a higher kind (``x32 * 2`` stays float32, ``bool_mask * 3`` is int64,
    ``int_tensor * 0.5`` float32). Constants never require grad."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (bool, int, float)) and like is not None:
        dtype = like.data.dtype
        rank = _rank_of_number(value)
        if rank > _KIND_RANK.get(dtype.kind, rank):
            dtype = _PYTHON_NUMBER_DTYPES[rank]
        return Tensor._make(np.asarray(value, dtype=dtype))
    return Tensor._make(_to_array(value))


def as_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors (either may be a Python number or an array),
    converted where numpy's promotion would give another dtype than ``result_dtype``."""
    if isinstance(a, Tensor):
        b = as_tensor(b, a)
    else:
        b = as_tensor(b)
        a = as_tensor(a, b)
    if a.data.dtype != b.data.dtype:
        dtype = result_dtype(a, b)
        if np.result_type(a.data, b.data) != dtype:
            # A differentiable conversion: the operand may require grad (a 0-d float64
            # parameter times a float32 tensor gives float32, and its gradient float64).
            a, b = a.astype(dtype), b.astype(dtype)
    return a, b


def check_same_dtype(op: str, **tensors: Tensor | None) -> None:
    """Refuses operands of different dtypes, naming the op, each operand and its dtype.

    Ops that combine an input with learned weights (``linear``, ``matmul``, the recurrent
    cells) do not promote, as in PyTorch: a float64 batch through float32 weights is almost
    always a mistake, and promoting would silently give float64 results and float32
    gradients. ``None`` entries (an absent bias) are skipped.

    Example:
        >>> check_same_dtype("linear", input=x, weight=w)   # TypeError if they differ
    """
    named = [(name, t) for name, t in tensors.items() if t is not None]
    first_name, first = named[0]
    for name, tensor in named[1:]:
        if tensor.dtype != first.dtype:
            raise TypeError(
                f"{op}: {first_name} has dtype {first.dtype} but {name} has dtype "
                f"{tensor.dtype}; they must match. Convert a tensor with .float() (float32) "
                "or .double() (float64), or a module's parameters with module.float() / "
                "module.double()")


def check_targets(targets: Any, num_classes: int, ignore_index: int, op: str) -> np.ndarray:
    """Class-index targets as a contiguous int64 array: refuses non-integer dtypes and any
    index outside ``[0, num_classes)`` other than ``ignore_index`` (naming value and
    position)."""
    targets = as_tensor(targets).data
    if targets.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integer class indices, got dtype "
                        f"{targets.dtype} (convert with .long())")
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= num_classes))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise IndexError(
            f"{op}: target {targets.reshape(-1)[position]} at position {position} is out of "
            f"range for {num_classes} classes (expected 0..{num_classes - 1}, or ignore_index="
            f"{ignore_index})")
    return targets


def normalize_dim(dim: int, ndim: int, op: str) -> int:
    """A possibly negative ``dim`` as an index in ``range(ndim)``."""
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dimensions"
                         f" (expected a value in [{-size}, {size - 1}])")
    return int(dim) % size


def normalize_dims(dim: Any, ndim: int, op: str, *, empty_means_all: bool = False
                   ) -> tuple[int, ...]:
    """``dim`` (None for all, an int, or a sequence of ints) as a sorted tuple of axes.

    ``empty_means_all``: an empty sequence means every dimension, as in PyTorch's reductions
    (``x.sum(dim=())`` sums everything); elsewhere (``flip``, ``squeeze``) it means none."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims and empty_means_all:
        return tuple(range(ndim))
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
