"""minigrad: a small, readable reverse-mode autograd engine over numpy, with Numba kernels.

    >>> import minigrad as mg
    >>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
"""

import numpy as np

from minigrad import nn, ops, optim, viz
from minigrad.factories import (
    arange,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from minigrad.gradcheck import gradcheck
from minigrad.modes import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    scope,
    set_grad_enabled,
)
from minigrad.ops import cat, chunk, split, stack, where
from minigrad.random import manual_seed
from minigrad.serialization import load, save
from minigrad.tensor import Tensor

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

__version__ = "0.1.0"

__all__ = [
    "Tensor", "arange", "bool_", "cat", "chunk", "detect_anomaly", "enable_grad", "float32",
    "float64", "full", "gradcheck", "int64", "is_anomaly_enabled", "is_grad_enabled", "load",
    "manual_seed", "nn", "no_grad", "ones", "ones_like", "ops", "optim", "rand", "randn",
    "save", "scope", "set_grad_enabled", "split", "stack", "tensor", "viz", "where", "zeros",
    "zeros_like",
]
