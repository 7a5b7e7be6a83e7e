"""Recurrent cells: one time step of an RNN, LSTM or GRU.

One bias per gate, so parameter counts are exactly the seed's: RNN ``n(d+n)+n``,
LSTM ``4[n(d+n)+n]``, GRU ``3[n(d+n)+n]`` (``+n`` for GRU ``reset_after``), for input size d
and hidden size n.

Shape: N batch, H_in input size, H hidden size. A cell takes input (N, H_in) or unbatched
(H_in,), and a state (N, H) or (H,) (zeros when omitted).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn
from rnn import interop
from rnn.recurrence import GATES, IMPLS, Weights, run_direction


def check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def check_sizes(input_size: int, hidden_size: int) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_nonlinearity(mode: str, nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if mode != "RNN" and nonlinearity != "tanh":
        raise ValueError(f"nonlinearity applies to RNN only; {mode} has fixed activations")


def check_dtype(owner: str, label: str, tensor: Tensor, dtype: np.dtype) -> None:
    """Refuses a tensor whose dtype differs from the parameters' (PyTorch does too): the fused
    kernels cannot mix float32 and float64, and the composed ops would silently promote."""
    if tensor.dtype != dtype:
        raise TypeError(f"{owner}: {label} has dtype {tensor.dtype} but the parameters are "
                        f"{dtype}; convert the tensor (.astype(np.{dtype})) or the module "
                        f"(.to(np.{tensor.dtype}))")


def check_state(owner: str, label: str, value: Any, expected: tuple[int, ...], dtype: Any,
                meaning: str, hint: str = "") -> Tensor:
    """A given initial state, checked: a tensor (or array) of the ``expected`` shape and the
    parameters' dtype, else an error naming ``label`` and saying what ``expected`` means."""
    if not isinstance(value, (Tensor, np.ndarray)):
        extra = (" (only LSTM takes a pair (h_0, c_0))" if isinstance(value, (tuple, list))
                 else "")
        raise TypeError(f"{owner}: {label} must be a tensor of shape {expected}, got "
                        f"{type(value).__name__}{extra}")
    if not isinstance(value, Tensor):
        value = mg.tensor(value)
    if value.shape != expected:
        raise ValueError(f"{owner}: {label} has shape {value.shape}, expected {expected} "
                         f"({meaning}){hint}")
    check_dtype(owner, label, value, dtype)
    return value


def init_weights(module: nn.Module, hidden_size: int, *, orthogonal_hh: bool = False,
                 forget_bias: float | None = None, mode: str) -> None:
    """PyTorch's initialisation, U(-1/sqrt(H), 1/sqrt(H)) for every parameter, with options.

    Args:
        orthogonal_hh: make each gate's block of every ``weight_hh*`` orthogonal, which keeps
            gradients from shrinking or growing through the recurrent matmul at the start.
        forget_bias: set the LSTM forget-gate bias to this value (1.0 is the classic choice:
            the cell remembers by default until it learns to forget).
    """
    if forget_bias is not None and mode != "LSTM":  # refused before anything is changed
        raise ValueError("forget_bias applies to LSTM only")
    bound = 1.0 / np.sqrt(hidden_size)
    for name, p in module.named_parameters():
        nn.init.uniform_(p, -bound, bound)
        if orthogonal_hh and name.startswith("weight_hh"):
            for k in range(GATES[mode]):
                block = Tensor(np.empty((hidden_size, hidden_size), dtype=p.dtype))
                nn.init.orthogonal_(block)
                p.data[k * hidden_size:(k + 1) * hidden_size] = block.data
    if forget_bias is not None:
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.data[hidden_size:2 * hidden_size] = forget_bias


def candidate_hidden_bias(b_hn: Tensor | None, reset_after: bool,
                          weight_hh: Tensor) -> Tensor | None:
    """The GRU ``reset_after`` bias ``b_hn``, or a constant zero one with ``bias=False``: the
    kernels and ``gru_step`` read a missing ``b_hn`` as the seed's reset-before form, which
    would silently change the math. None for every other form."""
    if b_hn is None and reset_after:
        return Tensor._make(np.zeros(weight_hh.shape[1], dtype=weight_hh.dtype))
    return b_hn


