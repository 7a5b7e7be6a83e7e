"""Recurrent layers: RNN, LSTM and GRU over whole sequences, stacked and bidirectional.

Shape legend: N batch, L length, D = 2 if bidirectional else 1, H_in input size, H hidden size.

- input: (L, N, H_in), (N, L, H_in) with ``batch_first``, unbatched (L, H_in), or a
  ``PackedSequence`` (then nothing is computed for padding, and the output is packed too).
- hx: (num_layers * D, N, H) (or (num_layers * D, H) unbatched), zeros when omitted; for LSTM
  a tuple (h_0, c_0). ``batch_first`` never applies to states.
- output: (L, N, D * H) (batch-first or unbatched like the input), the last layer's h_t for
  every t; h_n (and c_n): (num_layers * D, N, H), layer-major, forward direction first, each
  sequence's state at its own last valid step.

Everything runs on the packed layout: a padded batch is packed with every sequence of length L,
which costs nothing (a reshape; the fused ops do it themselves, see ``rnn.fused``). Scope
labels ``l<k>`` / ``l<k>_reverse`` (and ``t=<t>`` per step with ``impl="composed"``) let the
graph renderer draw the unrolled network.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor, nn
from rnn import interop
from rnn.cells import (
    candidate_hidden_bias,
    check_dtype,
    check_impl,
    check_nonlinearity,
    check_sizes,
    check_state,
    init_weights,
)
from rnn.packing import PackedSequence
from rnn.recurrence import GATES, Weights, run_direction


@functools.lru_cache(maxsize=64)
def _padded_schedule(length: int, batch: int) -> np.ndarray:
    """``batch_sizes`` of a padded batch, [batch] * length: shared, hence read-only."""
    batch_sizes = np.full(length, batch, dtype=np.int64)
    batch_sizes.flags.writeable = False
    return batch_sizes


class _RecurrentLayer(nn.Module):
    mode = ""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, residual: bool = False,
                 nonlinearity: str = "tanh", reset_after: bool = False, impl: str = "fused",
                 dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        check_sizes(input_size, hidden_size)
        check_nonlinearity(self.mode, nonlinearity)
        if reset_after and self.mode != "GRU":
            raise ValueError(f"{name}: reset_after applies to GRU only")
        if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be an int >= 1, got {num_layers!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1], got {dropout}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} has no effect with num_layers=1; it "
                          "applies between stacked layers only", stacklevel=2)
        if residual and num_layers == 1:
            warnings.warn(f"{name}: residual=True has no effect with num_layers=1; layers "
                          "k >= 1 add their input to their output", stacklevel=2)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.has_bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.residual = bool(bidirectional), bool(residual)
        self.nonlinearity = nonlinearity
        self.reset_after = bool(reset_after) and self.mode == "GRU"
        self.impl = check_impl(impl)
        self.num_directions = 2 if bidirectional else 1

        dtype = np.float32 if dtype is None else dtype
        gates = GATES[self.mode] * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                params = {f"weight_ih_l{layer}{suffix}": (gates, layer_input),
                          f"weight_hh_l{layer}{suffix}": (gates, hidden_size)}
                if bias:
                    params[f"bias_l{layer}{suffix}"] = (gates,)
                    if self.reset_after:
                        params[f"bias_hn_l{layer}{suffix}"] = (hidden_size,)
                for pname, shape in params.items():
                    setattr(self, pname, nn.Parameter(np.zeros(shape, dtype=dtype)))
        self.reset_parameters()

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self, *, orthogonal_hh: bool = False,
                         forget_bias: float | None = None) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) like PyTorch; options as in ``rnn.cells.init_weights``."""
        init_weights(self, self.hidden_size, orthogonal_hh=orthogonal_hh,
                     forget_bias=forget_bias, mode=self.mode)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = dict(num_layers=1, has_bias=True, batch_first=False, dropout=0.0,
                        bidirectional=False, residual=False, reset_after=False, impl="fused")
        for key, default in defaults.items():
            if getattr(self, key) != default:
                text += f", {'bias' if key == 'has_bias' else key}={getattr(self, key)!r}"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text

    def _weights(self, layer: int, suffix: str) -> Weights:
        params = self._parameters  # a dict lookup: getattr's miss (no bias) raises inside

        def get(name: str) -> Tensor | None:
            return params.get(f"{name}_l{layer}{suffix}")

        b_hn = candidate_hidden_bias(get("bias_hn"), self.reset_after, get("weight_hh"))
        return Weights(get("weight_ih"), get("weight_hh"), get("bias"), b_hn)

    # ------------------------------------------------------------------ forward
    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """Runs every layer and direction over the sequence; see the class docstring for the
        shapes of ``input``, ``hx`` and the results."""
        data, batch_sizes, sorted_indices, layout = self._packed_input(input)
        states = self._initial_states(hx, int(batch_sizes[0]), layout, data.dtype)
        if sorted_indices is not None:  # states follow the caller's order; packing sorted it
            states = [s[:, sorted_indices] for s in states]

        # A fused op takes a state with leading axes, (1, N, H), and returns h_n (c_n) in
        # that shape: with one layer and one direction, the states go in and out whole, with
        # no index or stack node (see ``rnn.fused``). The other paths take (N, H) states.
        whole_states = self.impl == "fused" and self.num_layers * self.num_directions == 1

        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = data
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * self.num_directions + direction
                own = states if whole_states else [s[index] for s in states]
                h0, c0 = own[0], (own[1] if self.mode == "LSTM" else None)
                with mg.scope(f"l{layer}{suffix}"):
                    hs, h_n, c_n = run_direction(
                        self.mode, self.impl, layer_input, h0, c0,
                        self._weights(layer, suffix), batch_sizes, reverse=bool(direction),
                        nonlinearity=self.nonlinearity)
                outputs.append(hs)
                finals[0].append(h_n)
                if c_n is not None:
                    finals[1].append(c_n)
            output = outputs[0] if len(outputs) == 1 else mg.cat(outputs, dim=-1)
            if self.residual and layer > 0:  # both are (T, D*H) above the first layer
                output = output + layer_input
            if self.dropout and self.training and layer < self.num_layers - 1:
                output = F.dropout(output, self.dropout)
            layer_input = output

        final_states = [f[0] if whole_states else mg.stack(f) for f in finals]
        if sorted_indices is not None:
            unsorted = np.argsort(sorted_indices)
            final_states = [s[:, unsorted] for s in final_states]
        return self._shaped_output(layer_input, batch_sizes, sorted_indices, layout,
                                   final_states)

    def step(self, input: Any, hx: Any = None) -> tuple[Tensor, Any]:
        """One time step with a carried state, for streaming: feed samples as they arrive.

        ``step`` over x_0, x_1, ... (passing back the returned state) gives exactly the
        outputs of ``forward`` on the whole sequence. Unidirectional layers only: the reverse
        direction would need samples that have not arrived yet.

        Shape:
            input (N, H_in) or unbatched (H_in,); hx as in ``forward`` ->
            (output (N, H) or (H,), new state).
        """
        if self.bidirectional:
            raise ValueError(f"{type(self).__name__}.step: a bidirectional layer cannot run "
                             "step by step; its reverse direction reads the future")
        if not isinstance(input, Tensor):
            input = mg.tensor(input)
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}.step takes one time step (N, H_in) or "
                             f"(H_in,), got shape {input.shape}")
        sequence = input.unsqueeze(1 if self.batch_first and input.ndim == 2 else 0)
        output, state = self.forward(sequence, hx)
        return (output[:, 0] if self.batch_first and input.ndim == 2 else output[0]), state

    def _packed_input(self, input: Any) -> tuple[Tensor, np.ndarray, np.ndarray | None, Any]:
        """The input as packed rows (T, H_in) (for the fused ops a padded batch stays
        (L, N, H_in)), with its schedule and how to shape results."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            data, batch_sizes = input.data, np.asarray(input.batch_sizes, dtype=np.int64)
            sorted_indices = (None if input.sorted_indices is None
                              else np.asarray(input.sorted_indices))
            layout = "packed"
        else:
            if not isinstance(input, Tensor):
                input = mg.tensor(input)
            if input.ndim not in (2, 3):
                raise ValueError(f"{name}: expected input of shape (L, N, H_in), (N, L, H_in) "
                                 f"with batch_first, or unbatched (L, H_in); got {input.shape}")
            if input.ndim == 2:
                layout, input = "unbatched", input.unsqueeze(1)
            elif self.batch_first:
                layout, input = "batch_first", input.transpose(0, 1)
            else:
                layout = "time_first"
            length, batch = input.shape[:2]
            if length == 0 or batch == 0:
                raise ValueError(f"{name}: empty input of shape {input.shape}")
            # The fused ops flatten a padded (L, N, H_in) batch into packed rows themselves
            # (see ``rnn.fused``), and their output is then (L, N, .) too: no reshape node on
            # either side. The composed and stepwise paths walk packed rows (T, H_in).
            data = input if self.impl == "fused" else input.reshape(length * batch,
                                                                   input.shape[2])
            batch_sizes = _padded_schedule(length, batch)
            sorted_indices = None
        if data.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has {data.shape[-1]} features (input.size(-1)) "
                             f"but the layer was built with input_size={self.input_size}")
        check_dtype(name, "input", data, self._parameters["weight_ih_l0"].data.dtype)
        return data, batch_sizes, sorted_indices, layout

    def _initial_states(self, hx: Any, batch: int, layout: str, dtype: Any) -> list[Tensor]:
        name = type(self).__name__
        count = self.num_layers * self.num_directions
        n_states = 2 if self.mode == "LSTM" else 1
        if hx is None:  # one constant zero array serves h_0 and c_0: nothing writes to it
            return [Tensor._make(np.zeros((count, batch, self.hidden_size), dtype))] * n_states
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0)")
            given = list(hx)
        else:
            given = [hx]
        unbatched = layout == "unbatched"
        expected = (count, self.hidden_size) if unbatched else (count, batch, self.hidden_size)
        states = []
        for label, s in zip(("h_0", "c_0"), given, strict=False):
            hint = ""
            if not unbatched and getattr(s, "ndim", 0) == 3 and s.shape[1] != batch:
                hint = (f": its batch axis (dim 1) is {s.shape[1]} but the input has {batch} "
                        f"sequences (e.g. a smaller last batch: slice the state as "
                        f"{label}[:, :{batch}] or start from zeros)")
            s = check_state(name, label, s, expected, dtype,
                            "num_layers * num_directions, N, hidden_size", hint)
            states.append(s.unsqueeze(1) if unbatched else s)
        return states

    def _shaped_output(self, output: Tensor, batch_sizes: np.ndarray,
                       sorted_indices: np.ndarray | None, layout: str,
                       final_states: list[Tensor]) -> tuple[Any, Any]:
        if layout == "packed":
            unsorted = None if sorted_indices is None else np.argsort(sorted_indices)
            result: Any = PackedSequence(output, batch_sizes, sorted_indices, unsorted)
        else:
            result = output.reshape(len(batch_sizes), int(batch_sizes[0]), output.shape[-1])
            if layout == "batch_first":
                result = result.transpose(0, 1)
            elif layout == "unbatched":
                result = result.squeeze(1)
                final_states = [s.squeeze(1) for s in final_states]
        states = final_states[0] if self.mode != "LSTM" else tuple(final_states)
        return result, states

    # -------------------------------------------------------------- PyTorch interop
    def load_torch_state_dict(self, state: dict[str, Any]) -> None:
        """Loads a PyTorch ``nn.{RNN,LSTM,GRU}`` state dict (arrays; torch is not imported)
        and reproduces its outputs. The module is unchanged if anything does not fit."""
        expected, ours = set(), {}
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                tail = f"_l{layer}{suffix}"
                names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"]
                                                      if self.has_bias else [])
                expected |= {n + tail for n in names}
                if not all(n + tail in state for n in names):
                    continue  # reported below by check_known_keys
                mapped = interop.from_torch(
                    self.mode, {n: state[n + tail] for n in names}, self.hidden_size,
                    has_bias=self.has_bias, reset_after=self.reset_after)
                ours.update({f"{n}{tail}": v for n, v in mapped.items()})
        interop.check_known_keys(state, expected, type(self).__name__)
        self.load_state_dict(ours)

    def torch_state_dict(self) -> dict[str, np.ndarray]:
        """Our weights under PyTorch's names (for ``torch_module.load_state_dict``)."""
        own, out = self.state_dict(), {}
        for layer in range(self.num_layers):
            for suffix in self._suffixes():
                tail = f"_l{layer}{suffix}"
                params = {n[:-len(tail)]: v for n, v in own.items() if n.endswith(tail)}
                mapped = interop.to_torch(self.mode, params, self.hidden_size,
                                          has_bias=self.has_bias, reset_after=self.reset_after)
                out.update({f"{n}{tail}": v for n, v in mapped.items()})
        return out


