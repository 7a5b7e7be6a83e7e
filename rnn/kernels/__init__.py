"""Fused recurrent kernels: plain functions on numpy arrays, no Tensor or autograd.

Each recurrence (``lstm``, ``gru``, ``vanilla`` for the tanh/relu RNN) runs over a sequence in
packed layout (rows of every step stacked, ``batch_sizes`` per step; a padded (L, N, .) batch is
``batch_sizes = [N] * L``) and has a forward returning hs first and the final state(s) last, a
backward returning grad_xw first, a single-cell pair, and a plain-numpy reference
(``*_numpy``, same arguments) that the tests compare against. The caller computes
``xw = x W_ih^T + b`` for all steps in one GEMM and turns ``grad_xw`` into the gradients of
W_ih, b and x with its own GEMMs. float32 and float64; float32 uses a vectorisable rational
tanh (max error 3.6e-7), float64 is exact.
"""

from .gru import (
    gru_backward,
    gru_backward_numpy,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    gru_forward_numpy,
)
from .lstm import (
    lstm_backward,
    lstm_backward_numpy,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
    lstm_forward_numpy,
)
from .vanilla import (
    rnn_backward,
    rnn_backward_numpy,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    rnn_forward_numpy,
)

__all__ = [
    "lstm_forward", "lstm_backward", "lstm_cell_forward", "lstm_cell_backward",
    "lstm_forward_numpy", "lstm_backward_numpy",
    "gru_forward", "gru_backward", "gru_cell_forward", "gru_cell_backward",
    "gru_forward_numpy", "gru_backward_numpy",
    "rnn_forward", "rnn_backward", "rnn_cell_forward", "rnn_cell_backward",
    "rnn_forward_numpy", "rnn_backward_numpy",
]
