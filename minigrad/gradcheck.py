"""Finite-difference gradient checking: is an op's backward the derivative of its forward?"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.modes import no_grad
from minigrad.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient (from backward) disagrees with the numeric one."""


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Tensor], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, *, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Compares backward's gradients with float64 central differences.

    The outputs of ``fn(*inputs)`` (a tensor or a tuple of tensors) are reduced to a scalar
    ``L = sum(out * R)`` with a fixed random ``R``, so every output element is exercised.
    For each element ``x_k`` of each input that requires grad, the numeric derivative is
    ``(L(x_k + eps) - L(x_k - eps)) / (2 eps)`` (``numeric_gradient``); it must satisfy
    ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Args:
        fn: the function under test, taking tensors and returning tensor(s).
        inputs: its arguments; those with ``requires_grad=True`` are checked and must be
            float64. The caller's tensors are not modified.
        eps, atol, rtol: step and tolerances.
        seed: seeds ``R``.
        raise_exception: raise ``GradcheckError`` on failure (else return False).

    Returns:
        True when every element agrees.

    Raises:
        GradcheckError: naming the worst element: input index, position, analytic and
            numeric values.
    """
    inputs = [Tensor(t.data.copy(), requires_grad=t.requires_grad) if isinstance(t, Tensor)
              else t for t in inputs]
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite "
                            "differences need float64 inputs (use .double())")

    rng = np.random.default_rng(seed)
    outputs = _as_tuple(fn(*inputs))
    weights = [rng.standard_normal(o.shape) for o in outputs]

    def scalar_loss() -> float:
        with no_grad():
            return float(sum((o.data * w).sum() for o, w in zip(_as_tuple(fn(*inputs)),
                                                                 weights, strict=True)))

    loss = None
    for o, w in zip(outputs, weights, strict=True):
        if o.requires_grad:
            term = (o * Tensor(w)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        raise GradcheckError("gradcheck: no output requires grad; the inputs do not reach it")
    loss.backward()

    worst = None  # (excess over tolerance, input index, position, analytic, numeric)
    for i in checked:
        x = inputs[i]
        analytic = np.zeros_like(x.data) if x.grad is None else x.grad.data
        numeric = numeric_gradient(scalar_loss, x.data, eps)
        excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size:
            k = int(np.argmax(excess))
            if worst is None or excess.reshape(-1)[k] > worst[0]:
                position = np.unravel_index(k, x.shape)
                worst = (excess.reshape(-1)[k], i, position, analytic.reshape(-1)[k],
                         numeric.reshape(-1)[k])

    if worst is not None and worst[0] > 0:
        _, i, position, a, n = worst
        message = (f"gradcheck failed: input {i} at position {tuple(int(p) for p in position)}:"
                   f" analytic {a:.10g} vs numeric {n:.10g} (difference {abs(a - n):.3g}, "
                   f"allowed {atol + rtol * abs(n):.3g})")
        if raise_exception:
            raise GradcheckError(message)
        return False
    return True


def numeric_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6
                     ) -> np.ndarray:
    """Central differences of ``f`` with respect to every element of ``array``.

    ``f`` takes no arguments and reads ``array``; each element in turn is set to
    ``x + eps`` and ``x - eps`` in place (and then restored), and its derivative estimated
    as ``(f(x + eps) - f(x - eps)) / (2 eps)``, with an error of order ``eps^2``.

    Args:
        f: returns a scalar (a Python float or a 0-d array).
        array: the float64 array ``f`` depends on; modified during the call, restored after.
        eps: the step.

    Returns:
        An array of ``array``'s shape: ``d f / d array``.

    Example:
        >>> x = np.array([1.0, 2.0])
        >>> numeric_gradient(lambda: float((x ** 2).sum()), x)   # about [2., 4.]
    """
    gradient = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = f()
        array[index] = original - eps
        minus = f()
        array[index] = original
        gradient[index] = (plus - minus) / (2 * eps)
    return gradient


def _as_tuple(out: Any) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)