_ARGS_DOC = """
    Args:
        input_size: H_in. hidden_size: H. num_layers: stacked layers (>= 1).
        bias: one bias per gate. batch_first: input and output are (N, L, .) (not the states).
        dropout: dropout probability on the outputs of each layer but the last (training only).
        bidirectional: add a reverse direction; outputs of both are concatenated (D = 2).
        residual: layer k >= 1 adds its input to its output (both have D*H features;
            layer 0 gets none, its input has H_in).
        nonlinearity: "tanh" or "relu" (RNN only). reset_after: GRU only, see ``GRUCell``.
        impl: "fused" (default; Numba kernels, one graph node per layer and direction),
            "stepwise" (the same kernels, one node per time step) or "composed" (minigrad
            ops, every gate of every step visible in the graph). All give the same numbers.
        dtype: parameter dtype (float32 by default).

    Inputs: input, hx
        input: (L, N, H_in), (N, L, H_in) with ``batch_first``, unbatched (L, H_in), or a
            ``PackedSequence``.
        hx: (num_layers * D, N, H) initial hidden state ((num_layers * D, H) unbatched),
            zeros when omitted; LSTM takes a pair (h_0, c_0) of that shape.

    Outputs: output, h_n (LSTM: output, (h_n, c_n))
        output: (L, N, D * H) (batch-first, unbatched or packed like the input), the last
            layer's h_t for every t, forward and reverse directions concatenated.
        h_n, c_n: (num_layers * D, N, H), layer-major, forward direction first: each
            sequence's state after its own last step (after step 0 for the reverse direction).
"""


