"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR`` and ``LambdaLR``.

A scheduler sets ``group["lr"]`` of each parameter group of an optimizer as a function of
the epoch count. Call ``scheduler.step()`` once per epoch, after ``optimizer.step()``:

    >>> scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    >>> for epoch in range(100):
    ...     train_one_epoch(model, optimizer)
    ...     scheduler.step()

Each schedule here is a closed form of the epoch and the group's initial learning rate
(``group["initial_lr"]``, recorded when the scheduler is made), so the values are exact and
a restored scheduler resumes exactly. Unlike PyTorch's chainable forms, a learning rate
changed by hand is overwritten at the next ``step()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from minigrad.optim.optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "StepLR"]


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the rates for epoch ``last_epoch``.

    Args:
        optimizer: the optimizer whose learning rates to set.
        last_epoch: the index of the last epoch, to resume a schedule; -1 starts afresh.
            Making the scheduler takes one step, so after construction ``last_epoch`` is
            0 (or ``last_epoch + 1``) and the learning rates are those of that epoch.

    Attributes:
        base_lrs: each group's initial learning rate.
        last_epoch: the epoch whose learning rates are set.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                               "when resuming an optimizer (last_epoch != -1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self) -> list[float]:
        """The learning rate of each group at epoch ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self) -> None:
        """Advances one epoch and sets every group's learning rate for it."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (and functions), as JSON-able values."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes saved by ``state_dict()`` (the optimizer's learning rates
        come back with the optimizer's own ``load_state_dict``)."""
        unknown = set(state_dict) - set(self.state_dict())
        if unknown:
            raise KeyError(f"{type(self).__name__}.load_state_dict: unexpected key(s) "
                           f"{sorted(unknown)}")
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                            if k not in ("base_lrs", "_last_lr"))
        return f"{type(self).__name__}({options})"


class StepLR(LRScheduler):
    """Multiplies the learning rate by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr * gamma ** (epoch // step_size)``.

    Args:
        optimizer: the optimizer.
        step_size: epochs between decays, >= 1.
        gamma: the decay factor.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Anneals from the initial learning rate to ``eta_min`` along half a cosine over
    ``T_max`` epochs (SGDR, Loshchilov & Hutter 2017, without restarts)::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Past ``T_max`` the cosine continues, rising again, as in PyTorch.

    Args:
        optimizer: the optimizer.
        T_max: epochs from the initial rate to ``eta_min``, >= 1.
        eta_min: the smallest learning rate.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base_lr - self.eta_min) * cosine for base_lr in self.base_lrs]


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``, with one function or one per parameter group.

    The functions are not part of ``state_dict()``; pass the same ones when resuming.

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch (an int) returning a factor, or a list of them.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n_groups = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else \
            [lr_lambda] * n_groups
        if len(lambdas) != n_groups:
            raise ValueError(f"LambdaLR: expected {n_groups} lr_lambdas (one per parameter "
                             f"group), got {len(lambdas)}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch)
                for base_lr, fn in zip(self.base_lrs, self.lr_lambdas, strict=True)]
