"""Stochastic gradient descent, with momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import REQUIRED, Optimizer
from minigrad.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g``, at step t (1, 2, ...)::

        g = g + weight_decay * p                   # L2 penalty, if weight_decay != 0
        if momentum != 0:
            b = g                  at t = 1        # the buffer starts as the gradient
            b = momentum * b + (1 - dampening) * g   otherwise
            g = g + momentum * b   if nesterov else b
        p = p - lr * g

    PyTorch computes each ``x + alpha * y`` above with a fused multiply-add (one rounding);
    so does this (``_add_scaled``), which makes float32 results equal to PyTorch's bit for
    bit. For float64 parameters the sum is rounded twice and may differ in the last ulp.

    Args:
        params: tensors, or dicts of tensors and options (see ``Optimizer``).
        lr: learning rate (no default, as in PyTorch).
        momentum: momentum factor, >= 0.
        dampening: dampening of the gradient's share of the momentum, >= 0.
        weight_decay: L2 penalty coefficient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = REQUIRED,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            if not group[name] >= 0.0:
                raise ValueError(f"SGD: invalid {name} {group[name]} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening 0")

    def _update(self, param: Tensor, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            grad = _add_scaled(grad, group["weight_decay"], param.data)
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer[...] = _add_scaled(buffer, 1 - group["dampening"], grad)
            grad = _add_scaled(grad, momentum, buffer) if group["nesterov"] else buffer
        param.data[...] = _add_scaled(param.data, -group["lr"], grad)


def _add_scaled(x: np.ndarray, alpha: float, y: np.ndarray) -> np.ndarray:
    """``x + alpha * y`` rounded once to ``x``'s dtype, as PyTorch's ``x.add(y, alpha=alpha)``
    computes it (a fused multiply-add, with ``alpha`` first rounded to that dtype).

    For float32, the float64 product of two float32 numbers is exact, so only the sum is
    rounded before the final rounding to float32 (a difference from a true fused
    multiply-add only when that double rounding breaks a tie: never seen in tests)."""
    if x.dtype != np.float32:
        return x + alpha * y
    wide_alpha = np.float64(np.float32(alpha))
    return (x.astype(np.float64) + wide_alpha * y.astype(np.float64)).astype(np.float32)
