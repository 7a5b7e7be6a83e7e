"""Cross-entropy of logits against class indices: per-row losses and their gradient.

PyTorch semantics (``torch.nn.functional.cross_entropy`` with ``reduction="none"``): with
``lp = log_softmax(logits)`` and smoothing ``eps``,

    loss_i = (1 - eps) * (-lp[i, t_i]) + (eps / C) * sum_c(-lp[i, c]),

and rows whose target equals ``ignore_index`` get loss 0 and gradient 0. Reducing the losses
(mean over the non-ignored rows, or sum) is the caller's job. Inputs are trusted: the caller has
checked that targets are in ``[0, C)`` or equal to ``ignore_index``.

Shape legend: N rows (samples), C classes (C >= 1).
"""

import numpy as np
from numba import njit

from minigrad.kernels.activations import scalar_exp
from minigrad.kernels.softmax import log_softmax_forward_numpy, log_softmax_row, row_sum


@njit(cache=True, error_model="numpy")
def _cross_entropy_kernel(logits, targets, ignore_index, on, off, losses, log_probs):
    buf = np.empty(logits.shape[1] // 2 + 1, logits.dtype)
    for i in range(logits.shape[0]):
        lp = log_probs[i]
        log_softmax_row(logits[i], lp, buf)
        t = targets[i]
        if t == ignore_index:
            losses[i] = 0
            continue
        loss = -on * lp[t]
        if off != 0:
            loss -= off * row_sum(lp, buf)
        losses[i] = loss


@njit(cache=True, error_model="numpy")
def _cross_entropy_backward_kernel(log_probs, targets, grad_losses, ignore_index, on, off, out):
    for i in range(log_probs.shape[0]):
        orow = out[i]
        t = targets[i]
        if t == ignore_index:
            orow[:] = 0
            continue
        lp = log_probs[i]
        g = grad_losses[i]
        for j in range(lp.size):
            orow[j] = (scalar_exp(lp[j]) - off) * g
        orow[t] -= on * g


def _weights(dtype: np.dtype, classes: int, label_smoothing: float):
    """The target weights ``(1 - eps)`` on the true class and ``eps / C`` on every class."""
    eps = float(label_smoothing)
    return dtype.type(1.0 - eps), dtype.type(eps / classes)


def cross_entropy_forward(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int, label_smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row cross-entropy losses, and the log-probabilities that the backward pass needs.

    Runs the Numba kernel for float32 and numpy for float64 (numpy's float64 exp is SIMD here,
    Numba's is a scalar libm call).

    Args:
        logits: float32 or float64 scores, unnormalised.
        targets: int64 class indices in ``[0, C)``, or ``ignore_index``.
        ignore_index: target value whose rows get loss 0 (PyTorch's default is -100).
        label_smoothing: ``eps`` in ``[0, 1]``; 0 is plain cross-entropy.

    Returns:
        ``(losses, log_probs)``: losses in the dtype of ``logits``, and ``log_softmax(logits)``.

    Shape:
        logits: ``(N, C)``; targets: ``(N,)``; losses: ``(N,)``; log_probs: ``(N, C)``.
    """
    if logits.dtype == np.float32:
        return cross_entropy_forward_numba(logits, targets, ignore_index, label_smoothing)
    return cross_entropy_forward_numpy(logits, targets, ignore_index, label_smoothing)


def cross_entropy_forward_numba(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int, label_smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Numba version of :func:`cross_entropy_forward`."""
    logits = np.ascontiguousarray(logits)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    n, classes = logits.shape
    on, off = _weights(logits.dtype, classes, label_smoothing)
    losses = np.empty(n, logits.dtype)
    log_probs = np.empty_like(logits)
    if logits.size:
        _cross_entropy_kernel(logits, targets, ignore_index, on, off, losses, log_probs)
    return losses, log_probs


def cross_entropy_forward_numpy(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int, label_smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Numpy version of :func:`cross_entropy_forward`."""
    n, classes = logits.shape
    on, off = _weights(logits.dtype, classes, label_smoothing)
    log_probs = log_softmax_forward_numpy(logits)
    keep = targets != ignore_index
    losses = log_probs[np.arange(n), np.where(keep, targets, 0)]
    losses *= -on
    if off:
        losses -= off * log_probs.sum(axis=1)
    losses[~keep] = 0
    return losses, log_probs


def cross_entropy_backward(
    log_probs: np.ndarray,
    targets: np.ndarray,
    grad_losses: np.ndarray,
    ignore_index: int,
    label_smoothing: float,
) -> np.ndarray:
    """Gradient of the per-row losses with respect to the logits.

    ``grad_logits[i] = (softmax_i - (1 - eps) * onehot(t_i) - eps / C) * grad_losses[i]``, and 0
    for ignored rows. Runs the Numba kernel for float32 and numpy for float64.

    Args:
        log_probs: the ``log_probs`` returned by :func:`cross_entropy_forward`.
        targets: the same targets as in the forward pass.
        grad_losses: gradient of the final loss with respect to each row's loss (for a mean
            reduction, ``1 / count`` in every row).
        ignore_index: as in the forward pass.
        label_smoothing: as in the forward pass.

    Returns:
        ``grad_logits``, in the dtype of ``log_probs``.

    Shape:
        log_probs: ``(N, C)``; targets, grad_losses: ``(N,)``; grad_logits: ``(N, C)``.
    """
    args = (log_probs, targets, grad_losses, ignore_index, label_smoothing)
    if log_probs.dtype == np.float32:
        return cross_entropy_backward_numba(*args)
    return cross_entropy_backward_numpy(*args)


def cross_entropy_backward_numba(
    log_probs: np.ndarray,
    targets: np.ndarray,
    grad_losses: np.ndarray,
    ignore_index: int,
    label_smoothing: float,
) -> np.ndarray:
    """Numba version of :func:`cross_entropy_backward`."""
    log_probs = np.ascontiguousarray(log_probs)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    grad_losses = np.ascontiguousarray(grad_losses, dtype=log_probs.dtype)
    on, off = _weights(log_probs.dtype, log_probs.shape[1], label_smoothing)
    out = np.empty_like(log_probs)
    if log_probs.size:
        _cross_entropy_backward_kernel(log_probs, targets, grad_losses, ignore_index, on, off, out)
    return out


def cross_entropy_backward_numpy(
    log_probs: np.ndarray,
    targets: np.ndarray,
    grad_losses: np.ndarray,
    ignore_index: int,
    label_smoothing: float,
) -> np.ndarray:
    """Numpy version of :func:`cross_entropy_backward`."""
    n, classes = log_probs.shape
    on, off = _weights(log_probs.dtype, classes, label_smoothing)
    keep = targets != ignore_index
    grad = np.exp(log_probs)
    grad -= off
    grad[np.arange(n), np.where(keep, targets, 0)] -= on
    grad *= np.where(keep, grad_losses, 0).astype(log_probs.dtype, copy=False)[:, None]
    return grad
