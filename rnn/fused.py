"""The fused recurrences as autograd ops: one graph node per layer and direction.

Each op takes a whole (packed) sequence. Forward: the input projection of every step in one
GEMM (``xw = x W_ih^T + b``), then the time loop in ``rnn.kernels``. Backward: the kernels'
backward gives ``d/d xw``, ``d/d h0`` and ``d/d W_hh``; three more GEMMs over all steps at once
give the gradients of x, W_ih and b.

Shapes: T total packed rows (sum of lengths), N batch, H_in input size, H hidden size,
G gates (RNN 1, GRU 3, LSTM 4). ``batch_sizes`` (L,) is the packing schedule.

An optional ``probe`` (see ``rnn.gradflow``) receives the gate activations after the forward
and every step's dL/dh_t during the backward; it is None unless a ``GradientFlow`` records.
"""

from __future__ import annotations

import numpy as np

from minigrad.autograd import Function
from rnn import kernels
from rnn.gradflow import state_gradients


def _project(x: np.ndarray, w_ih: np.ndarray, b: np.ndarray) -> np.ndarray:
    """xw (T, G*H) = x W_ih^T + b, for every step at once."""
    xw = x @ w_ih.T
    xw += b
    return xw


def _input_grads(grad_xw: np.ndarray, x: np.ndarray, w_ih: np.ndarray,
                 needs: tuple[bool, bool, bool]):
    """From d/d xw to d/d x, d/d W_ih, d/d b (each only if ``needs`` says so): one GEMM
    each over all steps."""
    grad_x = grad_xw @ w_ih if needs[0] else None
    grad_w_ih = grad_xw.T @ x if needs[1] else None
    grad_b = grad_xw.sum(axis=0) if needs[2] else None
    return grad_x, grad_w_ih, grad_b


class LSTMSequence(Function):
    """Inputs x (T, H_in), h0 (N, H), c0 (N, H), W_ih (4H, H_in), W_hh (4H, H), b (4H,);
    outputs hs (T, H), h_n (N, H), c_n (N, H)."""

    name = "lstm_sequence"
    n_outputs = 3

    def forward(self, x, h0, c0, w_ih, w_hh, b, batch_sizes=None, reverse=False, probe=None):
        self.batch_sizes, self.reverse, self.probe = batch_sizes, reverse, probe
        hs, cs, gates, h_n, c_n = kernels.lstm_forward(
            _project(x, w_ih, b), w_hh, h0, c0, batch_sizes, reverse)
        self.save(x, h0, c0, w_ih, w_hh, hs, cs, gates)
        if probe is not None:
            probe.packed_gates(gates)
        return hs, h_n, c_n

    def backward(self, grad_hs, grad_h_n, grad_c_n):
        x, h0, c0, w_ih, w_hh, hs, cs, gates = self.saved
        grad_xw, grad_h0, grad_c0, grad_w_hh = kernels.lstm_backward(
            grad_hs, grad_h_n, grad_c_n, w_hh, h0, c0, hs, cs, gates, self.batch_sizes,
            self.reverse)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "LSTM", grad_xw, grad_hs, grad_h_n, w_hh, None, None, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[3], needs[5]))
        return grad_x, grad_h0, grad_c0, grad_w_ih, grad_w_hh, grad_b


class GRUSequence(Function):
    """Inputs x (T, H_in), h0 (N, H), W_ih (3H, H_in), W_hh (3H, H), b (3H,) and, for the
    reset-after form, b_hn (H,); outputs hs (T, H), h_n (N, H)."""

    name = "gru_sequence"
    n_outputs = 2

    def forward(self, x, h0, w_ih, w_hh, b, b_hn=None, batch_sizes=None, reverse=False,
                probe=None):
        self.batch_sizes, self.reverse, self.probe = batch_sizes, reverse, probe
        hs, gates, hn, h_n = kernels.gru_forward(
            _project(x, w_ih, b), w_hh, h0, batch_sizes, reverse, b_hn)
        self.save(x, h0, w_ih, w_hh, hs, gates, hn)
        if probe is not None:
            probe.packed_gates(gates)
        return hs, h_n

    def backward(self, grad_hs, grad_h_n):
        x, h0, w_ih, w_hh, hs, gates, hn = self.saved
        grad_xw, grad_h0, grad_w_hh, grad_b_hn = kernels.gru_backward(
            grad_hs, grad_h_n, w_hh, h0, hs, gates, hn, self.batch_sizes, self.reverse)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "GRU", grad_xw, grad_hs, grad_h_n, w_hh, gates, hn, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[2], needs[4]))
        grads = (grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b)
        return grads if hn is None else (*grads, grad_b_hn)


class RNNSequence(Function):
    """Inputs x (T, H_in), h0 (N, H), W_ih (H, H_in), W_hh (H, H), b (H,);
    outputs hs (T, H), h_n (N, H). ``nonlinearity`` is "tanh" or "relu"."""

    name = "rnn_sequence"
    n_outputs = 2

    def forward(self, x, h0, w_ih, w_hh, b, batch_sizes=None, reverse=False,
                nonlinearity="tanh", probe=None):
        self.batch_sizes, self.reverse, self.nonlinearity = batch_sizes, reverse, nonlinearity
        self.probe = probe
        hs, h_n = kernels.rnn_forward(_project(x, w_ih, b), w_hh, h0, batch_sizes, reverse,
                                      nonlinearity)
        self.save(x, h0, w_ih, w_hh, hs)
        if probe is not None:
            probe.packed_gates(hs)
        return hs, h_n

    def backward(self, grad_hs, grad_h_n):
        x, h0, w_ih, w_hh, hs = self.saved
        grad_xw, grad_h0, grad_w_hh = kernels.rnn_backward(
            grad_hs, grad_h_n, w_hh, h0, hs, self.batch_sizes, self.reverse, self.nonlinearity)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "RNN", grad_xw, grad_hs, grad_h_n, w_hh, None, None, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[2], needs[4]))
        return grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b
