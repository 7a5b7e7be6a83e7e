"""Tensor: a numpy array plus what reverse-mode autograd needs to know about it.

A tensor made by an op remembers that op in ``grad_fn`` (a graph node, see ``autograd.py``);
a tensor made by the user is a *leaf* (``grad_fn is None``). ``backward()`` walks the graph from
a result back to the leaves and accumulates ``d result / d leaf`` into each leaf's ``grad``.

The arithmetic methods are thin: each one calls a function of ``minigrad.ops``, where every
primitive keeps its forward and backward side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

DEFAULT_DTYPE = np.dtype(np.float32)


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """numpy arrays keep their dtype; Python floats become float32, ints int64 (like PyTorch)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        if array.dtype == np.float64:
            array = array.astype(DEFAULT_DTYPE)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype == object:
            raise TypeError(f"cannot make a tensor from {type(data).__name__}: {data!r:.80}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return array


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Args:
        data: array-like (nested lists, numpy array, scalar or another Tensor's data).
        requires_grad: record operations on this tensor so that ``backward()`` fills ``grad``.
            Only floating-point tensors can require gradients.
        dtype: numpy dtype to convert to. Default: the dtype of a numpy array, float32 for
            Python floats, int64 for Python ints.
        name: optional label, shown by the graph renderer.

    Attributes:
        data: the ``np.ndarray`` holding the values.
        grad: accumulated gradient (a Tensor of the same shape) or None.
        grad_fn: the graph node of the op that made this tensor; None for leaves.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "name",
                 "_output_index", "_hooks", "_retains_grad", "__weakref__")
    __array_ufunc__ = None  # ``ndarray * tensor`` defers to Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.grad_fn = None
        self.name = name
        self._output_index = 0
        self._hooks: list | None = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray, grad_fn: Any = None, output_index: int = 0) -> Tensor:
        """Fast constructor used by ops: no conversion, no checks."""
        tensor = object.__new__(cls)
        tensor.data = data
        tensor.grad = None
        tensor.requires_grad = grad_fn is not None
        tensor.grad_fn = grad_fn
        tensor.name = None
        tensor._output_index = output_index
        tensor._hooks = None
        tensor._retains_grad = False
        return tensor

    # ----------------------------------------------------------------- properties
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (user-made tensors and parameters)."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        """The tensor with all its dimensions reversed (the transpose, for a matrix)."""
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors ``self[0], self[1], ...`` along the first dimension (each one an
        indexing op, so gradients flow back through them)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ----------------------------------------------------------------- autograd
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Sets ``requires_grad`` in place (leaves only); returns self."""
        if not self.is_leaf:
            raise RuntimeError(
                "requires_grad_() can only change leaf tensors; this one was made by "
                f"'{self.grad_fn.name}'. Use .detach().requires_grad_() for a new leaf.")
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulates ``d self / d leaf`` into the ``grad`` of every leaf that requires grad.

        Args:
            gradient: ``d loss / d self``, same shape as self; may be omitted for a scalar.
            retain_graph: keep the saved buffers so that backward can run through this graph
                again. By default they are freed, and a second backward raises an error.
        """
        _autograd.backward(self, gradient, retain_graph)

    def detach(self) -> Tensor:
        """A new leaf sharing the same data, cut off from the graph (``requires_grad=False``)."""
        return Tensor._make(self.data)

    def detach_(self) -> Tensor:
        """Cuts this tensor off from its graph in place; returns self."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook: Any) -> Any:
        """Calls ``hook(grad)`` when this tensor's gradient is computed.

        The hook receives the gradient as a Tensor and may return a replacement (same shape)
        or None to keep it. It must not modify the gradient in place: the same array may
        also be the gradient of another tensor. Returns a handle whose ``remove()``
        unregisters the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            return _autograd.HookHandle(self._hooks, hook)
        return self.grad_fn.add_output_hook(self._output_index, hook)

    def retain_grad(self) -> None:
        """Makes a non-leaf tensor keep its ``grad`` after backward (leaves always do)."""
        if not self.requires_grad:
            raise RuntimeError("cannot retain_grad() on a tensor that does not require grad")
        if self.grad_fn is not None and not self._retains_grad:
            self._retains_grad = True
            self.grad_fn.retain_output(self._output_index, self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def zero_grad_(self) -> None:
        self.grad = None

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied). Refuses tensors that require grad."""
        if self.requires_grad:
            raise RuntimeError("call .detach().numpy() on a tensor that requires grad")
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(tensor)``: the data, as ``numpy()`` gives it (refused when the tensor
        requires grad); copied when ``copy=True`` or when converting to ``dtype``."""
        array = self.numpy()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(f"cannot convert a {array.dtype} tensor to {np.dtype(dtype)} "
                                 "without a copy (copy=False)")
            return array.astype(dtype)
        return array.copy() if copy else array

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers."""
        return self.data.tolist()

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable dtype conversion (float32 <-> float64)."""
        return _ops.astype(self, dtype)

    def float(self) -> Tensor:
        """Converted to float32 (differentiable)."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """Converted to float64 (differentiable)."""
        return self.astype(np.float64)

    def long(self) -> Tensor:
        """Converted to int64 (a constant: no gradient)."""
        return Tensor(self.data.astype(np.int64))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .any() or .all()")
        return bool(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.data.dtype not in (DEFAULT_DTYPE, np.dtype(np.int64)) or self.data.size == 0:
            extras.append(f"dtype={self.data.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __hash__ = object.__hash__  # tensors are graph nodes: identity, not value, makes them equal

    # ----------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return _ops.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _ops.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.ge(self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.ne(self, other)

    def __invert__(self) -> Tensor:
        return _ops.logical_not(self)

    def __and__(self, other: Any) -> Tensor:
        return _ops.logical_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _ops.logical_or(self, other)

    # ----------------------------------------------------------------- methods
    # Thin forwards to minigrad.ops, named as in PyTorch.
    def exp(self) -> Tensor:
        """``e ** x`` elementwise."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """Natural logarithm elementwise."""
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        """Square root elementwise."""
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        """``|x|`` elementwise."""
        return _ops.abs(self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent elementwise."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """``1 / (1 + exp(-x))`` elementwise."""
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        """``max(x, 0)`` elementwise."""
        return _ops.relu(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Values limited to ``[min, max]`` (either may be None)."""
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        """Elementwise larger of ``self`` and ``other`` (broadcast)."""
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """Elementwise smaller of ``self`` and ``other`` (broadcast)."""
        return _ops.minimum(self, other)

    def sum(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (int, tuple, or None or ``()`` for all); keepdim keeps it as size 1."""
        return _ops.sum(self, dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (as in ``sum``)."""
        return _ops.mean(self, dim, keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Largest element, or ``(values, indices)`` along ``dim`` (that dim removed)."""
        return _ops.max(self, dim, keepdim)

    def min(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """Smallest element, or ``(values, indices)`` along ``dim`` (that dim removed)."""
        return _ops.min(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the largest element (flat), or along ``dim``; int64, no gradient."""
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest element (flat), or along ``dim``; int64, no gradient."""
        return _ops.argmin(self, dim, keepdim)

    def logsumexp(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """``log(sum(exp(x)))`` over ``dim``, without overflow."""
        return _ops.logsumexp(self, dim, keepdim)

    def var(self, dim: Any = None, correction: int = 1, keepdim: bool = False) -> Tensor:
        """Variance over ``dim``; ``correction=1`` is the unbiased estimate (PyTorch's default)."""
        return _ops.var(self, dim, correction=correction, keepdim=keepdim)

    def std(self, dim: Any = None, correction: int = 1, keepdim: bool = False) -> Tensor:
        """Standard deviation over ``dim``: ``sqrt(var(...))``."""
        return _ops.var(self, dim, correction=correction, keepdim=keepdim).sqrt()

    def norm(self, p: float = 2.0) -> Tensor:
        """The p-norm of all elements (see ``minigrad.ops.norm``): a 0-d tensor."""
        return _ops.norm(self, p)

    def any(self) -> bool:
        """Whether any element is non-zero (a Python bool)."""
        return bool(self.data.any())

    def all(self) -> bool:
        """Whether every element is non-zero (a Python bool)."""
        return bool(self.data.all())

    def softmax(self, dim: int = -1) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``; same shape, slices sum to 1."""
        return _ops.softmax(self, dim)

    def log_softmax(self, dim: int = -1) -> Tensor:
        """``log(softmax(x, dim))``, computed stably; same shape."""
        return _ops.log_softmax(self, dim)

    def reshape(self, *shape: Any) -> Tensor:
        """Same elements in a new shape; one size may be -1 (inferred)."""
        return _ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """Same as ``reshape`` (minigrad does not track memory layout)."""
        return _ops.reshape(self, *shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dimensions ``start_dim..end_dim`` merged into one."""
        return _ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims: Any) -> Tensor:
        """Dimensions reordered: ``x.permute(2, 0, 1)`` of (A, B, C) is (C, A, B)."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Dimensions ``dim0`` and ``dim1`` swapped."""
        return _ops.transpose(self, dim0, dim1)

    def squeeze(self, dim: Any = None) -> Tensor:
        """Size-1 dimensions removed (all, or those in ``dim``)."""
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        """A size-1 dimension inserted at ``dim``."""
        return _ops.unsqueeze(self, dim)

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to a larger shape (-1 keeps a size) without copying."""
        return _ops.expand(self, *shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        """Broadcast to ``shape`` (as ``expand``)."""
        return _ops.expand(self, shape)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along ``dim``: of size ``split_size`` each, or of the given sizes."""
        return _ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """``chunks`` pieces of (nearly) equal size along ``dim``."""
        return _ops.chunk(self, chunks, dim)

    def flip(self, dims: Any) -> Tensor:
        """Elements reversed along ``dims``."""
        return _ops.flip(self, dims)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        """``value`` wherever the boolean ``mask`` (broadcast) is True."""
        return _ops.masked_fill(self, mask, value)


# Imported last: both modules use the Tensor class defined above.
from minigrad import autograd as _autograd  # noqa: E402
from minigrad import ops as _ops  # noqa: E402
