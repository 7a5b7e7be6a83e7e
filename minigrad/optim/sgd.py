"""Stochastic gradient descent, with momentum, dampening, weight decay and Nesterov."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from minigrad.optim.optimizer import REQUIRED, Optimizer
from minigrad.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, exactly as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g``, at step t (1, 2, ...)::

        g = g + weight_decay * p                   # L2 penalty, if weight_decay != 0
        if momentum != 0:
            b = g                  at t = 1        # the buffer starts as the gradient
            b = momentum * b + (1 - dampening) * g   otherwise
            g = g + momentum * b   if nesterov else b
        p = p - lr * g

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
            grad = grad + group["weight_decay"] * param.data
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.copy()
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * grad
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        param.data -= group["lr"] * grad
