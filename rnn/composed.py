"""The recurrences written with minigrad ops: every gate is a node of the graph.

This is the implementation to read and to render; ``rnn.fused`` computes the same numbers with
Numba kernels, and the tests hold the two equal. One bias per gate (the seed's math); gates are
stacked in rows of the weights: LSTM i, f, g, o; GRU r, z, n.

Shape: N batch, H_in input size, H hidden size.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor

#: Optional callback receiving a step's activated gates by name (see ``rnn.gradflow``).
Observer = Callable[[dict[str, np.ndarray]], None] | None


def rnn_step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
             nonlinearity: str = "tanh", observe: Observer = None) -> Tensor:
    """``h_t = act(x W_ih^T + h_{t-1} W_hh^T + b)``. x (N, H_in), h (N, H) -> (N, H)."""
    a = F.linear(x, w_ih, b) + F.linear(h, w_hh)
    h = a.tanh() if nonlinearity == "tanh" else a.relu()
    if observe is not None:
        observe({"h": h.data})
    return h


def lstm_step(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor,
              b: Tensor | None, observe: Observer = None) -> tuple[Tensor, Tensor]:
    """One LSTM step. x (N, H_in), h and c (N, H) -> new (h, c).

    ``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c_t = f * c_{t-1} + i * g``,
    ``h_t = o * tanh(c_t)``.
    """
    a = F.linear(x, w_ih, b) + F.linear(h, w_hh)
    i, f, g, o = a.chunk(4, dim=-1)
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    if observe is not None:
        observe({"i": i.data, "f": f.data, "g": g.data, "o": o.data})
    c = f * c + i * g
    return o * c.tanh(), c


def gru_step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b: Tensor | None,
             b_hn: Tensor | None = None, observe: Observer = None) -> Tensor:
    """One GRU step. x (N, H_in), h (N, H) -> new h.

    ``r, z = sigmoid(.)``; the candidate ``n = tanh(x W_in^T + b_n + (r * h) W_hn^T)`` (the
    seed's form: reset applied before the matmul) or, when ``b_hn`` is given (the cuDNN /
    PyTorch form), ``n = tanh(x W_in^T + b_n + r * (h W_hn^T + b_hn))``; then
    ``h_t = (1 - z) * h_{t-1} + z * n``.
    """
    hidden = h.shape[-1]
    x_r, x_z, x_n = F.linear(x, w_ih, b).chunk(3, dim=-1)
    w_hr, w_hz, w_hn = w_hh.split(hidden, dim=0)
    r = (x_r + F.linear(h, w_hr)).sigmoid()
    z = (x_z + F.linear(h, w_hz)).sigmoid()
    if b_hn is None:
        n = (x_n + F.linear(r * h, w_hn)).tanh()
    else:
        n = (x_n + r * F.linear(h, w_hn, b_hn)).tanh()
    if observe is not None:
        observe({"r": r.data, "z": z.data, "n": n.data})
    return (1 - z) * h + z * n


def run_packed(step, x: Tensor, state: tuple[Tensor, ...], batch_sizes: np.ndarray,
               reverse: bool, probe: Any = None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Runs ``step(x_t, *state_t) -> new state`` over a packed sequence, op by op.

    At step t only the first ``batch_sizes[t]`` sequences are running: they read rows
    ``[:batch_sizes[t]]`` of the state and the others keep theirs, so every sequence ends with
    its state at its own last step. Run in reverse, a sequence's rows stay at their initial
    state until its own last step comes, where it starts. Each step gets the scope ``t=<t>``.

    Args:
        step: the cell, e.g. ``lambda x, h, c: lstm_step(x, h, c, ...)``; returns a tuple of
            new states whose first element is the output h.
        x: (T, H_in) packed rows.
        state: initial states, each (N, H).
        batch_sizes: (L,) the packing schedule.
        reverse: run steps L-1 .. 0.
        probe: a ``rnn.gradflow.Probe`` or None; gets each step's gates (through the step's
            ``observe`` argument) and, by a hook on h_t, each step's dL/dh_t.

    Returns:
        hs (T, H), the output of every row in packed order, and the final states (N, H).
    """
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    outputs: list[Tensor | None] = [None] * len(batch_sizes)
    order = range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))
    for t in order:
        size = int(batch_sizes[t])
        with mg.scope(f"t={t}"):
            running = tuple(s[:size] if size < s.shape[0] else s for s in state)
            observe = None if probe is None else functools.partial(probe.gates, t)
            new = step(x[offsets[t]:offsets[t + 1]], *running, observe=observe)
            if probe is not None and new[0].requires_grad:
                new[0].register_hook(functools.partial(_record_grad, probe, t))
            state = tuple(n if size == s.shape[0] else mg.cat([n, s[size:]])
                          for n, s in zip(new, state, strict=True))
        outputs[t] = new[0]
    return mg.cat(outputs), state


def _record_grad(probe: Any, t: int, grad: Tensor) -> None:
    probe.state_grad(t, grad.data)