class _Cell(nn.Module):
    """Shared parameters, validation and interop of the three cells."""

    mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 nonlinearity: str = "tanh", reset_after: bool = False, impl: str = "fused",
                 dtype: Any = None) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size)
        check_nonlinearity(self.mode, nonlinearity)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.has_bias, self.nonlinearity = bias, nonlinearity
        self.reset_after = bool(reset_after) and self.mode == "GRU"
        self.impl = check_impl(impl)
        gates = GATES[self.mode] * hidden_size
        dtype = np.float32 if dtype is None else dtype
        self.weight_ih = nn.Parameter(np.zeros((gates, input_size), dtype=dtype))
        self.weight_hh = nn.Parameter(np.zeros((gates, hidden_size), dtype=dtype))
        self.bias = nn.Parameter(np.zeros(gates, dtype=dtype)) if bias else None
        if self.reset_after and bias:
            self.bias_hn = nn.Parameter(np.zeros(hidden_size, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self, *, orthogonal_hh: bool = False,
                         forget_bias: float | None = None) -> None:
        """Re-initialises the weights; see ``init_weights`` for the options."""
        init_weights(self, self.hidden_size, orthogonal_hh=orthogonal_hh,
                     forget_bias=forget_bias, mode=self.mode)

    def extra_repr(self) -> str:
        extras = "" if self.has_bias else ", bias=False"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            extras += f", nonlinearity={self.nonlinearity!r}"
        if self.reset_after:
            extras += ", reset_after=True"
        if self.impl != "fused":
            extras += f", impl={self.impl!r}"
        return f"{self.input_size}, {self.hidden_size}{extras}"

    def _weights(self) -> Weights:
        return Weights(self.weight_ih, self.weight_hh, self.bias,
                       candidate_hidden_bias(getattr(self, "bias_hn", None), self.reset_after,
                                             self.weight_hh))

    def _step(self, input: Tensor, states: tuple[Tensor | None, ...]) -> tuple[Tensor, ...]:
        """Validates shapes, runs one step; returns the new states (unbatched if given so)."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            input = mg.tensor(input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{name} takes one time step, (N, {self.input_size}) or "
                             f"({self.input_size},); got shape {input.shape}. For a whole "
                             f"sequence use rnn.{self.mode}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {input.shape[-1]} features (last dimension "
                             f"of shape {input.shape}) but the cell has input_size="
                             f"{self.input_size}")
        check_dtype(name, "input", input, self.weight_ih.dtype)
        unbatched = input.ndim == 1
        if unbatched:
            input = input.unsqueeze(0)
        batch = input.shape[0]
        expected = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
        full = []
        for label, s in zip(("hx", "cx"), states, strict=False):
            if s is None:
                s = mg.zeros(batch, self.hidden_size, dtype=input.dtype)
            else:
                s = check_state(name, label, s, expected, self.weight_ih.dtype,
                                f"batch {batch} from the input, hidden_size {self.hidden_size}")
                s = s.unsqueeze(0) if unbatched else s
            full.append(s)
        h0 = full[0]
        c0 = full[1] if self.mode == "LSTM" else None
        _, h, c = run_direction(self.mode, self.impl, input, h0, c0, self._weights(),
                                np.array([batch], dtype=np.int64),
                                nonlinearity=self.nonlinearity)
        out = (h,) if c is None else (h, c)
        return tuple(s.squeeze(0) for s in out) if unbatched else out

    # -------------------------------------------------------------- PyTorch interop
    def load_torch_state_dict(self, state: dict[str, Any]) -> None:
        """Loads PyTorch ``nn.{RNN,LSTM,GRU}Cell`` weights (arrays; torch not imported)."""
        names = {"weight_ih", "weight_hh"} | ({"bias_ih", "bias_hh"} if self.has_bias else set())
        interop.check_known_keys(state, names, type(self).__name__)
        ours = interop.from_torch(self.mode, state, self.hidden_size, has_bias=self.has_bias,
                                  reset_after=self.reset_after)
        self.load_state_dict(ours)

    def torch_state_dict(self) -> dict[str, np.ndarray]:
        """Our weights under PyTorch's cell names (for ``torch_cell.load_state_dict``)."""
        return interop.to_torch(self.mode, self.state_dict(), self.hidden_size,
                                has_bias=self.has_bias, reset_after=self.reset_after)


class RNNCell(_Cell):
    """Elman cell: ``h' = act(x W_ih^T + h W_hh^T + b)``, act tanh or relu.

    Args:
        input_size: H_in. hidden_size: H. bias: add ``b`` (H,).
        nonlinearity: "tanh" or "relu".
        impl: "fused" (Numba kernels, one graph node) or "composed" (one node per op).

    Shape:
        input (N, H_in) or (H_in,); hx (N, H) or (H,) -> h' of hx's shape.

    Example:
        >>> cell = RNNCell(10, 20)
        >>> h = cell(mg.randn(3, 10))           # (3, 20)
    """

    mode = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", *, impl: str = "fused", dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity, impl=impl,
                         dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, (hx,))[0]


class LSTMCell(_Cell):
    """LSTM cell, gates stacked in rows i, f, g, o::

        i, f, o = sigmoid(.), g = tanh(.)  of  x W_ih^T + h W_hh^T + b
        c' = f * c + i * g
        h' = o * tanh(c')

    Shape:
        input (N, H_in) or (H_in,); hx = (h, c), each (N, H) or (H,) -> (h', c').

    Example:
        >>> cell = LSTMCell(10, 20)
        >>> h, c = cell(mg.randn(3, 10))
    """

    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 impl: str = "fused", dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, impl=impl, dtype=dtype)

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is None:
            return self._step(input, (None, None))
        if not isinstance(hx, (tuple, list)) or len(hx) != 2 or any(s is None for s in hx):
            raise TypeError("LSTMCell: hx must be a pair (h, c) of tensors, or None for zeros")
        return self._step(input, tuple(hx))


class GRUCell(_Cell):
    """GRU cell, gates stacked in rows r, z, n. The seed's equations by default::

        r = sigmoid(x W_ir^T + h W_hr^T + b_r)      z = sigmoid(x W_iz^T + h W_hz^T + b_z)
        n = tanh(x W_in^T + b_n + (r * h) W_hn^T)
        h' = (1 - z) * h + z * n

    With ``reset_after=True`` (the cuDNN / PyTorch form) the candidate is
    ``n = tanh(x W_in^T + b_n + r * (h W_hn^T + b_hn))``, with its own bias ``bias_hn`` (H,).

    Shape:
        input (N, H_in) or (H_in,); hx (N, H) or (H,) -> h'.
    """

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 reset_after: bool = False, impl: str = "fused", dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, reset_after=reset_after, impl=impl,
                         dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, (hx,))[0]
