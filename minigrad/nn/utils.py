"""Gradient clipping, ``clip_grad_norm_`` and ``clip_grad_value_`` (PyTorch's semantics), and
``zero_grad_``.

Both modify ``p.grad`` in place, between ``loss.backward()`` and ``optimizer.step()``:

    >>> loss.backward()
    >>> total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    >>> optimizer.step()
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "zero_grad_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The gradients of a tensor or of an iterable of tensors, skipping those without one."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scales all gradients together so that their joint norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector,
    ``(sum_i |g_i|^p)^(1/p)`` (the largest ``|g_i|`` for ``p = inf``), computed in float64 and
    rounded to the gradients' dtype. The coefficient ``max_norm / (total + 1e-6)`` is then
    formed in that dtype as PyTorch forms it, so for a given total the clipped gradients are
    PyTorch's to the last bit (PyTorch sums the norm in float32, so the totals themselves
    may differ in the last ulp). Below 1, every gradient is multiplied by it; otherwise the
    gradients are left alone. As in PyTorch, an infinite total scales every gradient by 0
    (so the infinite entries become NaN), and a NaN total makes every gradient NaN.

    Args:
        parameters: a tensor or an iterable of tensors; those whose ``grad`` is None are
            skipped.
        max_norm: the largest allowed norm.
        norm_type: p, a positive number or ``float('inf')``.
        error_if_nonfinite: raise if the total norm is NaN or infinite, instead of clipping.

    Returns:
        The total norm before clipping, a 0-d Tensor in the gradients' dtype.

    Raises:
        RuntimeError: the total norm is not finite and ``error_if_nonfinite`` is True.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    dtype = np.result_type(*(g.dtype for g in grads))
    # Per-tensor norms in float64, then the norm of those norms: the norm of the whole.
    norms = np.array([np.linalg.norm(g.data.reshape(-1).astype(np.float64), ord=norm_type)
                      for g in grads])
    total = float(norms.max() if math.isinf(norm_type) else np.linalg.norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{total}, so they cannot be clipped; a gradient contains nan or inf. Set "
            "error_if_nonfinite=False to clip anyway (the result may be nan), or use "
            "minigrad.detect_anomaly() to find the op that produced it.")
    total = dtype.type(total)
    with np.errstate(over="ignore"):  # a huge max_norm over a tiny total: inf, no clipping
        # PyTorch evaluates ``max_norm / tensor`` as ``tensor.reciprocal() * max_norm``.
        coefficient = dtype.type(1) / (total + dtype.type(1e-6)) * dtype.type(max_norm)
    if not coefficient >= 1:  # also when it is NaN
        for g in grads:
            g.data *= g.data.dtype.type(coefficient)
    return Tensor(np.asarray(total, dtype=dtype))


def zero_grad_(parameters: Tensor | Iterable[Tensor], set_to_none: bool = True) -> None:
    """Clears the gradients of ``parameters``: to None (default), or to zeros in place.

    ``Module.zero_grad`` and ``Optimizer.zero_grad`` both call it."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    for p in parameters:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            p.grad.data[...] = 0


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamps every gradient element into ``[-clip_value, clip_value]`` in place.

    Args:
        parameters: a tensor or an iterable of tensors; those whose ``grad`` is None are
            skipped.
        clip_value: a non-negative bound.
    """
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for g in _grads(parameters):
        np.clip(g.data, -clip_value, clip_value, out=g.data)
