"""Gradient flow through time: ||dL/dh_t|| for every step, and how saturated the gates are.

Why LSTM and GRU train where a vanilla RNN does not is visible in one number per time step:
the norm of the gradient of the loss with respect to the hidden state h_t. Back-propagating
from step T to step t multiplies by T - t Jacobians; for a tanh RNN their norms are usually
below one and the product shrinks exponentially, while the LSTM's cell state (and the GRU's
``(1 - z) * h`` path) carries gradients across many steps almost unchanged.

    with rnn.GradientFlow() as flow:
        output, _ = lstm(x)
        loss = loss_fn(output[-1])
        loss.backward()
    flow.state_grad_norms["l0"]      # (L,) ||dL/dh_t|| for t = 0 .. L-1, layer 0
    flow.gate_stats["l0"]["f"]       # {"mean": (L,), "saturated": (L,)} of the forget gate

Works with every implementation. With ``impl="composed"`` (and ``"stepwise"``) the norms come
from hooks on each step's h_t; with ``impl="fused"`` they are rebuilt from the fused backward's
gradients (the same numbers: the tests hold them equal in float64). Keys are the layers'
scope labels: ``l<k>`` and ``l<k>_reverse``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.modes import current_scope
from rnn.kernels._common import last_rows, schedule, steps

_active: list[GradientFlow] = []

#: Gate names in weight-row order, and which of them are sigmoids (the rest are tanh).
GATE_NAMES = {"RNN": ("h",), "LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
_SIGMOID_GATES = {"i", "f", "o", "r", "z"}
SATURATION = 0.05  # a sigmoid below 0.05 or above 0.95, a tanh beyond +-0.95


class GradientFlow:
    """Context manager recording, for recurrent layers run inside it:

    Attributes:
        state_grad_norms: ``{scope: (L,) array}``, ||dL/dh_t|| over the batch (Frobenius
            norm of the (N_t, H) gradient of step t), filled in by ``backward()``.
        gate_stats: ``{scope: {gate: {"mean": (L,), "saturated": (L,)}}}``, each gate's mean
            activation and the fraction of saturated units per step, filled in by the forward.

    A layer run twice inside one recorder gets a second key, ``"l0#2"``; a cell called on
    its own (outside any scope) is recorded under ``"rnn"``, ``"rnn#2"``, ...
    """

    def __init__(self) -> None:
        self._squared_norms: dict[str, np.ndarray] = {}
        self.gate_stats: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def __enter__(self) -> GradientFlow:
        _active.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _active.remove(self)

    @property
    def state_grad_norms(self) -> dict[str, np.ndarray]:
        return {key: np.sqrt(squares) for key, squares in self._squared_norms.items()}

    def _new_key(self, scope: str) -> str:
        key, count = scope, 1
        while key in self._squared_norms:
            count += 1
            key = f"{scope}#{count}"
        return key

    def table(self) -> str:
        """The recorded norms as text: one row per step, one column per layer/direction."""
        norms = self.state_grad_norms
        keys = sorted(norms)
        length = max((len(v) for v in norms.values()), default=0)
        lines = ["t    " + "".join(f"{k:>14}" for k in keys)]
        for t in range(length):
            lines.append(f"{t:<5}" + "".join(f"{norms[k][t]:14.4e}" if t < len(norms[k])
                                               else " " * 14 for k in keys))
        return "\n".join(lines)


def probe(mode: str, batch_sizes: np.ndarray, reverse: bool) -> Probe | None:
    """A probe for one direction of one layer, or None when no ``GradientFlow`` is active."""
    if not _active:
        return None
    return Probe(_active[-1], current_scope() or "rnn", mode, batch_sizes)


def split_gates(mode: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Activated gates (N, G*H), stacked in weight-row order, as ``{name: (N, H)}``."""
    names = GATE_NAMES[mode]
    hidden = rows.shape[1] // len(names)
    return {name: rows[:, k * hidden:(k + 1) * hidden] for k, name in enumerate(names)}


