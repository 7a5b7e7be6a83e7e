"""Elementwise activation kernels (sigmoid, tanh) and the scalar exp the kernels are built on.

Every public function takes and returns plain numpy arrays of float32 or float64, any shape.
Each kernel comes in up to three spellings: ``name_numba`` (the Numba kernel), ``name_numpy``
(a plain-numpy reference with the same signature, which the tests compare against) and ``name``,
which runs whichever of the two ``benchmarks/bench_kernels.py`` measured faster for the dtype.

Why ``scalar_exp`` exists: Numba here has no SVML, so ``math.exp`` in a loop is a scalar libm
call, slower than numpy's SIMD ``np.exp``. For float32 we use our own range-reduced polynomial
exp (max error ~2 ulp), which LLVM vectorises like any other arithmetic. float64 keeps the
exact libm function, because float64 is what finite-difference gradchecks use.

Shape legend: ``*`` is any shape (including 0-d); outputs have the shape and dtype of the input.
"""

import math
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

_F = np.float32

# exp: x = n*ln2 + r, |r| <= ln2/2; exp(r) = 1 + r + r^2 * P(r). P is a degree-4 fit minimising the
# relative error (3e-9 before float32 rounding). LN2_HI has 9 significant bits, so n * LN2_HI is
# exact for |n| <= 128 (Cody-Waite reduction).
_LOG2E = _F(1.4426950216293335)
_LN2_HI = _F(0.693359375)
_LN2_LO = _F(-0.00021219444170128554)
_EXP_C2 = _F(0.4999999403953552)
_EXP_C3 = _F(0.1666652113199234)
_EXP_C4 = _F(0.04166838899254799)
_EXP_C5 = _F(0.008368712849915028)
_EXP_C6 = _F(0.001381459180265665)
_EXP_LO = _F(-87.33654)  # log(smallest normal float32); below it we return exactly 0
_EXP_HI = _F(88.37)  # keeps 2**n a normal float32 (n <= 127); larger inputs saturate at ~2.4e38

_ZERO = _F(0.0)
_HALF = _F(0.5)
_ONE = _F(1.0)


@intrinsic
def _bitcast_int_to_float32(typingctx, bits):
    """Reinterpret the low 32 bits of an integer as a float32 (a free LLVM bitcast)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth != 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(value, context.get_value_type(types.float32))

    return types.float32(bits), codegen


def _float32_from_bits(bits):
    """Python version of the bitcast, used when NUMBA_DISABLE_JIT=1."""
    return np.int32(bits).view(np.float32)


@overload(_float32_from_bits)
def _float32_from_bits_jit(bits):
    return lambda bits: _bitcast_int_to_float32(bits)


@njit(cache=True)
def _exp_f32(x):
    """float32 exp, vectorisable; max error ~2 ulp; 0 below -87.34, saturates above 88.37."""
    xc = x
    if xc < _EXP_LO:
        xc = _EXP_LO
    if xc > _EXP_HI:
        xc = _EXP_HI
    n = np.floor(xc * _LOG2E + _HALF)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = _ONE + r + r * r * (_EXP_C2 + r * (_EXP_C3 + r * (_EXP_C4 + r * (_EXP_C5 + r * _EXP_C6))))
    if not n == n:  # NaN input: keep the int conversion defined; p is already NaN
        n = _ZERO
    scale = _float32_from_bits((np.int32(n) + 127) << 23)  # 2**n, built from its exponent bits
    return _ZERO if x < _EXP_LO else p * scale


def scalar_exp(x):
    """exp of one float inside a kernel: polynomial for float32 (vectorises), libm for float64.

    Callable from ``@njit`` code (the overload below picks the version by type at compile time)
    and from plain Python (with ``NUMBA_DISABLE_JIT=1``, through this body).
    """
    if isinstance(x, np.float32):
        return _exp_f32(x)
    return math.exp(x)


@overload(scalar_exp)
def _scalar_exp_jit(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    if x == types.float64:
        return lambda x: math.exp(x)
    return None


def check_float(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32/float64 array; raise TypeError for other dtypes."""
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    # not np.ascontiguousarray, which turns a 0-d array into a 1-d one
    return x if x.flags.c_contiguous else x.copy(order="C")


def _flat(x: np.ndarray) -> np.ndarray:
    # C-contiguous in, 1-D view out: one compiled signature per dtype whatever the rank.
    return x.reshape(-1)


# ---------------------------------------------------------------------------------------------
# Numba kernels: 1-D C-contiguous arrays in, results written to ``out``.


@njit(cache=True, error_model="numpy")
def _sigmoid_kernel(x, out):
    one = x.dtype.type(1)
    for i in range(x.size):
        v = x[i]
        e = scalar_exp(-abs(v))  # in (0, 1]: never overflows
        r = one / (one + e)
        out[i] = r if v >= 0 else e * r


