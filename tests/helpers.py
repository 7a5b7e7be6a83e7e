"""The one comparison every op test goes through.

``check_op(shapes, fn, ref)`` draws seeded inputs of the given shapes and checks, in order:

1. float64: ``fn`` on tensors gives numpy's ``ref`` on the same arrays: same shape, same dtype,
   same values (to a few ulp);
2. float32: same shape and numpy's dtype (a float32 input stays float32), values to float32
   precision, and after backward each input's gradient is float32, has the input's shape and
   agrees with the float64 gradient;
3. ``gradcheck`` in float64 (central differences against the backward).

It returns the names of the primitives in the graph that ``fn`` built, so that a test can assert
that a case really exercises the op it claims to test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

import minigrad as mg
from minigrad.gradcheck import gradcheck

#: Forward tolerance in float64: the kernels and numpy may sum in different orders.
F64 = {"rtol": 1e-12, "atol": 1e-13}
#: Forward and gradient tolerance in float32 (against the float64 results).
F32 = {"rtol": 2e-5, "atol": 2e-5}


def as_tuple(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def make_inputs(shapes: Sequence[Any], low: float = -2.0, high: float = 2.0,
                seed: int = 0) -> list[np.ndarray]:
    """float64 arrays: uniform in [low, high) for a shape, a copy for a given array."""
    rng = np.random.default_rng(seed)
    return [np.array(s, dtype=np.float64) if isinstance(s, np.ndarray)
            else rng.uniform(low, high, size=s) for s in shapes]


def graph_ops(outputs: Sequence[mg.Tensor]) -> set[str]:
    """Names of the primitives in the graph behind ``outputs``."""
    seen: dict[int, str] = {}
    stack = [out.grad_fn for out in outputs if out.grad_fn is not None]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node.name
            stack.extend(t.grad_fn for t in node.inputs if t.grad_fn is not None)
    return set(seen.values())


def _backward_grads(fn: Callable, arrays: list[np.ndarray], dtype: Any,
                    weights: list[np.ndarray] | None) -> tuple[list, list]:
    """Runs ``fn`` on fresh leaves of ``dtype``; backpropagates ``sum(out * weight)``."""
    tensors = [mg.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
    outs = as_tuple(fn(*tensors))
    if weights is None:
        weights = [np.random.default_rng(1).standard_normal(o.shape) for o in outs]
    loss = None
    for o, w in zip(outs, weights, strict=True):
        if o.requires_grad:
            term = (o * mg.tensor(w, dtype=o.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    return outs, [t.grad for t in tensors], weights


def check_op(shapes: Sequence[Any], fn: Callable, ref: Callable, *, low: float = -2.0,
             high: float = 2.0, seed: int = 0, grad: bool = True, f32: bool = True,
             **gradcheck_options: Any) -> set[str]:
    """Compares ``fn`` (minigrad) with ``ref`` (numpy) on seeded inputs, then gradchecks.

    Args:
        shapes: one entry per argument of ``fn``: a shape (uniform random values in
            ``[low, high)``) or an array (used as given).
        fn: takes tensors, returns a tensor or a tuple of tensors.
        ref: the same function on numpy arrays.
        grad: run the gradient checks (False for functions that are not differentiable).
        f32: run the float32 checks.
        gradcheck_options: passed to ``gradcheck`` (eps, atol, rtol).

    Returns:
        The names of the primitives in the float64 graph.
    """
    arrays = make_inputs(shapes, low, high, seed)

    # 1. float64 forward against numpy, and the analytic gradient for step 2.
    outs64, grads64, weights = _backward_grads(fn, arrays, np.float64, None)
    expected = as_tuple(ref(*[a.copy() for a in arrays]))
    assert len(outs64) == len(expected), f"{len(outs64)} outputs, numpy gives {len(expected)}"
    for out, exp in zip(outs64, expected, strict=True):
        exp = np.asarray(exp)
        assert isinstance(out, mg.Tensor)
        assert out.shape == exp.shape, f"shape {out.shape}, numpy gives {exp.shape}"
        assert out.dtype == exp.dtype, f"dtype {out.dtype}, numpy gives {exp.dtype}"
        np.testing.assert_allclose(out.data, exp, **F64)
        assert out.requires_grad == grad
    if grad:
        for g, a in zip(grads64, arrays, strict=True):
            assert g is None or (g.shape == a.shape and g.dtype == np.float64)

    # 2. float32: dtype kept, values and gradients to float32 precision.
    if f32:
        outs32, grads32, _ = _backward_grads(fn, arrays, np.float32, weights if grad else None)
        expected32 = as_tuple(ref(*[a.astype(np.float32) for a in arrays]))
        for out, exp, exp64 in zip(outs32, expected32, expected, strict=True):
            assert out.shape == np.shape(exp)
            assert out.dtype == np.asarray(exp).dtype, \
                f"float32 input gives dtype {out.dtype}, numpy gives {np.asarray(exp).dtype}"
            np.testing.assert_allclose(out.data, exp64, **F32)
        if grad:
            for g32, g64, a in zip(grads32, grads64, arrays, strict=True):
                assert (g32 is None) == (g64 is None)
                if g32 is not None:
                    assert g32.dtype == np.float32 and g32.shape == a.shape
                    np.testing.assert_allclose(g32.data, g64.data, rtol=1e-4, atol=1e-4)

    # 3. float64 central differences.
    if grad:
        inputs = [mg.tensor(a, requires_grad=True) for a in arrays]
        assert gradcheck(fn, inputs, **gradcheck_options)
    return graph_ops(outs64)


def check_same_error(shapes: Sequence[Any], fn: Callable, ref: Callable) -> BaseException:
    """``fn`` on tensors raises the same exception type as ``ref`` on arrays; returns it."""
    arrays = make_inputs(shapes)
    try:
        ref(*arrays)
    except Exception as err:  # noqa: BLE001 - any numpy error is the reference
        expected_type = type(err)
    else:
        raise AssertionError("numpy does not raise on these inputs")
    try:
        fn(*[mg.tensor(a, requires_grad=True) for a in arrays])
    except Exception as err:  # noqa: BLE001
        assert isinstance(err, expected_type), \
            f"minigrad raises {type(err).__name__}, numpy raises {expected_type.__name__}"
        return err
    raise AssertionError(f"minigrad does not raise; numpy raises {expected_type.__name__}")


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Lowers Python's recursion limit inside the block: a recursive graph walk would fail."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
