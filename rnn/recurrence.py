"""One direction of one recurrent layer over a packed sequence, composed or fused.

Cells and layers both call ``run_direction``: a cell is a sequence of one step.
Shapes: T packed rows, N batch, H_in input size, H hidden size; ``batch_sizes`` (L,).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minigrad import Tensor
from rnn import composed, fused

MODES = ("RNN", "LSTM", "GRU")
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
IMPLS = ("fused", "composed")


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
        impl: "fused" (one graph node, Numba kernels) or "composed" (minigrad ops per gate and
            step, each step in scope ``t=<t>``).
        x: (T, H_in) packed input rows.
        h0, c0: (N, H) initial states (c0 for LSTM only, else None).
        weights: the direction's parameters.
        batch_sizes: (L,) int64 packing schedule.
        reverse: run from the last step to the first.

    Returns:
        ``(hs, h_n, c_n)``: hs (T, H) every row's output, h_n (N, H) each sequence's final
        state, c_n (N, H) for LSTM (else None).
    """
    w_ih, w_hh, b, b_hn = weights
    if impl == "fused":
        if b is None:  # the kernels always add a bias: a constant zero one
            b = Tensor._make(np.zeros(w_ih.shape[0], dtype=w_ih.dtype))
        options = dict(batch_sizes=batch_sizes, reverse=reverse)
        if mode == "LSTM":
            return fused.LSTMSequence.apply(x, h0, c0, w_ih, w_hh, b, **options)
        if mode == "GRU":
            extra = () if b_hn is None else (b_hn,)
            hs, h_n = fused.GRUSequence.apply(x, h0, w_ih, w_hh, b, *extra, **options)
            return hs, h_n, None
        hs, h_n = fused.RNNSequence.apply(x, h0, w_ih, w_hh, b, nonlinearity=nonlinearity,
                                          **options)
        return hs, h_n, None

    if mode == "LSTM":
        hs, (h_n, c_n) = composed.run_packed(
            lambda x_t, h, c: composed.lstm_step(x_t, h, c, w_ih, w_hh, b),
            x, (h0, c0), batch_sizes, reverse)
        return hs, h_n, c_n
    if mode == "GRU":
        step = lambda x_t, h: (composed.gru_step(x_t, h, w_ih, w_hh, b, b_hn),)  # noqa: E731
    else:
        step = lambda x_t, h: (  # noqa: E731
            composed.rnn_step(x_t, h, w_ih, w_hh, b, nonlinearity),)
    hs, (h_n,) = composed.run_packed(step, x, (h0,), batch_sizes, reverse)
    return hs, h_n, None
