"""Shape ops: the data moves, the values do not; each backward moves the gradient back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minigrad.autograd import Function
from minigrad.ops._operands import as_tensor, normalize_dim, normalize_dims, shape_arg
from minigrad.ops._scatter import sum_rows_by_index
from minigrad.tensor import Tensor


class Reshape(Function):
    def forward(self, a, shape=()):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.in_shape)


class Permute(Function):
    def forward(self, a, dims=()):
        self.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    def backward(self, grad):
        return grad.transpose(self.inverse)


class Expand(Function):
    """Broadcast to a larger shape; the engine sums the gradient back (``unbroadcast``)."""

    def forward(self, a, shape=()):
        return np.broadcast_to(a, shape)

    def backward(self, grad):
        return grad


class GetItem(Function):
    """``a[index]`` with numpy's rules: ints, slices, None, Ellipsis, integer arrays, masks."""

    def forward(self, a, index=None):
        self.in_shape = a.shape
        self.dtype = a.dtype
        self.index = index
        return a[index]

    def backward(self, grad):
        index = self.index
        if type(index) is np.ndarray and index.ndim == 1 and index.dtype.kind in "iu":
            # Rows gathered along the first axis (packing, embeddings): repeats add up.
            count = self.in_shape[0]
            rows = index.astype(np.intp)  # (a uint8 index cannot hold index + count)
            rows[rows < 0] += count
            width = math.prod(self.in_shape[1:])
            out = sum_rows_by_index(grad.reshape(len(index), width), rows, count)
            return out.reshape(self.in_shape)
        out = np.zeros(self.in_shape, dtype=grad.dtype)
        if _is_basic(index):
            out[index] = grad  # a view selects each element at most once
        else:
            np.add.at(out, index, grad)  # repeated indices accumulate
        return out


class Cat(Function):
    """Joins tensors along an existing dimension."""

    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.bounds = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad):
        return tuple(np.split(grad, self.bounds, axis=self.axis))


class Stack(Function):
    """Joins same-shape tensors along a new dimension."""

    def forward(self, *arrays, axis=0):
        self.axis = axis
        return np.stack(arrays, axis=axis)

    def backward(self, grad):
        return tuple(np.moveaxis(grad, self.axis, 0))


class Flip(Function):
    def forward(self, a, axes=()):
        self.axes = axes
        return np.flip(a, axes)

    def backward(self, grad):
        return np.flip(grad, self.axes)


class Pad(Function):
    """Constant padding; ``widths`` is numpy's ((before, after), ...) per dimension."""

    def forward(self, a, widths=(), value=0.0):
        self.inner = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape, strict=True))
        return np.pad(a, widths, constant_values=value)

    def backward(self, grad):
        return grad[self.inner]


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))
               for p in parts)


# ------------------------------------------------------------------ functions
def reshape(a: Tensor, *shape: Any) -> Tensor:
    """Same data in a new shape (one dimension may be -1)."""
    if shape == a.data.shape:  # already that shape, given as ints: no node (and no checks)
        return a
    target = _resolve_shape(shape_arg(shape, "reshape"), a)
    if target == a.shape:
        return a
    return Reshape.apply(a, shape=target)


