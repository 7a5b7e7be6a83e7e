"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and checkpoints.

As in PyTorch, an optimizer holds a list of *parameter groups*: dicts with the ``params`` they
update and their own hyper-parameters (so that, say, embeddings can use another learning
rate). ``state[p]`` keeps what the update rule remembers about parameter ``p`` (momentum,
moments, step count). ``step()`` reads ``p.grad`` and updates ``p.data`` in place, so the
Parameter objects (and the module holding them) stay the same.

    >>> opt = SGD([{"params": model.encoder.parameters()},
    ...            {"params": model.decoder.parameters(), "lr": 1e-3}], lr=1e-2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minigrad.modes import enable_grad
from minigrad.nn.utils import zero_grad_
from minigrad.tensor import Tensor

#: Marks a hyper-parameter that has no default and must be given.
REQUIRED = object()


class Optimizer:
    """Base class: subclasses define ``defaults`` and the update in ``step()``.

    Args:
        params: an iterable of tensors, or of dicts each holding ``"params"`` and
            hyper-parameters that override ``defaults`` for that group.
        defaults: the hyper-parameters of groups that do not set their own.

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list of tensors) and every
            hyper-parameter. LR schedulers change ``group["lr"]`` here.
        state: dict from parameter (by identity) to a dict of its state (numpy arrays and
            ints), filled on the first ``step()`` that sees a gradient for it.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], defaults: dict[str, Any]
                 ) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors or of dicts, got a single "
                            "Tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group (e.g. layers unfrozen during fine-tuning) with its own options."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("a parameter group needs a 'params' entry")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can't optimize a non-leaf tensor "
                                 f"(made by '{p.grad_fn.name}'); optimize the leaves instead")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in group["params"]}) != len(group["params"]) or \
                any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear more than once (in this group or in an "
                             "earlier one); each parameter may be optimized only once")
        for name, default in self.defaults.items():
            if default is REQUIRED and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter '{name}'")
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Subclasses raise ValueError for out-of-range options (each group is checked)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients of all parameters: to None (default), or to zeros in place."""
        zero_grad_(self._all_params(), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Updates every parameter that has a gradient; returns ``closure()`` if given
        (a function that recomputes the loss, with gradients, and returns it)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, param: Tensor, grad: np.ndarray, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define _update()")

    # ------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, in a form ``minigrad.save`` can store.

        Parameters are referred to by their position across all groups (0, 1, ...), written
        as strings so that the dict is a valid checkpoint tree::

            {"state": {"0": {"step": array(3), "exp_avg": array(...), ...}, ...},
             "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

        State values are numpy arrays (copies; ints become 0-d int64 arrays).
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {str(index[id(p)]): {k: np.array(v, copy=True) for k, v in s.items()}
                 for p, s in self.state.items() if s}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores hyper-parameters and state from ``state_dict()`` output (or a loaded
        checkpoint of it). The optimizer must have been built over parameters of the same
        shapes, in the same order and grouping. Everything is checked before anything
        changes. Floating state is converted to each parameter's dtype."""
        name = type(self).__name__
        if set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict: expected the keys 'state' and "
                             f"'param_groups', got {sorted(state_dict)}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} "
                             f"parameter group(s), the optimizer {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has "
                                 f"{len(saved['params'])} parameters in the state dict but "
                                 f"{len(group['params'])} in the optimizer")
        params = self._all_params()
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            position = int(key)
            if not 0 <= position < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {position}, but "
                                 f"the optimizer has {len(params)} parameters")
            new_state[params[position]] = _restore(saved_state, params[position], position,
                                                   name)
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(group.get(key), tuple) else value
        self.state = new_state

    def _all_params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


def _restore(saved: dict[str, Any], param: Tensor, position: int, name: str
             ) -> dict[str, Any]:
    """One parameter's saved state as live state: 0-d integers become ints, floating arrays
    take the parameter's dtype; arrays of the wrong shape are refused."""
    state: dict[str, Any] = {}
    for key, value in saved.items():
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.ndim == 0 and value.dtype.kind in "iu":
            state[key] = int(value)
        elif value.ndim == 0:
            state[key] = value.copy()
        elif value.shape != param.shape:
            raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {position} "
                             f"has shape {value.shape}, but the parameter has shape "
                             f"{param.shape}")
        else:
            dtype = param.dtype if value.dtype.kind == "f" else value.dtype
            state[key] = value.astype(dtype, copy=True)
    return state
