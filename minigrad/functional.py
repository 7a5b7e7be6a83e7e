"""Stateless neural-network functions (``import minigrad.functional as F``), as in PyTorch.

Shape legend: N batch, C classes, * any number of extra dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import ops, random

# Re-exported from minigrad.ops, where each is defined and documented (help(F.softmax) works).
from minigrad.ops import embedding, linear, log_softmax, relu, sigmoid, softmax, tanh
from minigrad.ops._operands import as_tensor, check_targets
from minigrad.tensor import Tensor

__all__ = ["cross_entropy", "dropout", "embedding", "linear", "log_softmax", "mse_loss",
           "nll_loss", "relu", "sigmoid", "softmax", "tanh"]

_REDUCTIONS = ("none", "mean", "sum")


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by ``1 / (1 - p)``,
    so the expected value is unchanged. Identity when ``training`` is False or ``p`` is 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = random.generator().random(x.shape) >= p
    return x * Tensor._make((keep / (1.0 - p)).astype(x.dtype))


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_rows(input: Tensor, target: Any, op: str) -> tuple[Tensor, np.ndarray, tuple]:
    """Brings (C,), (N, C) or (N, C, d1, ...) scores and their targets to rows (M, C), (M,).

    Returns the rows, the flat targets and the shape that per-element losses take."""
    target = as_tensor(target).data
    if input.ndim == 1:
        expected = ()
        rows = ops.unsqueeze(input, 0)
    elif input.ndim == 2:
        expected = input.shape[:1]
        rows = input
    elif input.ndim > 2:
        expected = (input.shape[0], *input.shape[2:])
        order = (0, *range(2, input.ndim), 1)
        rows = ops.reshape(ops.permute(input, *order), -1, input.shape[1])
    else:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    if target.shape != expected:
        raise ValueError(f"{op}: target has shape {target.shape} but input of shape "
                         f"{input.shape} needs target shape {expected} (class indices)")
    return rows, target.reshape(-1), expected


def cross_entropy(input: Tensor, target: Any, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between unnormalised scores and class indices (``log_softmax`` + NLL).

    Args:
        input: scores, shape (C,), (N, C) or (N, C, d1, ...).
        target: class indices (int), shape (), (N,) or (N, d1, ...).
        ignore_index: targets equal to it contribute no loss and no gradient (e.g. padding).
        reduction: "mean" (over non-ignored targets), "sum" or "none" (shape of target).
        label_smoothing: in [0, 1]; the target distribution becomes
            ``(1 - eps) * one_hot + eps / C``.
    """
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], "
                         f"got {label_smoothing}")
    rows, flat_target, loss_shape = _class_rows(input, target, "cross_entropy")
    loss = ops.cross_entropy_rows(rows, flat_target, ignore_index=ignore_index,
                                  label_smoothing=label_smoothing, reduction=reduction)
    return ops.reshape(loss, *loss_shape) if reduction == "none" else loss


def nll_loss(input: Tensor, target: Any, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (as from ``log_softmax``).

    Shapes as in ``cross_entropy``."""
    _check_reduction(reduction, "nll_loss")
    rows, flat_target, loss_shape = _class_rows(input, target, "nll_loss")
    flat_target = check_targets(flat_target, rows.shape[1], ignore_index, "nll_loss")
    valid = flat_target != ignore_index
    picked = rows[np.arange(len(flat_target)), np.where(valid, flat_target, 0)]
    losses = -picked * Tensor._make(valid.astype(rows.dtype))
    if reduction == "none":
        return ops.reshape(losses, *loss_shape)
    total = losses.sum()
    return total if reduction == "sum" else total / float(valid.sum())


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error; ``input`` and ``target`` must have the same shape."""
    _check_reduction(reduction, "mse_loss")
    target = as_tensor(target, input)
    if target.shape != input.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                         f"{target.shape} differ")
    squared = (input - target) ** 2
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()