def _resolve_shape(shape: tuple[int, ...], a: Tensor) -> tuple[int, ...]:
    """``shape`` with its -1 (at most one) replaced so that the element count matches."""
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) == 1 and known > 0 and a.data.size % known == 0:
        shape = tuple(a.data.size // known if n == -1 else n for n in shape)
    if shape.count(-1) or any(n < 0 for n in shape) or math.prod(shape) != a.data.size:
        raise ValueError(f"reshape: cannot view a tensor of shape {a.shape} ({a.data.size} "
                         f"elements) as shape {shape}")
    return shape


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if a.ndim == 0:
        return reshape(a, 1)
    start = normalize_dim(start_dim, a.ndim, "flatten")
    end = normalize_dim(end_dim, a.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(a, *a.shape[:start], -1, *a.shape[end + 1:])


def permute(a: Tensor, *dims: Any) -> Tensor:
    dims = shape_arg(dims, "permute")
    if sorted(normalize_dim(d, a.ndim, "permute") for d in dims) != list(range(a.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {a.ndim} "
                         f"dimensions of a tensor of shape {a.shape}")
    return Permute.apply(a, dims=tuple(normalize_dim(d, a.ndim, "permute") for d in dims))


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    dims = list(range(a.ndim))
    i, j = normalize_dim(dim0, a.ndim, "transpose"), normalize_dim(dim1, a.ndim, "transpose")
    dims[i], dims[j] = dims[j], dims[i]
    return Permute.apply(a, dims=tuple(dims))


def squeeze(a: Tensor, dim: Any = None) -> Tensor:
    """Drops size-1 dimensions (all of them, or those in ``dim`` that have size 1)."""
    axes = normalize_dims(dim, a.ndim, "squeeze")
    return reshape(a, *[n for i, n in enumerate(a.shape) if not (i in axes and n == 1)])


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Inserts a size-1 dimension at ``dim`` (``-1`` appends)."""
    axis = normalize_dim(dim, a.ndim + 1, "unsqueeze")
    return reshape(a, *a.shape[:axis], 1, *a.shape[axis:])


def expand(a: Tensor, *shape: Any) -> Tensor:
    """Broadcasts to ``shape``; ``-1`` keeps a dimension's size (PyTorch's ``expand``)."""
    shape = shape_arg(shape, "expand")
    offset = len(shape) - a.ndim
    target = tuple(a.shape[i - offset] if n == -1 and i >= offset else n
                   for i, n in enumerate(shape))
    try:
        np.broadcast_shapes(a.shape, target)
        if np.broadcast_shapes(a.shape, target) != target:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: cannot broadcast shape {a.shape} to {shape}") from None
    return Expand.apply(a, shape=target)


def getitem(a: Tensor, index: Any) -> Tensor:
    return GetItem.apply(a, index=_index_arrays(index))


def _index_arrays(index: Any) -> Any:
    """Tensors and lists inside an index become numpy arrays (int64 or bool)."""
    if isinstance(index, tuple):
        return tuple(_index_arrays(i) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and index.dtype.kind not in "iub":
        raise IndexError(f"tensors used as indices must be integer or boolean, got dtype "
                         f"{index.dtype}")
    return index


def _check_same_rank(tensors: Sequence[Tensor], op: str) -> None:
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    first = tensors[0]
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim:
            raise ValueError(f"{op}: tensor {i} has {t.ndim} dimensions (shape {t.shape}) but "
                             f"tensor 0 has {first.ndim} (shape {first.shape})")


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Concatenates along an existing dimension ``dim``; the other sizes must match."""
    tensors = [as_tensor(t) for t in tensors]
    _check_same_rank(tensors, "cat")
    axis = normalize_dim(dim, tensors[0].ndim, "cat")
    for i, t in enumerate(tensors):
        if t.shape[:axis] + t.shape[axis + 1:] != tensors[0].shape[:axis] + \
                tensors[0].shape[axis + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which differs from tensor "
                             f"0's shape {tensors[0].shape} outside dimension {dim}")
    return Cat.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Stacks same-shape tensors along a new dimension ``dim``."""
    tensors = [as_tensor(t) for t in tensors]
    _check_same_rank(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has shape "
                             f"{tensors[0].shape}; all must be equal")
    return Stack.apply(*tensors, axis=normalize_dim(dim, tensors[0].ndim + 1, "stack"))


def split(a: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes."""
    axis = normalize_dim(dim, a.ndim, "split")
    length = a.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [min(split_size_or_sections, length - s)
                 for s in range(0, length, split_size_or_sections)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != length:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dimension "
                             f"{dim} has size {length}")
    pieces, start = [], 0
    for size in sizes:
        index = (slice(None),) * axis + (slice(start, start + size),)
        pieces.append(getitem(a, index))
        start += size
    return tuple(pieces)


def chunk(a: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunks`` nearly equal pieces along ``dim`` (PyTorch's sizes: ceil(n / chunks))."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    length = a.shape[normalize_dim(dim, a.ndim, "chunk")]
    return split(a, max(1, -(-length // chunks)), dim)


def flip(a: Tensor, dims: Any) -> Tensor:
    return Flip.apply(a, axes=normalize_dims(dims, a.ndim, "flip"))


def pad(a: Tensor, pad: Sequence[int], value: float = 0.0) -> Tensor:
    """Constant padding, PyTorch's order: ``(left, right)`` of the last dim, then the one
    before, ... e.g. ``pad(x, (1, 2))`` adds 1 before and 2 after along the last dimension."""
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad: expected pairs for at most {a.ndim} dimensions, got {pad}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding is not supported, got {pad}")
    widths = [(0, 0)] * a.ndim
    for k in range(len(pad) // 2):
        widths[a.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return Pad.apply(a, widths=tuple(widths), value=value)

