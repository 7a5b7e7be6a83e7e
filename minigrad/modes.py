"""The global switches that change how ops are recorded: grad mode, anomaly mode, scope labels.

Every op reads ``STATE`` when it runs:

- ``grad_enabled``: record a graph node (``no_grad()`` turns it off, e.g. for evaluation);
- ``anomaly``: check each backward for non-finite gradients and keep where each op was created;
- ``scope``: a label such as ``"lstm/l0/t=3"`` stored on every node, which the graph renderer
  uses to draw one box per scope (one per time step, for an unrolled RNN).

The state is process-wide (not per thread), which keeps the hot path to one attribute read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _State:
    __slots__ = ("grad_enabled", "anomaly", "scope")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope: str | None = None


STATE = _State()


class _Switch:
    """Base of the context managers below: sets a field on enter, restores it on exit.

    Each one also works as a decorator: ``@no_grad()`` runs the whole function in that mode.
    """

    field = ""

    def __init__(self, value: Any) -> None:
        self.value = value
        self._saved: list[Any] = []

    def __enter__(self) -> _Switch:
        self._saved.append(getattr(STATE, self.field))
        setattr(STATE, self.field, self.value)
        return self

    def __exit__(self, *exc_info: object) -> None:
        setattr(STATE, self.field, self._saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:  # the saved-value stack makes one instance safe to re-enter
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_Switch):
    """Ops inside do not record a graph: results have ``requires_grad=False``.

    Example:
        >>> with minigrad.no_grad():
        ...     y = model(x)          # evaluation, no graph kept
    """

    field = "grad_enabled"

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_Switch):
    """Turns recording back on, e.g. inside a ``no_grad()`` block."""

    field = "grad_enabled"

    def __init__(self) -> None:
        super().__init__(True)


class set_grad_enabled(_Switch):
    """Turns graph recording on or off, in the three ways PyTorch's does:

    - called plainly, ``set_grad_enabled(False)`` switches the mode at once, for good;
    - as ``with set_grad_enabled(False):``, the mode holds inside the block and the one before
      the call comes back at its end;
    - as a decorator, ``@set_grad_enabled(False)``, the mode holds during each call of the
      function only; decorating does not change it.
    """

    field = "grad_enabled"

    def __init__(self, mode: bool) -> None:
        super().__init__(bool(mode))
        # The mode this call replaced, until the first ``with`` (or the decoration) takes it:
        # in ``with set_grad_enabled(m):`` the call has already switched when the block starts.
        self._replaced: bool | None = STATE.grad_enabled
        STATE.grad_enabled = self.value

    def __enter__(self) -> set_grad_enabled:
        before = STATE.grad_enabled if self._replaced is None else self._replaced
        self._replaced = None  # later entries of this instance save the mode they find
        self._saved.append(before)
        STATE.grad_enabled = self.value
        return self

    def __call__(self, fn: Callable) -> Callable:
        if self._replaced is not None:  # undo the switch made when the decorator was built
            STATE.grad_enabled = self._replaced
            self._replaced = None
        return super().__call__(fn)


class detect_anomaly(_Switch):
    """Anomaly mode: the first op whose backward gives a non-finite gradient raises an error.

    The error names the op, its scope label and the line that created it. It slows every op
    (a stack trace is recorded per node), so use it for debugging only.
    """

    field = "anomaly"

    def __init__(self, mode: bool = True) -> None:
        super().__init__(bool(mode))


class scope(_Switch):
    """Labels every node created inside with ``label``; nested scopes join with ``/``.

    Example:
        >>> with minigrad.scope("layer0"), minigrad.scope("t=3"):
        ...     h = (x @ w).tanh()     # h.grad_fn.scope == "layer0/t=3"
    """

    field = "scope"

    def __init__(self, label: str) -> None:
        label = str(label)
        if not label or "/" in label:
            raise ValueError(f"scope label must be a non-empty string without '/', got {label!r}")
        super().__init__(label)

    def __enter__(self) -> scope:
        outer = STATE.scope
        self._saved.append(outer)
        STATE.scope = self.value if outer is None else f"{outer}/{self.value}"
        return self


def is_grad_enabled() -> bool:
    """Whether ops currently record a graph."""
    return STATE.grad_enabled


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return STATE.anomaly


def current_scope() -> str | None:
    """The scope label that new nodes get, or None outside any ``scope``."""
    return STATE.scope