class RNN(_RecurrentLayer):
    __doc__ = """Elman RNN over sequences: ``h_t = act(x_t W_ih^T + h_{t-1} W_hh^T + b)``.

    Equivalent to running ``RNNCell`` over t = 0..L-1 for each layer and direction.
    ``nonlinearity``: "tanh" or "relu".
    """ + _ARGS_DOC + """
    Example:
        >>> rnn = RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(mg.randn(5, 3, 10))     # (5, 3, 20), (2, 3, 20)
    """
    mode = "RNN"


class LSTM(_RecurrentLayer):
    __doc__ = """LSTM over sequences (gates i, f, g, o; see ``LSTMCell``).

    ``forward(input, (h_0, c_0)) -> (output, (h_n, c_n))``.
    """ + _ARGS_DOC + """
    Example:
        >>> lstm = LSTM(10, 20, bidirectional=True)
        >>> output, (h_n, c_n) = lstm(mg.randn(5, 3, 10))   # (5, 3, 40), (2, 3, 20) x 2
    """
    mode = "LSTM"


class GRU(_RecurrentLayer):
    __doc__ = """GRU over sequences (gates r, z, n; see ``GRUCell``). The seed's equations by
    default; ``reset_after=True`` gives the cuDNN / PyTorch form (needed to import PyTorch
    weights).
    """ + _ARGS_DOC + """
    Example:
        >>> gru = GRU(10, 20, batch_first=True)
        >>> output, h_n = gru(mg.randn(3, 5, 10))     # (3, 5, 20), (1, 3, 20)
    """
    mode = "GRU"
