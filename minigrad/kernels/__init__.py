"""Numeric kernels of the engine: plain functions from numpy arrays to numpy arrays.

No tensors and no autograd here. Each kernel ``name`` (what the autograd ops call) runs the faster
of ``name_numba`` (a Numba kernel) and ``name_numpy`` (a plain-numpy reference with the same
signature) for the input's dtype, as measured by ``benchmarks/bench_kernels.py``. Kernels whose
numpy version always won have no ``_numba`` spelling.

Importing this package is cheap: the submodules (and Numba itself, ~0.25 s) are imported on
first attribute access, and each kernel compiles (or loads from Numba's cache) on its first call.
"""

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "activations": (
        "sigmoid_forward",
        "sigmoid_forward_numba",
        "sigmoid_forward_numpy",
        "sigmoid_backward",
        "sigmoid_backward_numba",
        "sigmoid_backward_numpy",
        "tanh_forward",
        "tanh_forward_numpy",
        "tanh_backward",
        "tanh_backward_numba",
        "tanh_backward_numpy",
    ),
    "softmax": (
        "softmax_forward",
        "softmax_forward_numba",
        "softmax_forward_numpy",
        "softmax_backward",
        "softmax_backward_numba",
        "softmax_backward_numpy",
        "log_softmax_forward",
        "log_softmax_forward_numba",
        "log_softmax_forward_numpy",
        "log_softmax_backward",
        "log_softmax_backward_numba",
        "log_softmax_backward_numpy",
    ),
    "cross_entropy": (
        "cross_entropy_forward",
        "cross_entropy_forward_numba",
        "cross_entropy_forward_numpy",
        "cross_entropy_backward",
        "cross_entropy_backward_numba",
        "cross_entropy_backward_numpy",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)

if TYPE_CHECKING:  # let static tools see the names without importing Numba at runtime
    from minigrad.kernels.activations import *  # noqa: F403
    from minigrad.kernels.cross_entropy import *  # noqa: F403
    from minigrad.kernels.softmax import *  # noqa: F403


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
