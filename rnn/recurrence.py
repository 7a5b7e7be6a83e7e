"""One direction of one recurrent layer over a packed sequence, composed or fused.

Cells and layers both call ``run_direction``: a cell is a sequence of one step.
Shapes: T packed rows, N batch, H_in input size, H hidden size; ``batch_sizes`` (L,).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minigrad import Tensor
from rnn import composed, fused, gradflow

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
IMPLS = ("fused", "stepwise", "composed")


class Weights(NamedTuple):
    """The parameters of one direction of one layer (bias and bias_hn may be None)."""

    weight_ih: Tensor  # (G*H, H_in)
    weight_hh: Tensor  # (G*H, H)
    bias: Tensor | None  # (G*H,)
    bias_hn: Tensor | None  # (H,), GRU reset_after only


def run_direction(mode: str, impl: str, x: Tensor, h0: Tensor, c0: Tensor | None,
                  weights: Weights, batch_sizes: np.ndarray, reverse: bool = False,
                  nonlinearity: str = "tanh") -> tuple[Tensor, Tensor, Tensor | None]:
    """Runs the recurrence of ``mode`` ("RNN", "LSTM", "GRU") over packed rows.

    Args:
        impl: "fused" (one graph node for the whole sequence, Numba kernels), "stepwise"
            (the same kernels one step at a time: one node per step, for rendering) or
            "composed" (minigrad ops: every gate of every step is a node). Steps run in
            scope ``t=<t>`` for "stepwise" and "composed".
        x: (T, H_in) packed input rows.
        h0, c0: (N, H) initial states (c0 for LSTM only, else None).
        weights: the direction's parameters.
        batch_sizes: (L,) int64 packing schedule.
        reverse: run from the last step to the first.

    Returns:
        ``(hs, h_n, c_n)``: hs (T, H) every row's output, h_n (N, H) each sequence's final
        state, c_n (N, H) for LSTM (else None).
    """
    probe = gradflow.probe(mode, batch_sizes, reverse)
    if impl == "fused":
        return _fused(mode, x, (h0, c0), weights, batch_sizes, reverse, nonlinearity, probe)

    w_ih, w_hh, b, b_hn = weights
    if impl == "stepwise":
        def step(x_t, h, c=None, observe=None):
            one_step = np.array([x_t.shape[0]], dtype=np.int64)
            step_probe = None if observe is None else _StepProbe(mode, observe)
            _, h, c = _fused(mode, x_t, (h, c), weights, one_step, False, nonlinearity,
                             step_probe)
            return (h,) if c is None else (h, c)
    elif mode == "LSTM":
        def step(x_t, h, c, observe=None):
            return composed.lstm_step(x_t, h, c, w_ih, w_hh, b, observe)
    elif mode == "GRU":
        def step(x_t, h, observe=None):
            return (composed.gru_step(x_t, h, w_ih, w_hh, b, b_hn, observe),)
    else:
        def step(x_t, h, observe=None):
            return (composed.rnn_step(x_t, h, w_ih, w_hh, b, nonlinearity, observe),)

    initial = (h0, c0) if mode == "LSTM" else (h0,)
    hs, final = composed.run_packed(step, x, initial, batch_sizes, reverse, probe)
    return hs, final[0], (final[1] if mode == "LSTM" else None)


def _fused(mode: str, x: Tensor, state: tuple, weights: Weights, batch_sizes: np.ndarray,
           reverse: bool, nonlinearity: str, probe: Any) -> tuple[Tensor, Tensor, Any]:
    """One fused op over the packed rows; returns (hs, h_n, c_n or None)."""
    w_ih, w_hh, b, b_hn = weights
    h0, c0 = state
    if b is None:  # the kernels always add a bias: a constant zero one
        b = Tensor._make(np.zeros(w_ih.shape[0], dtype=w_ih.dtype))
    options = dict(batch_sizes=batch_sizes, reverse=reverse, probe=probe)
    if mode == "LSTM":
        return fused.LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b, **options)
    if mode == "GRU":
        extra = () if b_hn is None else (b_hn,)
        hs, h_n = fused.GRUSequence.apply(x, h0, w_ih, w_hh, b, *extra, **options)
        return hs, h_n, None
    hs, h_n = fused.RNNSequence.apply(x, h0, w_ih, w_hh, b, nonlinearity=nonlinearity,
                                      **options)
    return hs, h_n, None


class _StepProbe:
    """Passes a one-step fused op's gates to the sequence's probe. Its dL/dh_t is recorded
    by ``run_packed``'s hook on h_t, so the op's own report of it is dropped."""

    def __init__(self, mode: str, observe: Any) -> None:
        self.mode = mode
        self.observe = observe

    def packed_gates(self, gates: np.ndarray) -> None:
        self.observe(gradflow.split_gates(self.mode, gates))

    def packed_state_grads(self, dh: np.ndarray) -> None:
        pass
