"""Neural-network primitives: softmax, log-softmax, cross-entropy, embedding lookup, linear.

They are primitives (one graph node each) rather than compositions because each has a
cheaper, numerically safer backward than the chain of its parts; the arithmetic is in
``minigrad.kernels``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import kernels
from minigrad.autograd import Function
from minigrad.ops._operands import as_tensor, check_same_dtype, check_targets, normalize_dim
from minigrad.ops._scatter import sum_rows_by_index
from minigrad.tensor import Tensor


def _along_last(fn: Any, array: np.ndarray, axis: int, *more: np.ndarray) -> np.ndarray:
    """Applies a last-axis kernel along ``axis`` by moving that axis last and back."""
    if axis == array.ndim - 1:
        return fn(np.ascontiguousarray(array), *(np.ascontiguousarray(m) for m in more))
    moved = [np.ascontiguousarray(np.moveaxis(x, axis, -1)) for x in (array, *more)]
    return np.moveaxis(fn(*moved), -1, axis)


class Softmax(Function):
    def forward(self, a, axis=-1):
        self.axis = axis
        out = _along_last(kernels.softmax_forward, a, axis)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return _along_last(kernels.softmax_backward, out, self.axis, grad)


class LogSoftmax(Function):
    def forward(self, a, axis=-1):
        self.axis = axis
        out = _along_last(kernels.log_softmax_forward, a, axis)
        self.save(out)
        return out

    def backward(self, grad):
        (out,) = self.saved
        return _along_last(kernels.log_softmax_backward, out, self.axis, grad)


class CrossEntropy(Function):
    """Mean/sum/per-row cross-entropy of logits (M, C) against class indices (M,)."""

    def forward(self, logits, targets, ignore_index=-100, label_smoothing=0.0,
                reduction="mean"):
        logits = np.ascontiguousarray(logits)
        losses, log_probs = kernels.cross_entropy_forward(
            logits, targets, ignore_index, label_smoothing)
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.count = int(np.count_nonzero(targets != ignore_index))
        self.save(log_probs, targets)
        if reduction == "none":
            return losses
        total = losses.sum(dtype=losses.dtype)
        if reduction == "sum":
            return total
        # Like PyTorch, a batch whose targets are all ignored has mean loss nan (0 / 0).
        return total / self.count if self.count else np.asarray(np.nan, dtype=losses.dtype)

    def backward(self, grad):
        log_probs, targets = self.saved
        if self.reduction == "none":
            per_row = np.ascontiguousarray(grad, dtype=log_probs.dtype)
        else:
            scale = grad if self.reduction == "sum" else grad / max(self.count, 1)
            per_row = np.full(targets.shape, scale, dtype=log_probs.dtype)
        return kernels.cross_entropy_backward(
            log_probs, targets, per_row, self.ignore_index, self.label_smoothing), None


class Embedding(Function):
    """Rows of ``weight`` (V, D) picked by integer ``indices`` of any shape -> (*, D)."""

    def forward(self, weight, indices, padding_idx=None):
        self.weight_shape = weight.shape
        self.padding_idx = padding_idx
        self.save(indices)
        return weight[indices]

    def backward(self, grad):
        (indices,) = self.saved
        grad_weight = sum_rows_by_index(grad.reshape(-1, self.weight_shape[1]),
                                        indices.reshape(-1), self.weight_shape[0])
        if self.padding_idx is not None:
            grad_weight[self.padding_idx] = 0  # the padding row never learns
        return grad_weight, None


class Linear(Function):
    """``x @ weight.T + bias`` for x (*, in), weight (out, in), bias (out,) -> (*, out)."""

    def forward(self, x, weight, bias=None):
        self.save(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        x, weight = self.saved
        grad_x = grad @ weight if self.needs_grad[0] else None
        grad_weight = None
        if self.needs_grad[1]:
            grad_weight = grad.reshape(-1, grad.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        if len(self.needs_grad) == 2:
            return grad_x, grad_weight
        grad_bias = grad.reshape(-1, grad.shape[-1]).sum(0) if self.needs_grad[2] else None
        return grad_x, grad_weight, grad_bias


# ------------------------------------------------------------------ functions
def softmax(a: Tensor, dim: int = -1) -> Tensor:
    """``exp(a) / sum(exp(a))`` along ``dim``: each slice along it sums to 1. Same shape."""
    return Softmax.apply(a, axis=normalize_dim(dim, a.ndim, "softmax"))


def log_softmax(a: Tensor, dim: int = -1) -> Tensor:
    """``log(softmax(a, dim))``, computed without overflow or ``log(0)``. Same shape."""
    return LogSoftmax.apply(a, axis=normalize_dim(dim, a.ndim, "log_softmax"))


def cross_entropy_rows(logits: Tensor, targets: Any, *, ignore_index: int = -100,
                       label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Cross-entropy of logits (M, C) against class indices (M,); see
    ``functional.cross_entropy`` for the user-facing version with more shapes."""
    targets = check_targets(targets, logits.shape[1], ignore_index, "cross_entropy")
    return CrossEntropy.apply(logits, Tensor._make(targets), ignore_index=ignore_index,
                              label_smoothing=float(label_smoothing), reduction=reduction)


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Looks up rows of ``weight`` (V, D) for integer ``indices`` of any shape -> (*, D).

    Row ``padding_idx`` (negative values count from the end, -1 is the last row) gets no
    gradient."""
    indices = as_tensor(indices).data
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    vocab = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= vocab):
        bad = int(indices.min() if indices.min() < 0 else indices.max())
        raise IndexError(f"embedding: index {bad} is out of range for an embedding table of "
                         f"{vocab} rows (expected 0..{vocab - 1})")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
            raise TypeError(f"embedding: padding_idx must be an int or None, got "
                            f"{type(padding_idx).__name__}")
        if not -vocab <= padding_idx < vocab:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for an "
                             f"embedding table of {vocab} rows (expected {-vocab}..{vocab - 1})")
        padding_idx = int(padding_idx) % vocab
    return Embedding.apply(weight, Tensor._make(indices), padding_idx=padding_idx)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias``. Shape: x (*, in), weight (out, in), bias (out,) -> (*, out).

    All three must have one dtype (no promotion, as in PyTorch): a float64 input through
    float32 weights raises a TypeError saying how to convert."""
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: expected input (*, {weight.shape[-1]})")
    check_same_dtype("linear", input=x, weight=weight, bias=bias)
    if bias is None:
        return Linear.apply(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    return Linear.apply(x, weight, bias)
