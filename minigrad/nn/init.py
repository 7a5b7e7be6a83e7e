"""Weight initialisation, as in ``torch.nn.init``.

Every function fills ``tensor.data`` in place (writing the array directly, so nothing is
recorded in a graph) and returns the tensor. Random draws come from
``minigrad.random.generator()``, so ``minigrad.manual_seed(s)`` makes them repeatable. Samples
are drawn in float64 and then stored in the tensor's own dtype.

Shape legend: for a weight of shape (out, in, *k), ``fan_in = in * prod(k)`` and
``fan_out = out * prod(k)``; ``Linear``'s weight (out_features, in_features) has
``fan_in = in_features``.
"""

from __future__ import annotations

import math

import numpy as np

from minigrad import random
from minigrad.tensor import Tensor

__all__ = ["calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_",
           "ones_", "orthogonal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]


def _check(tensor: Tensor, op: str) -> Tensor:
    """Refuses what cannot be filled before any random number is drawn."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{op}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"init.{op}: expected a floating-point tensor, got dtype {tensor.dtype}")
    return tensor


def _fill(tensor: Tensor, values: np.ndarray | float, op: str) -> Tensor:
    _check(tensor, op).data[...] = values
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance stable through ``nonlinearity``.

    linear/sigmoid/conv: 1, tanh: 5/3, relu: sqrt(2), leaky_relu: sqrt(2 / (1 + slope^2))
    (slope ``param``, default 0.01), selu: 3/4.
    """
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor: Tensor, op: str) -> tuple[int, int]:
    if _check(tensor, op).ndim < 2:
        raise ValueError(f"init.{op}: fan in and fan out need a tensor with at least 2 "
                         f"dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fills with samples of U(a, b)."""
    _check(tensor, "uniform_")
    return _fill(tensor, random.generator().uniform(a, b, tensor.shape), "uniform_")


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fills with samples of N(mean, std^2)."""
    _check(tensor, "normal_")
    return _fill(tensor, random.generator().normal(mean, std, tensor.shape), "normal_")


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fills with ``val``."""
    return _fill(tensor, val, "constant_")


def zeros_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 0.0, "zeros_")


def ones_(tensor: Tensor) -> Tensor:
    return _fill(tensor, 1.0, "ones_")


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, op: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, op)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015): U(-b, b) with ``b = gain * sqrt(3 / fan)``, where ``gain`` is
    ``calculate_gain(nonlinearity, a)`` and ``fan`` is fan_in or fan_out (``mode``).

    ``a=sqrt(5)`` gives ``b = 1 / sqrt(fan_in)``, PyTorch's default for ``Linear``."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He et al. (2015): N(0, std^2) with ``std = gain / sqrt(fan)``."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix, uniformly distributed, times ``gain``.

    The tensor is viewed as a matrix (rows = shape[0], cols = the rest). With rows >= cols
    its columns are orthonormal (``W.T @ W = I``); otherwise its rows are (``W @ W.T = I``).
    It is the Q of the QR decomposition of a Gaussian matrix, with each column's sign set by
    the sign of R's diagonal so that the distribution is uniform (Haar) and not biased by the
    QR algorithm's sign convention.
    """
    if _check(tensor, "orthogonal_").ndim < 2:
        raise ValueError(f"init.orthogonal_: needs a tensor with at least 2 dimensions, got "
                         f"shape {tensor.shape}")
    rows = tensor.shape[0]
    cols = math.prod(tensor.shape[1:])
    flat = random.generator().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T  # QR of the tall matrix; transposed back below
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape), "orthogonal_")
