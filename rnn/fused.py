"""The fused recurrences as autograd ops: one graph node per layer and direction.

Each op takes a whole (packed) sequence. Forward: the input projection of every step in one
GEMM (``xw = x W_ih^T + b``), then the time loop in ``rnn.kernels``. Backward: the kernels'
backward gives ``d/d xw``, ``d/d h0`` and ``d/d W_hh``; three more GEMMs over all steps at once
give the gradients of x, W_ih and b.

Shapes: T total packed rows (sum of lengths), N batch, H_in input size, H hidden size,
G gates (RNN 1, GRU 3, LSTM 4). ``batch_sizes`` (L,) is the packing schedule.

Leading axes. x may be a padded batch (L, N, H_in) rather than packed rows (T, H_in), and the
states (1, N, H) rather than (N, H): the op flattens the leading axes itself (a free numpy
reshape) and returns hs as (L, N, H) and h_n (c_n) in the shape of h0. A single-layer,
single-direction layer on a padded batch thus needs no reshape, index or stack node around
its one op (each node costs microseconds to build and to walk back).

An optional ``probe`` (see ``rnn.gradflow``) receives the gate activations after the forward
and every step's dL/dh_t during the backward; it is None unless a ``GradientFlow`` records.
"""

from __future__ import annotations

import numpy as np

from minigrad.autograd import Function
from rnn import kernels
from rnn.gradflow import state_gradients
from rnn.kernels._common import schedule


def _rows(a: np.ndarray | None) -> np.ndarray | None:
    """(..., K) -> (rows, K): e.g. a padded (L, N, K) batch as its L*N packed rows."""
    return None if a is None else a.reshape(-1, a.shape[-1])