class Probe:
    """Collects one direction's numbers into the active recorder."""

    def __init__(self, recorder: GradientFlow, scope: str, mode: str,
                 batch_sizes: np.ndarray) -> None:
        self.mode = mode
        self.offsets = schedule(batch_sizes).offsets
        self.batch_sizes = np.asarray(batch_sizes, dtype=np.int64)
        length = len(self.batch_sizes)
        key = recorder._new_key(scope)
        recorder._squared_norms[key] = self._squares = np.zeros(length)
        recorder.gate_stats[key] = self._gates = {
            name: {"mean": np.zeros(length), "saturated": np.zeros(length)}
            for name in GATE_NAMES[mode]}

    def _rows(self, t: int) -> slice:
        return slice(self.offsets[t], self.offsets[t] + self.batch_sizes[t])

    # -------------------------------------------------------------- forward: gates
    def gates(self, t: int, activations: dict[str, np.ndarray]) -> None:
        """Records step t's activated gates, each (N_t, H)."""
        for name, value in activations.items():
            limit = (SATURATION, 1 - SATURATION) if name in _SIGMOID_GATES else (
                -1 + 2 * SATURATION, 1 - 2 * SATURATION)
            stats = self._gates[name]
            stats["mean"][t] = value.mean()
            stats["saturated"][t] = np.mean((value < limit[0]) | (value > limit[1]))

    def packed_gates(self, gates: np.ndarray) -> None:
        """Records every step's gates from a fused forward's (T, G*H) activations."""
        for t in range(len(self.batch_sizes)):
            self.gates(t, split_gates(self.mode, gates[self._rows(t)]))

    # -------------------------------------------------------------- backward: dL/dh_t
    def state_grad(self, t: int, grad: np.ndarray) -> None:
        """Records dL/dh_t (N_t, H) of step t (called from a hook on h_t)."""
        self._squares[t] += float(np.sum(np.square(grad, dtype=np.float64)))

    def packed_state_grads(self, dh: np.ndarray) -> None:
        """Records every step's dL/dh_t from packed rows (T, H)."""
        for t in range(len(self.batch_sizes)):
            self.state_grad(t, dh[self._rows(t)])


def state_gradients(mode: str, grad_xw: np.ndarray, grad_hs: Any, grad_h_n: Any,
                    w_hh: np.ndarray, gates: np.ndarray | None, hn: np.ndarray | None,
                    batch_sizes: np.ndarray, reverse: bool) -> np.ndarray:
    """The total dL/dh_t of every packed row, rebuilt from a fused backward.

    h_t reaches the loss through the layer's output (``grad_hs``), as the final state
    (``grad_h_n``), and through the next step. For RNN and LSTM that last path is only the
    recurrent matmul, ``d a_{t+1} W_hh`` (``grad_xw`` holds ``d a`` of every row); a GRU also
    passes ``(1 - z)`` of its own gradient straight through and feeds r * h (or r * (h W_hn))
    into the candidate, so its rows are filled in backward order.

    Shape: grad_xw (T, G*H), grad_hs (T, H) or None, grad_h_n (N, H) or None,
    w_hh (G*H, H), gates (T, G*H) activated (GRU), hn (T, H) (GRU reset-after) -> (T, H).
    """
    sched = schedule(batch_sizes)
    hidden = w_hh.shape[1]
    dh = np.zeros((sched.total, hidden)) if grad_hs is None else np.array(grad_hs, np.float64)
    if grad_h_n is not None:
        dh[last_rows(sched, reverse)] += grad_h_n
    for r0, _size, p0, nprev in reversed(list(steps(sched, reverse))):
        if nprev == 0:
            continue
        rows = slice(r0, r0 + nprev)
        da = grad_xw[rows]
        if mode != "GRU":
            dh[p0:p0 + nprev] += da @ w_hh
            continue
        r, z = gates[rows, :hidden], gates[rows, hidden:2 * hidden]
        d_a_r, d_a_z, d_a_n = da[:, :hidden], da[:, hidden:2 * hidden], da[:, 2 * hidden:]
        into_prev = dh[rows] * (1 - z) + d_a_r @ w_hh[:hidden] + d_a_z @ w_hh[hidden:2 * hidden]
        if hn is None:  # n = tanh(x_n + (r * h) W_hn^T)
            into_prev += r * (d_a_n @ w_hh[2 * hidden:])
        else:           # n = tanh(x_n + r * (h W_hn^T + b_hn))
            into_prev += (d_a_n * r) @ w_hh[2 * hidden:]
        dh[p0:p0 + nprev] += into_prev
    return dh