@njit(cache=True, error_model="numpy")
def _sigmoid_backward_kernel(y, grad_y, out):
    one = y.dtype.type(1)
    for i in range(y.size):
        v = y[i]
        out[i] = grad_y[i] * v * (one - v)


@njit(cache=True, error_model="numpy")
def _tanh_backward_kernel(y, grad_y, out):
    one = y.dtype.type(1)
    for i in range(y.size):
        v = y[i]
        # (1 - v)(1 + v) rather than 1 - v*v: exact to an ulp even where tanh saturates
        out[i] = grad_y[i] * ((one - v) * (one + v))


def _unary(kernel, x: np.ndarray) -> np.ndarray:
    x = check_float(x)
    out = np.empty_like(x)
    kernel(_flat(x), _flat(out))
    return out


def check_output_and_grad(y: np.ndarray, grad_y: Any) -> tuple[np.ndarray, np.ndarray]:
    """A forward output and its gradient as float arrays of one dtype and one shape."""
    y = check_float(y, "y")
    grad_y = check_float(np.asarray(grad_y, dtype=y.dtype), "grad_y")
    if grad_y.shape != y.shape:
        raise ValueError(f"grad_y shape {grad_y.shape} does not match y shape {y.shape}")
    return y, grad_y


def _binary(kernel, y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    y, grad_y = check_output_and_grad(y, grad_y)
    out = np.empty_like(y)
    kernel(_flat(y), _flat(grad_y), _flat(out))
    return out


# ---------------------------------------------------------------------------------------------
# Public kernels: routed, Numba and numpy versions.


def sigmoid_forward(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, stable for large ``|x|`` of either sign.

    Computed as ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0`` with
    ``e = exp(-|x|)``, so nothing overflows (``sigmoid(-800)`` is 0, without a warning).
    Runs the Numba kernel for float32 (max abs error ~1e-7) and numpy for float64 (faster here:
    numpy's float64 exp is SIMD, Numba's is a scalar libm call).

    Args:
        x: float32 or float64 array.

    Returns:
        ``y``, same shape and dtype as ``x``.

    Shape:
        x: ``(*)``; y: ``(*)``.
    """
    x = check_float(x)
    return sigmoid_forward_numba(x) if x.dtype == np.float32 else sigmoid_forward_numpy(x)


def sigmoid_forward_numba(x: np.ndarray) -> np.ndarray:
    """Numba version of :func:`sigmoid_forward` (float32: polynomial exp; float64: libm)."""
    return _unary(_sigmoid_kernel, x)


def sigmoid_forward_numpy(x: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`sigmoid_forward` (same formula, same stability)."""
    x = check_float(x)
    # exp(min(x, 0)) is 1 for x >= 0 and exp(-|x|) for x < 0; both exps take arguments <= 0.
    # (np.where on the sign would do one exp less but is ~10x slower on a random mask.)
    y = np.exp(np.minimum(x, 0))
    y /= 1 + np.exp(-np.abs(x))
    return y


def sigmoid_backward(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """Gradient of sigmoid from its output: ``grad_y * y * (1 - y)``. Runs the Numba kernel.

    Args:
        y: the forward output ``sigmoid(x)``.
        grad_y: gradient of the loss with respect to ``y``.

    Returns:
        ``grad_x``, same shape and dtype as ``y``.

    Shape:
        y, grad_y, grad_x: ``(*)``.
    """
    return _binary(_sigmoid_backward_kernel, y, grad_y)


sigmoid_backward_numba = sigmoid_backward


def sigmoid_backward_numpy(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`sigmoid_backward`."""
    return grad_y * y * (1 - y)


def tanh_forward(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent: this is numpy's ``np.tanh``, for both dtypes.

    numpy's own tanh is SIMD (AVX-512 here) and exact to an ulp or two; a Numba kernel (our
    exp-based one, or a rational approximation) was 2x slower or at best level, so there is
    no Numba version.

    Args:
        x: float32 or float64 array.

    Returns:
        ``y``, same shape and dtype as ``x``.

    Shape:
        x: ``(*)``; y: ``(*)``.
    """
    return np.tanh(check_float(x))


tanh_forward_numpy = tanh_forward


def tanh_backward(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """Gradient of tanh from its output: ``grad_y * (1 - y * y)``. Runs the Numba kernel.

    Args:
        y: the forward output ``tanh(x)``.
        grad_y: gradient of the loss with respect to ``y``.

    Returns:
        ``grad_x``, same shape and dtype as ``y``.

    Shape:
        y, grad_y, grad_x: ``(*)``.
    """
    return _binary(_tanh_backward_kernel, y, grad_y)


tanh_backward_numba = tanh_backward


def tanh_backward_numpy(y: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
    """Numpy version of :func:`tanh_backward`."""
    return grad_y * (1 - y * y)