def _contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous (no copy if it is): what the op saves for its backward's Numba
    kernels, which skip re-checking it (a sliced or expanded state, a Fortran-ordered
    weight would otherwise compile another specialization and run slower)."""
    return np.ascontiguousarray(a)


def _contiguous_rows(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.reshape(-1, a.shape[-1]))


def _shaped(a: np.ndarray, like: tuple, width: int) -> np.ndarray:
    """(rows, width) back to the leading axes of the shape ``like``."""
    return a.reshape(*like[:-1], width)


def _reshaped(a: np.ndarray | None, shape: tuple) -> np.ndarray | None:
    return None if a is None else a.reshape(shape)


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
        self.sched = schedule(batch_sizes)  # validated once, for the forward and backward
        self.shapes = x.shape, h0.shape
        x, h0, c0, w_hh = _rows(x), _contiguous_rows(h0), _contiguous_rows(c0), _contiguous(w_hh)
        hs, cs, gates, h_n, c_n = kernels.lstm_forward(
            _project(x, w_ih, b), w_hh, h0, c0, self.sched, reverse)
        self.save(x, h0, c0, w_ih, w_hh, hs, cs, gates)
        if probe is not None:
            probe.packed_gates(gates)
        x_shape, h_shape = self.shapes
        H = h_n.shape[-1]
        return _shaped(hs, x_shape, H), _shaped(h_n, h_shape, H), _shaped(c_n, h_shape, H)

    def backward(self, grad_hs, grad_h_n, grad_c_n):
        x, h0, c0, w_ih, w_hh, hs, cs, gates = self.saved
        grad_hs, grad_h_n, grad_c_n = _rows(grad_hs), _rows(grad_h_n), _rows(grad_c_n)
        grad_xw, grad_h0, grad_c0, grad_w_hh = kernels.lstm_backward(
            grad_hs, grad_h_n, grad_c_n, w_hh, h0, c0, hs, cs, gates, self.sched,
            self.reverse, check=False)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "LSTM", grad_xw, grad_hs, grad_h_n, w_hh, None, None, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[3], needs[5]))
        x_shape, h_shape = self.shapes
        return (_reshaped(grad_x, x_shape), grad_h0.reshape(h_shape), grad_c0.reshape(h_shape),
                grad_w_ih, grad_w_hh, grad_b)


class GRUSequence(Function):
    """Inputs x (T, H_in), h0 (N, H), W_ih (3H, H_in), W_hh (3H, H), b (3H,) and, for the
    reset-after form, b_hn (H,); outputs hs (T, H), h_n (N, H)."""

    name = "gru_sequence"
    n_outputs = 2

    def forward(self, x, h0, w_ih, w_hh, b, b_hn=None, batch_sizes=None, reverse=False,
                probe=None):
        self.batch_sizes, self.reverse, self.probe = batch_sizes, reverse, probe
        self.sched = schedule(batch_sizes)  # validated once, for the forward and backward
        self.shapes = x.shape, h0.shape
        x, h0, w_hh = _rows(x), _contiguous_rows(h0), _contiguous(w_hh)
        hs, gates, hn, h_n = kernels.gru_forward(
            _project(x, w_ih, b), w_hh, h0, self.sched, reverse, b_hn)
        self.save(x, h0, w_ih, w_hh, hs, gates, hn)
        if probe is not None:
            probe.packed_gates(gates)
        x_shape, h_shape = self.shapes
        H = h_n.shape[-1]
        return _shaped(hs, x_shape, H), _shaped(h_n, h_shape, H)

    def backward(self, grad_hs, grad_h_n):
        x, h0, w_ih, w_hh, hs, gates, hn = self.saved
        grad_hs, grad_h_n = _rows(grad_hs), _rows(grad_h_n)
        grad_xw, grad_h0, grad_w_hh, grad_b_hn = kernels.gru_backward(
            grad_hs, grad_h_n, w_hh, h0, hs, gates, hn, self.sched, self.reverse, check=False)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "GRU", grad_xw, grad_hs, grad_h_n, w_hh, gates, hn, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[2], needs[4]))
        x_shape, h_shape = self.shapes
        grads = (_reshaped(grad_x, x_shape), grad_h0.reshape(h_shape), grad_w_ih, grad_w_hh,
                 grad_b)
        return grads if hn is None else (*grads, grad_b_hn)


class RNNSequence(Function):
    """Inputs x (T, H_in), h0 (N, H), W_ih (H, H_in), W_hh (H, H), b (H,);
    outputs hs (T, H), h_n (N, H). ``nonlinearity`` is "tanh" or "relu"."""

    name = "rnn_sequence"
    n_outputs = 2

    def forward(self, x, h0, w_ih, w_hh, b, batch_sizes=None, reverse=False,
                nonlinearity="tanh", probe=None):
        self.batch_sizes, self.reverse, self.nonlinearity = batch_sizes, reverse, nonlinearity
        self.sched = schedule(batch_sizes)  # validated once, for the forward and backward
        self.probe = probe
        self.shapes = x.shape, h0.shape
        x, h0, w_hh = _rows(x), _contiguous_rows(h0), _contiguous(w_hh)
        hs, h_n = kernels.rnn_forward(_project(x, w_ih, b), w_hh, h0, self.sched, reverse,
                                      nonlinearity)
        self.save(x, h0, w_ih, w_hh, hs)
        if probe is not None:
            probe.packed_gates(hs)
        x_shape, h_shape = self.shapes
        H = h_n.shape[-1]
        return _shaped(hs, x_shape, H), _shaped(h_n, h_shape, H)

    def backward(self, grad_hs, grad_h_n):
        x, h0, w_ih, w_hh, hs = self.saved
        grad_hs, grad_h_n = _rows(grad_hs), _rows(grad_h_n)
        grad_xw, grad_h0, grad_w_hh = kernels.rnn_backward(
            grad_hs, grad_h_n, w_hh, h0, hs, self.sched, self.reverse, self.nonlinearity,
            check=False)
        if self.probe is not None:
            self.probe.packed_state_grads(state_gradients(
                "RNN", grad_xw, grad_hs, grad_h_n, w_hh, None, None, self.batch_sizes,
                self.reverse))
        needs = self.needs_grad
        grad_x, grad_w_ih, grad_b = _input_grads(grad_xw, x, w_ih, (needs[0], needs[2], needs[4]))
        x_shape, h_shape = self.shapes
        return _reshaped(grad_x, x_shape), grad_h0.reshape(h_shape), grad_w_ih, grad_w_hh, grad_b
