"""rnn.RNN / LSTM / GRU: shapes, state order, packing, parameters, fused == composed, the fused
ops' gradchecks, dropout, residual connections, and every validation error.

Every numeric comparison is against an independent computation: single-direction one-layer
layers built from the same weights (the reverse direction run on the time-flipped input), each
sequence of a packed batch run alone, or the other implementation.
Shape legend: N batch, L length, D directions, H_in input size, H hidden size.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import rnn
from minigrad.autograd import REGISTRY
from minigrad.gradcheck import gradcheck
from rnn import fused
from rnn.recurrence import IMPLS  # fused, stepwise, composed

F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-5)
LAYERS = {"RNN": rnn.RNN, "LSTM": rnn.LSTM, "GRU": rnn.GRU}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
# (mode, extra constructor options): every distinct recurrence.
VARIANTS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {}),
            ("GRU", {"reset_after": True})]
VARIANT_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_after"]
H_IN, H, L, N = 2, 3, 4, 3


# ------------------------------------------------------------------------------ helpers
def build(mode, input_size=H_IN, hidden=H, num_layers=1, *, seed=0, dtype=np.float64,
          **options):
    mg.manual_seed(seed)
    return LAYERS[mode](input_size, hidden, num_layers, dtype=dtype, **options)


def rand(*shape, seed=0, dtype=np.float64, requires_grad=False):
    data = np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape).astype(dtype)
    return mg.tensor(data, requires_grad=requires_grad)


def states_of(final):
    """h_n (or (h_n, c_n)) as a list of tensors."""
    return list(final) if isinstance(final, tuple) else [final]


def state_arg(mode, states):
    """A list of state tensors as the layer's ``hx`` argument."""
    if states is None:
        return None
    return tuple(states) if mode == "LSTM" else states[0]


def initial_states(mode, count, batch, seed=1, dtype=np.float64, requires_grad=False):
    return [rand(count, batch, H, seed=seed + i, dtype=dtype, requires_grad=requires_grad)
            for i in range(2 if mode == "LSTM" else 1)]


def single(layer, k, suffix, impl=None):
    """A one-layer, one-direction layer holding direction ``suffix`` of layer ``k``."""
    width = layer.input_size if k == 0 else layer.hidden_size * layer.num_directions
    generator = mg.random.generator().bit_generator
    draws = generator.state  # building it must not consume the dropout tests' random draws
    one = type(layer)(width, layer.hidden_size, bias=layer.has_bias,
                      nonlinearity=layer.nonlinearity, reset_after=layer.reset_after,
                      impl=impl or layer.impl, dtype=layer.weight_ih_l0.dtype)
    bases = ["weight_ih", "weight_hh", "bias", "bias_hn"]
    own = layer.state_dict()
    one.load_state_dict({f"{b}_l0": own[f"{b}_l{k}{suffix}"] for b in bases
                         if f"{b}_l{k}{suffix}" in own})
    generator.state = draws
    return one


def run_direction_alone(layer, k, direction, x, states):
    """Direction ``direction`` of layer ``k`` on a padded time-first numpy input (all lengths
    full), from the given per-layer initial states (list of (1, N, H) arrays or None).
    Returns the output (L, N, H) and the final states, as numpy arrays."""
    one = single(layer, k, "_reverse" if direction else "")
    if direction:
        x = x[::-1].copy()
    hx = None if states is None else state_arg(layer.mode, [mg.tensor(s) for s in states])
    out, final = one(mg.tensor(x), hx)
    out = out.data[::-1] if direction else out.data
    return out, [s.data[0] for s in states_of(final)]


def manual_stack(layer, x, states=None, dropout_between=None):
    """The stacked (bidirectional, residual) layer composed by hand from single layers.

    ``dropout_between(output, k)`` is applied after layer k < num_layers - 1 when given."""
    finals = [[] for _ in range(2 if layer.mode == "LSTM" else 1)]
    layer_input = x
    D = layer.num_directions
    for k in range(layer.num_layers):
        outputs = []
        for d in range(D):
            index = k * D + d
            own = None if states is None else [s[index:index + 1] for s in states]
            out, final = run_direction_alone(layer, k, d, layer_input, own)
            outputs.append(out)
            for store, value in zip(finals, final, strict=True):
                store.append(value)
        output = np.concatenate(outputs, axis=-1)
        if layer.residual and k > 0:
            output = output + layer_input
        if dropout_between is not None and k < layer.num_layers - 1:
            output = dropout_between(output, k)
        layer_input = output
    return layer_input, [np.stack(f) for f in finals]


def loss_of(outputs, seed=7):
    """sum(out * R) over every output with fixed random R: exercises every element."""
    rng = np.random.default_rng(seed)
    total = None
    for out in outputs:
        term = (out * mg.tensor(rng.standard_normal(out.shape).astype(out.dtype))).sum()
        total = term if total is None else total + term
    return total


# ------------------------------------------------------------------------- the shape matrix
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_shapes_and_layouts_agree(mode, options, num_layers, bidirectional, impl):
    """Every layout (time-first, batch-first, packed, unbatched) and given/default states:
    the documented shapes, and the same numbers as the time-first reference run."""
    D = 2 if bidirectional else 1
    count = num_layers * D
    layer = build(mode, num_layers=num_layers, bidirectional=bidirectional, impl=impl,
                  **options)
    twin = build(mode, num_layers=num_layers, bidirectional=bidirectional, impl=impl,
                 batch_first=True, **options)
    twin.load_state_dict(layer.state_dict())
    x = rand(L, N, H_IN)
    random_states = initial_states(mode, count, N)
    n_states = len(random_states)

    for states in (None, random_states):
        hx = state_arg(mode, states)
        out, final = layer(x, hx)
        finals = states_of(final)
        assert out.shape == (L, N, D * H)
        assert len(finals) == n_states
        assert all(s.shape == (count, N, H) for s in finals)
        # the last step of the forward direction of the last layer is its h_n
        np.testing.assert_allclose(out.data[-1, :, :H], finals[0].data[(num_layers - 1) * D],
                                   **F64)
        if bidirectional:  # the reverse direction ends at step 0
            np.testing.assert_allclose(out.data[0, :, H:], finals[0].data[-1], **F64)

        # batch_first: input and output transposed, states not
        out_bf, final_bf = twin(x.transpose(0, 1), hx)
        assert out_bf.shape == (N, L, D * H)
        np.testing.assert_allclose(out_bf.data, out.data.transpose(1, 0, 2), **F64)
        for a, b in zip(states_of(final_bf), finals, strict=True):
            np.testing.assert_allclose(a.data, b.data, **F64)

        # packed with every length full: the same numbers
        packed_out, final_p = layer(rnn.pack_padded_sequence(x, [L] * N), hx)
        assert isinstance(packed_out, rnn.PackedSequence)
        assert packed_out.data.shape == (L * N, D * H)
        np.testing.assert_array_equal(packed_out.batch_sizes, [N] * L)
        np.testing.assert_allclose(packed_out.data.data, out.data.reshape(L * N, D * H), **F64)
        for a, b in zip(states_of(final_p), finals, strict=True):
            np.testing.assert_allclose(a.data, b.data, **F64)

        # packed ragged (shapes; the values are checked sequence by sequence below)
        lengths = [L, 2, 1]
        packed_out, final_r = twin(rnn.pack_padded_sequence(x.transpose(0, 1), lengths,
                                                            batch_first=True), hx)
        assert packed_out.data.shape == (sum(lengths), D * H)
        padded, got_lengths = rnn.pad_packed_sequence(packed_out, batch_first=True)
        assert padded.shape == (N, L, D * H)
        np.testing.assert_array_equal(got_lengths.data, lengths)
        assert all(s.shape == (count, N, H) for s in states_of(final_r))

        # unbatched: (L, H_in) with (count, H) states gives sequence 0 of the batch
        unbatched_hx = None if states is None else state_arg(mode, [s[:, 0] for s in states])
        for module in (layer, twin):  # batch_first does not apply to unbatched input
            out_u, final_u = module(x[:, 0], unbatched_hx)
            assert out_u.shape == (L, D * H)
            np.testing.assert_allclose(out_u.data, out.data[:, 0], **F64)
            for a, b in zip(states_of(final_u), finals, strict=True):
                assert a.shape == (count, H)
                np.testing.assert_allclose(a.data, b.data[:, 0], **F64)

    # the default state is zeros
    zeros = [mg.zeros(count, N, H, dtype=np.float64) for _ in range(n_states)]
    out_default, final_default = layer(x)
    out_zeros, final_zeros = layer(x, state_arg(mode, zeros))
    np.testing.assert_array_equal(out_default.data, out_zeros.data)
    for a, b in zip(states_of(final_default), states_of(final_zeros), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("given_state", [False, True], ids=["default_state", "given_state"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_stack_equals_single_direction_layers(mode, options, impl, given_state):
    """h_n is layer-major, forward direction first: the stacked bidirectional layer equals
    one-direction layers built from its weights (reverse = forward on the flipped input)."""
    layer = build(mode, num_layers=3, bidirectional=True, impl=impl, **options)
    x = rand(L, N, H_IN, seed=3)
    states = initial_states(mode, 6, N) if given_state else None
    out, final = layer(x, state_arg(mode, states))
    expected_out, expected_finals = manual_stack(
        layer, x.data, None if states is None else [s.data for s in states])
    np.testing.assert_allclose(out.data, expected_out, **F64)
    for got, want in zip(states_of(final), expected_finals, strict=True):
        np.testing.assert_allclose(got.data, want, **F64)
    # and the reverse direction really differs from the forward one
    assert not np.allclose(states_of(final)[0].data[0], states_of(final)[0].data[1])


# -------------------------------------------------------------------- packed == one by one
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (1, True), (2, True),
                                                           (3, False)])
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_packed_batch_equals_each_sequence_alone(mode, options, num_layers, bidirectional,
                                                 impl):
    D = 2 if bidirectional else 1
    layer = build(mode, num_layers=num_layers, bidirectional=bidirectional, impl=impl,
                  **options)
    lengths = [3, 5, 1, 4]  # unsorted: results come back in this order
    longest, batch = max(lengths), len(lengths)
    x = rand(longest, batch, H_IN, seed=4)
    states = initial_states(mode, num_layers * D, batch, seed=5)
    packed = rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, final = layer(packed, state_arg(mode, states))
    padded, got_lengths = rnn.pad_packed_sequence(out, padding_value=-9.0)
    np.testing.assert_array_equal(got_lengths.data, lengths)
    pieces = rnn.unpack_sequence(out)
    for i, n in enumerate(lengths):
        alone_out, alone_final = layer(x[:n, i:i + 1],
                                       state_arg(mode, [s[:, i:i + 1] for s in states]))
        np.testing.assert_allclose(padded.data[:n, i], alone_out.data[:, 0], **F64)
        np.testing.assert_allclose(pieces[i].data, alone_out.data[:, 0], **F64)
        assert np.all(padded.data[n:, i] == -9.0)
        for got, want in zip(states_of(final), states_of(alone_final), strict=True):
            np.testing.assert_allclose(got.data[:, i], want.data[:, 0], **F64)

    # sorted by the caller with enforce_sorted=True: the same numbers, permuted
    order = np.argsort([-n for n in lengths], kind="stable")
    sorted_packed = rnn.pack_padded_sequence(x[:, order], [lengths[i] for i in order])
    out_sorted, final_sorted = layer(sorted_packed,
                                     state_arg(mode, [s[:, order] for s in states]))
    padded_sorted, _ = rnn.pad_packed_sequence(out_sorted, padding_value=-9.0)
    np.testing.assert_allclose(padded_sorted.data, padded.data[:, order], **F64)
    for got, want in zip(states_of(final_sorted), states_of(final), strict=True):
        np.testing.assert_allclose(got.data, want.data[:, order], **F64)


@pytest.mark.parametrize("impl", IMPLS)
def test_packed_gradients_equal_each_sequence_alone(impl):
    """Gradients too: a packed batch's d/dx and d/dh0 equal each sequence's own."""
    mode = "LSTM"
    layer = build(mode, num_layers=2, bidirectional=True, impl=impl)
    lengths = [2, 4, 3]
    x = rand(4, 3, H_IN, seed=8, requires_grad=True)
    states = initial_states(mode, 4, 3, seed=9, requires_grad=True)
    out, final = layer(rnn.pack_padded_sequence(x, lengths, enforce_sorted=False),
                       state_arg(mode, states))
    padded, _ = rnn.pad_packed_sequence(out)
    weights = np.random.default_rng(0).standard_normal(padded.shape)
    (padded * mg.tensor(weights)).sum().backward()
    for i, n in enumerate(lengths):
        xi = mg.tensor(x.data[:n, i:i + 1], requires_grad=True)
        si = [mg.tensor(s.data[:, i:i + 1], requires_grad=True) for s in states]
        alone, _ = layer(xi, state_arg(mode, si))
        (alone * mg.tensor(weights[:n, i:i + 1])).sum().backward()
        np.testing.assert_allclose(x.grad.data[:n, i], xi.grad.data[:, 0], **F64)
        assert np.all(x.grad.data[n:, i] == 0)  # padding is never read
        for s, s_alone in zip(states, si, strict=True):
            np.testing.assert_allclose(s.grad.data[:, i], s_alone.grad.data[:, 0], **F64)


# ------------------------------------------------------------------------------ parameters
def expected_parameters(mode, input_size, hidden, num_layers, D, bias, reset_after):
    """{name: shape} from the seed's formulas: G gate blocks of (H, H_in + H) and H biases."""
    G = GATES[mode]
    shapes = {}
    for k in range(num_layers):
        width = input_size if k == 0 else hidden * D
        for suffix in ("", "_reverse")[:D]:
            shapes[f"weight_ih_l{k}{suffix}"] = (G * hidden, width)
            shapes[f"weight_hh_l{k}{suffix}"] = (G * hidden, hidden)
            if bias:
                shapes[f"bias_l{k}{suffix}"] = (G * hidden,)
                if reset_after:
                    shapes[f"bias_hn_l{k}{suffix}"] = (hidden,)
    return shapes


def seed_count(mode, d, n, bias=True, reset_after=False):
    """The seed's cell formula: RNN n(d+n)+n, LSTM 4[n(d+n)+n], GRU 3[n(d+n)+n] (+n)."""
    per_gate = n * (d + n) + (n if bias else 0)
    return GATES[mode] * per_gate + (n if reset_after and bias else 0)


@pytest.mark.parametrize(("mode", "reset_after"), [("RNN", False), ("LSTM", False),
                                                   ("GRU", False), ("GRU", True)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, False), (1, True),
                                                           (3, True)])
def test_parameter_names_shapes_and_counts(mode, reset_after, bias, num_layers, bidirectional):
    D = 2 if bidirectional else 1
    layer = LAYERS[mode](5, 7, num_layers, bias=bias, bidirectional=bidirectional,
                         reset_after=reset_after)
    shapes = {name: p.shape for name, p in layer.named_parameters()}
    assert shapes == expected_parameters(mode, 5, 7, num_layers, D, bias, reset_after)
    total = sum(seed_count(mode, 5 if k == 0 else 7 * D, 7, bias, reset_after) * D
                for k in range(num_layers))
    assert layer.num_parameters() == total
    assert all(p.dtype == np.float32 for p in layer.parameters())
    assert set(layer.state_dict()) == set(shapes)


def test_parameter_counts_hand_computed():
    """The formulas on concrete numbers (d = 10, n = 20)."""
    assert rnn.RNN(10, 20).num_parameters() == 20 * 30 + 20 == 620
    assert rnn.LSTM(10, 20).num_parameters() == 4 * 620 == 2480
    assert rnn.GRU(10, 20).num_parameters() == 3 * 620 == 1860
    assert rnn.GRU(10, 20, reset_after=True).num_parameters() == 1860 + 20
    # two bidirectional layers: layer 1 reads 2 * 20 = 40 features
    assert rnn.LSTM(10, 20, 2, bidirectional=True).num_parameters() == \
        2 * 4 * 620 + 2 * 4 * (20 * 60 + 20)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_layer_initialisation(mode):
    mg.manual_seed(3)
    layer = LAYERS[mode](4, 16, 2, bidirectional=True, dtype=np.float64)
    bound = 1 / np.sqrt(16)
    values = np.concatenate([p.data.ravel() for p in layer.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.95 * bound and values.max() > 0.95 * bound
    # reset_parameters is repeatable under a seed
    before = layer.state_dict()
    mg.manual_seed(3)
    layer.reset_parameters()
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    layer.reset_parameters(orthogonal_hh=True)
    for name, p in layer.named_parameters():
        if name.startswith("weight_hh"):
            for block in np.split(p.data, GATES[mode]):
                np.testing.assert_allclose(block.T @ block, np.eye(16), atol=1e-12)
    if mode == "LSTM":
        layer.reset_parameters(forget_bias=1.0)
        for name, p in layer.named_parameters():
            if name.startswith("bias"):
                np.testing.assert_array_equal(p.data[16:32], 1.0)
                assert np.all(np.abs(p.data[:16]) <= bound)


# ----------------------------------------------------------------------- fused == composed
# (mode, options, num_layers, bidirectional, bias, residual, batch_first, layout, given_state)
CONFIGS = [
    (mode, dict(options), *rest)
    for (mode, options), rest in itertools.product(VARIANTS, [
        (1, False, True, False, True, "padded", True),
        (2, True, False, False, False, "unsorted", False),
        (3, False, True, True, False, "sorted", True),
        (2, True, False, True, True, "padded", True),
        (2, False, True, False, False, "unbatched", True),
    ])
]


def config_id(config):
    mode, options, nl, bi, bias, residual, bf, layout, given_state = config
    parts = [mode.lower() + "".join(f"_{v}" for v in options.values()), f"l{nl}",
             "bi" if bi else "uni", layout]
    parts += [name for name, on in (("nobias", not bias), ("res", residual), ("bf", bf),
                                    ("hx", given_state)) if on]
    return "-".join(parts)


def run_and_differentiate(config, impl, dtype, lengths=None, input_size=H_IN, hidden=H):
    """Outputs, then gradients of x, the states and every parameter, as numpy arrays."""
    mode, options, nl, bi, bias, residual, batch_first, layout, given_state = config
    D = 2 if bi else 1
    layer = build(mode, input_size, hidden, num_layers=nl, bidirectional=bi, bias=bias,
                  residual=residual, batch_first=batch_first, impl=impl, dtype=dtype, seed=11,
                  **options)
    if lengths is None:
        lengths = {"padded": [5] * 3, "unsorted": [2, 5, 3], "sorted": [5, 3, 2],
                   "unbatched": [5]}[layout]
    batch, longest = len(lengths), max(lengths)
    shape = (batch, longest, input_size) if batch_first else (longest, batch, input_size)
    x = rand(*shape, seed=12, dtype=dtype, requires_grad=True)
    states = None
    if given_state:
        states = [rand(*((nl * D, hidden) if layout == "unbatched" else (nl * D, batch, hidden)),
                       seed=13 + i, dtype=dtype, requires_grad=True)
                  for i in range(2 if mode == "LSTM" else 1)]
    inp = x
    if layout in ("unsorted", "sorted"):
        inp = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                       enforce_sorted=layout == "sorted")
    elif layout == "unbatched":
        inp = x[0] if batch_first else x[:, 0]
    out, final = layer(inp, state_arg(mode, states))
    if isinstance(out, rnn.PackedSequence):
        out = out.data
    outputs = [out, *states_of(final)]
    loss_of(outputs).backward()
    grads = [x.grad] + [s.grad for s in states or []] + [p.grad for p in layer.parameters()]
    assert all(g is not None for g in grads)
    return [o.data for o in outputs], [g.data for g in grads]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_fused_equals_composed(config, dtype):
    """Outputs and the gradients of x, the states and every parameter; "stepwise" (the fused
    kernels one step at a time) too."""
    outs_f, grads_f = run_and_differentiate(config, "fused", dtype)
    tol = F64 if dtype == np.float64 else F32
    for impl in ("composed", "stepwise"):
        outs_c, grads_c = run_and_differentiate(config, impl, dtype)
        assert len(grads_f) == len(grads_c)
        for a, b in zip(outs_f + grads_f, outs_c + grads_c, strict=True):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, **tol)
    if dtype == np.float32:  # and float32 is float64 to float32 precision
        outs_64, grads_64 = run_and_differentiate(config, "fused", np.float64)
        for a, b in zip(outs_f + grads_f, outs_64 + grads_64, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode, options", VARIANTS)
def test_fused_saves_contiguous_arrays_for_odd_layouts(mode, options):
    """A sliced or expanded (stride-0) state and a Fortran-ordered weight: the fused op saves
    C-contiguous copies (its backward's kernels do not re-check them), and the numbers equal
    the composed path's."""
    results = []
    for impl in ("fused", "composed"):
        layer = build(mode, H_IN, H, impl=impl, dtype=np.float64, seed=3, **options)
        layer.weight_hh_l0.data = np.asfortranarray(layer.weight_hh_l0.data)
        x = rand(5, 3, H_IN, seed=4, dtype=np.float64, requires_grad=True)
        wide = rand(1, 3, 2 * H, seed=5, dtype=np.float64, requires_grad=True)
        h0 = wide[:, :, :H]                                     # not contiguous
        row = rand(1, 1, H, seed=6, dtype=np.float64, requires_grad=True)
        c0 = row.expand(1, 3, H)                                 # stride 0
        out, final = layer(x, (h0, c0) if mode == "LSTM" else h0)
        if impl == "fused":
            saved = [a for a in out.grad_fn.saved if isinstance(a, np.ndarray)]
            assert all(a.flags.c_contiguous for a in saved)
        loss_of([out, *states_of(final)]).backward()
        grads = [x.grad, wide.grad] + ([row.grad] if mode == "LSTM" else [])
        results.append([out.data] + [g.data for g in grads]
                       + [p.grad.data for p in layer.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, **F64)


@settings(max_examples=30, deadline=None)
@given(variant=st.sampled_from(VARIANTS), num_layers=st.integers(1, 3),
       flags=st.lists(st.booleans(), min_size=5, max_size=5),
       layout=st.sampled_from(["padded", "unsorted", "sorted", "unbatched"]),
       lengths=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       input_size=st.integers(1, 3), hidden=st.integers(1, 3))
def test_fused_equals_composed_random_configs(variant, num_layers, flags, layout, lengths,
                                              input_size, hidden):
    mode, options = variant
    bidirectional, bias, residual, batch_first, given_state = flags
    residual = residual and num_layers > 1  # one layer has no residual (and warns)
    if layout == "unbatched":
        lengths = lengths[:1]
    elif layout == "padded":
        lengths = [max(lengths)] * len(lengths)
    elif layout == "sorted":
        lengths = sorted(lengths, reverse=True)
    config = (mode, dict(options), num_layers, bidirectional, bias, residual, batch_first,
              layout, given_state)
    fused_result = run_and_differentiate(config, "fused", np.float64, lengths, input_size,
                                         hidden)
    composed_result = run_and_differentiate(config, "composed", np.float64, lengths,
                                            input_size, hidden)
    for a, b in zip(fused_result[0] + fused_result[1], composed_result[0] + composed_result[1],
                    strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **F64)


def test_composed_graph_shows_gates_fused_graph_one_node():
    x = rand(L, N, H_IN)
    for impl, expected in (("fused", {"lstm_sequence"}), ("composed", {"sigmoid", "tanh"})):
        out, _ = build("LSTM", impl=impl)(x)
        names, stack, seen = set(), [out.grad_fn], set()
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen.add(id(node))
                names.add(node.name)
                stack.extend(t.grad_fn for t in node.inputs if t.grad_fn is not None)
        assert expected <= names
        assert ("lstm_sequence" in names) == (impl == "fused")


# ------------------------------------------------------------------- fused ops: gradcheck
def _op_case(op, forms, kw=None):
    return [(op, form, schedule, reverse, kw or {})
            for form in forms
            for schedule, reverse in (([2, 2], False), ([3, 2, 2, 1], False),
                                      ([3, 2, 2, 1], True))]


OP_CASES = (_op_case("lstm_sequence", ["lstm"]) + _op_case("gru_sequence", ["seed", "after"])
            + _op_case("rnn_sequence", ["tanh", "relu"]))


def _op_inputs(op, form, schedule, seed=0):
    hidden, width = 2, 3
    G = {"lstm_sequence": 4, "gru_sequence": 3, "rnn_sequence": 1}[op]
    T, batch = sum(schedule), schedule[0]
    rng = np.random.default_rng(seed)

    def leaf(*shape):
        return mg.tensor(rng.uniform(-1, 1, size=shape), requires_grad=True)

    inputs = [leaf(T, width), leaf(batch, hidden)]
    if op == "lstm_sequence":
        inputs.append(leaf(batch, hidden))
    inputs += [leaf(G * hidden, width), leaf(G * hidden, hidden), leaf(G * hidden)]
    if form == "after":
        inputs.append(leaf(hidden))
    return inputs


def _apply(op, form, schedule, reverse, inputs):
    options = dict(batch_sizes=np.array(schedule, dtype=np.int64), reverse=reverse)
    if op == "lstm_sequence":
        return fused.LSTMSequence.apply(*inputs, **options)
    if op == "gru_sequence":
        return fused.GRUSequence.apply(*inputs, **options)
    return fused.RNNSequence.apply(*inputs, nonlinearity=form, **options)


@pytest.mark.parametrize(("op", "form", "schedule", "reverse", "kw"), OP_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}-{'rev' if c[3] else 'fwd'}"
                              for c in OP_CASES])
def test_fused_op_gradcheck(op, form, schedule, reverse, kw):
    """Every input of every fused op: x, h0 (c0), W_ih, W_hh, b (b_hn), packed and reverse."""
    inputs = _op_inputs(op, form, schedule)
    outputs = _apply(op, form, schedule, reverse, inputs)
    assert outputs[0].grad_fn.name == op
    assert len(outputs) == REGISTRY[op].n_outputs
    assert gradcheck(lambda *a: _apply(op, form, schedule, reverse, a), inputs, **kw)
    # each output alone too (the others get no gradient: the kernels take None for zeros)
    for k in range(len(outputs)):
        assert gradcheck(lambda *a, k=k: _apply(op, form, schedule, reverse, a)[k], inputs)


def test_gradcheck_catches_a_wrong_fused_backward(monkeypatch):
    """The check above has teeth: a backward that forgets the gate's scale is caught."""
    inputs = _op_inputs("rnn_sequence", "tanh", [2, 1])
    original = fused.RNNSequence.backward

    def wrong(self, grad_hs, grad_h_n):
        grads = original(self, grad_hs, grad_h_n)
        return (grads[0] * 1.01, *grads[1:])

    monkeypatch.setattr(fused.RNNSequence, "backward", wrong)
    assert not gradcheck(lambda *a: _apply("rnn_sequence", "tanh", [2, 1], False, a), inputs,
                         raise_exception=False)


def test_every_rnn_op_has_a_gradcheck_case():
    for module in pkgutil.walk_packages(rnn.__path__, "rnn."):
        importlib.import_module(module.name)
    ours = {name for name, op in REGISTRY.items() if op.__module__.startswith("rnn.")}
    covered = {case[0] for case in OP_CASES}
    missing = sorted(ours - covered)
    assert not missing, f"rnn ops without a gradcheck case in tests/test_rnn_layers.py: {missing}"
    assert {"lstm_sequence", "gru_sequence", "rnn_sequence"} <= ours


def test_fused_gru_forms_differ_and_fused_op_skips_unneeded_grads():
    """The seed and reset-after forms are different functions; inputs that do not require
    grad get None from the op's backward."""
    inputs = _op_inputs("gru_sequence", "after", [2, 2])
    seed_form = _apply("gru_sequence", "seed", [2, 2], False, inputs[:-1])
    after = _apply("gru_sequence", "after", [2, 2], False,
                   inputs[:-1] + [mg.zeros(2, dtype=np.float64)])
    assert not np.allclose(seed_form[0].data, after[0].data)
    x = mg.tensor(inputs[0].data)  # no grad for x
    hs, _ = _apply("rnn_sequence", "tanh", [2, 2], False,
                   [x] + _op_inputs("rnn_sequence", "tanh", [2, 2])[1:])
    hs.sum().backward()
    assert x.grad is None


# ---------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "bidirectional"), [("LSTM", False), ("GRU", True)])
def test_dropout_between_layers_not_after_the_last(mode, bidirectional, impl):
    layer = build(mode, num_layers=3, bidirectional=bidirectional, dropout=0.5, impl=impl)
    x = rand(L, N, H_IN, seed=2)
    mg.manual_seed(123)
    out, final = layer(x)
    masks = []

    def drop(output, k):  # the same draws from the global generator, in the same order
        keep = mg.random.generator().random(output.shape) >= 0.5
        masks.append(keep)
        return output * keep / 0.5

    mg.manual_seed(123)
    expected_out, expected_finals = manual_stack(layer, x.data, dropout_between=drop)
    assert len(masks) == 2  # after layers 0 and 1, not after layer 2
    assert 0.2 < np.mean([m.mean() for m in masks]) < 0.8
    np.testing.assert_allclose(out.data, expected_out, **F64)
    for got, want in zip(states_of(final), expected_finals, strict=True):
        np.testing.assert_allclose(got.data, want, **F64)
    assert np.count_nonzero(out.data == 0) == 0  # nothing dropped from the output itself

    # eval mode (and dropout=0): no dropout at all
    layer.eval()
    out_eval, _ = layer(x)
    plain = build(mode, num_layers=3, bidirectional=bidirectional, impl=impl)
    plain.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(out_eval.data, plain(x)[0].data)
    assert not np.allclose(out_eval.data, out.data)
    layer.train()
    mg.manual_seed(123)
    np.testing.assert_array_equal(layer(x)[0].data, out.data)  # repeatable under a seed


def test_dropout_one_zeroes_the_next_layers_input():
    layer = build("RNN", num_layers=2, dropout=1.0)
    out, h_n = layer(rand(L, N, H_IN))
    lower = single(layer, 1, "")
    expected, expected_h = lower(mg.zeros(L, N, H, dtype=np.float64))
    np.testing.assert_allclose(out.data, expected.data, **F64)
    np.testing.assert_allclose(h_n.data[1], expected_h.data[0], **F64)


def test_dropout_warning_with_one_layer():
    with pytest.warns(UserWarning, match=r"dropout=0\.3 has no effect with num_layers=1"):
        rnn.LSTM(3, 4, dropout=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnn.LSTM(3, 4, num_layers=2, dropout=0.3)
        rnn.LSTM(3, 4, dropout=0.0)


def test_dropout_applies_to_packed_rows():
    layer = build("GRU", num_layers=2, dropout=0.5)
    x = rand(L, N, H_IN, seed=6)
    packed = rnn.pack_padded_sequence(x, [4, 3, 1])
    mg.manual_seed(5)
    out, _ = layer(packed)
    mg.manual_seed(5)
    lower, upper = single(layer, 0, ""), single(layer, 1, "")
    hidden, _ = lower(packed)
    keep = mg.random.generator().random(hidden.data.shape) >= 0.5
    dropped = rnn.PackedSequence(hidden.data * mg.tensor(keep / 0.5), hidden.batch_sizes)
    expected, _ = upper(dropped)
    np.testing.assert_allclose(out.data.data, expected.data.data, **F64)


# ---------------------------------------------------------------------------- residual
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "bidirectional"), [("RNN", False), ("LSTM", True),
                                                     ("GRU", False)])
def test_residual_adds_the_layer_input_from_layer_one(mode, bidirectional, impl):
    layer = build(mode, num_layers=3, bidirectional=bidirectional, residual=True, impl=impl)
    x = rand(L, N, H_IN, seed=9)
    out, final = layer(x)
    # by hand: out_0 = f_0(x); out_k = f_k(out_{k-1}) + out_{k-1}
    D = 2 if bidirectional else 1
    layer_input = x.data
    for k in range(3):
        parts = [run_direction_alone(layer, k, d, layer_input, None)[0] for d in range(D)]
        output = np.concatenate(parts, axis=-1)
        layer_input = output + layer_input if k > 0 else output
    np.testing.assert_allclose(out.data, layer_input, **F64)
    plain = build(mode, num_layers=3, bidirectional=bidirectional, impl=impl)
    plain.load_state_dict(layer.state_dict())
    assert not np.allclose(plain(x)[0].data, out.data)


def test_residual_never_on_layer_zero():
    """Layer 0 has no residual even when H_in == H (as documented: k >= 1), and a one-layer
    residual stack says so."""
    with pytest.warns(UserWarning, match=r"residual=True has no effect with num_layers=1"):
        layer = build("GRU", input_size=H, num_layers=1, residual=True)
    plain = build("GRU", input_size=H, num_layers=1)
    x = rand(L, N, H, seed=1)
    np.testing.assert_array_equal(layer(x)[0].data, plain(x)[0].data)


# -------------------------------------------------------------------------------- errors
def test_error_input_size():
    with pytest.raises(ValueError, match=r"input has 5 features.*input_size=2"):
        rnn.LSTM(2, 3)(mg.randn(4, 3, 5))
    packed = rnn.pack_sequence([mg.randn(3, 5), mg.randn(2, 5)])
    with pytest.raises(ValueError, match=r"input has 5 features.*input_size=2"):
        rnn.GRU(2, 3)(packed)


def test_error_state_shape_names_the_batch_axis():
    lstm = rnn.LSTM(2, 3, num_layers=2)
    state = (mg.zeros(2, 8, 3), mg.zeros(2, 8, 3))
    lstm(mg.randn(5, 8, 2), state)  # a full batch works
    with pytest.raises(ValueError, match=r"h_0 has shape \(2, 8, 3\), expected \(2, 5, 3\).*"
                                         r"batch axis \(dim 1\) is 8 but the input has 5"):
        lstm(mg.randn(5, 5, 2), state)  # a smaller last batch
    with pytest.raises(ValueError, match=r"c_0 has shape \(2, 5, 4\), expected \(2, 5, 3\)"):
        lstm(mg.randn(5, 5, 2), (mg.zeros(2, 5, 3), mg.zeros(2, 5, 4)))
    with pytest.raises(ValueError, match=r"h_0 has shape \(1, 5, 3\), expected \(2, 5, 3\)"):
        rnn.GRU(2, 3, bidirectional=True)(mg.randn(4, 5, 2), mg.zeros(1, 5, 3))
    with pytest.raises(ValueError, match=r"h_0 has shape \(1, 1, 3\), expected \(1, 3\)"):
        rnn.GRU(2, 3)(mg.randn(4, 2), mg.zeros(1, 1, 3))  # unbatched input, batched state
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h_0, c_0\)"):
        lstm(mg.randn(5, 8, 2), mg.zeros(2, 8, 3))
    # batch_first applies to the input only: the state stays (layers * D, N, H)
    gru = rnn.GRU(2, 3, batch_first=True)
    with pytest.raises(ValueError, match=r"batch axis \(dim 1\) is 1 but the input has 4"):
        gru(mg.randn(4, 6, 2), mg.zeros(4, 1, 3))  # batch-first by mistake


def test_error_packed_state_batch():
    packed = rnn.pack_sequence([mg.randn(3, 2), mg.randn(2, 2)])
    with pytest.raises(ValueError, match=r"batch axis \(dim 1\) is 3 but the input has 2"):
        rnn.RNN(2, 3)(packed, mg.zeros(1, 3, 3))


@pytest.mark.parametrize(("build_it", "match"), [
    (lambda: rnn.RNN(2, 3, nonlinearity="sigmoid"), r"'tanh' or 'relu', got 'sigmoid'"),
    (lambda: rnn.LSTM(2, 3, nonlinearity="relu"), r"nonlinearity applies to RNN only"),
    (lambda: rnn.GRU(2, 3, dropout=1.5), r"dropout must be in \[0, 1\], got 1.5"),
    (lambda: rnn.GRU(2, 3, dropout=-0.1), r"dropout must be in \[0, 1\], got -0.1"),
    (lambda: rnn.RNN(2, 3, num_layers=0), r"num_layers must be an int >= 1, got 0"),
    (lambda: rnn.RNN(2, 3, num_layers=-2), r"num_layers must be an int >= 1, got -2"),
    (lambda: rnn.RNN(2, 3, num_layers=1.5), r"num_layers must be an int >= 1, got 1.5"),
    (lambda: rnn.LSTM(0, 3), r"input_size must be a positive int, got 0"),
    (lambda: rnn.LSTM(2, 0), r"hidden_size must be a positive int, got 0"),
    (lambda: rnn.LSTM(2, 3, impl="cudnn"), r"impl must be one of"),
    (lambda: rnn.LSTM(2, 3, reset_after=True), r"LSTM: reset_after applies to GRU only"),
    (lambda: rnn.RNN(2, 3, reset_after=True), r"RNN: reset_after applies to GRU only"),
])
def test_constructor_errors(build_it, match):
    with pytest.raises(ValueError, match=match):
        build_it()


def test_error_input_rank_empty_and_dtype():
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, H_in\).*got \(2,\)"):
        rnn.RNN(2, 3)(mg.randn(2))
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 2\)"):
        rnn.RNN(2, 3)(mg.randn(1, 2, 3, 2))
    with pytest.raises(ValueError, match=r"empty input of shape \(0, 3, 2\)"):
        rnn.RNN(2, 3)(mg.zeros(0, 3, 2))
    for impl in IMPLS:  # both implementations refuse, neither silently promotes
        with pytest.raises(TypeError, match=r"input has dtype float64 but the parameters are "
                                            r"float32"):
            rnn.GRU(2, 3, impl=impl)(mg.zeros(4, 3, 2, dtype=np.float64))
        with pytest.raises(TypeError, match=r"h_0 has dtype float32 but the parameters are "
                                            r"float64"):
            rnn.GRU(2, 3, impl=impl, dtype=np.float64)(mg.zeros(4, 3, 2, dtype=np.float64),
                                                       mg.zeros(1, 3, 3))


# ------------------------------------------------------------------------------ interop
def test_layer_torch_state_dict_errors_leave_the_module_unchanged():
    layer = rnn.LSTM(2, 3, num_layers=2)
    before = layer.state_dict()
    good = layer.torch_state_dict()
    assert set(good) == {f"{n}_l{k}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                         for k in (0, 1)}
    with pytest.raises(ValueError, match=r"cannot be mapped \['weight_hr_l0'\].*proj_size"):
        layer.load_torch_state_dict({**good, "weight_hr_l0": np.zeros((3, 3))})
    missing = {k: v for k, v in good.items() if k != "bias_hh_l1"}
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh_l1'\]"):
        layer.load_torch_state_dict(missing)
    wrong = {**good, "weight_hh_l1": np.zeros((12, 4))}
    with pytest.raises(RuntimeError, match=r"weight_hh_l1"):
        layer.load_torch_state_dict(wrong)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])

    gru = rnn.GRU(2, 3)
    with pytest.raises(ValueError, match=r"reset_after=True"):
        gru.load_torch_state_dict(rnn.GRU(2, 3, reset_after=True).torch_state_dict())
    with pytest.raises(ValueError, match=r"reset_after=True"):
        gru.torch_state_dict()  # the seed's GRU has no PyTorch equivalent


def test_layer_torch_round_trip_reproduces_outputs():
    for mode, options in VARIANTS[:3] + VARIANTS[4:]:
        for bias in (True, False):
            layer = build(mode, num_layers=2, bidirectional=True, bias=bias, **options)
            again = build(mode, num_layers=2, bidirectional=True, bias=bias, seed=99,
                          **options)
            again.load_torch_state_dict(layer.torch_state_dict())
            x = rand(L, N, H_IN)
            np.testing.assert_array_equal(again(x)[0].data, layer(x)[0].data)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_layer_matches_torch_including_bias_false(mode, bias):
    """Optional: against PyTorch itself (the stored-reference parity tests cover bias=True
    only), bidirectional, 2 layers, packed, with gradients."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = getattr(torch.nn, mode)(H_IN, H, 2, bias=bias, bidirectional=True).double()
    layer = LAYERS[mode](H_IN, H, 2, bias=bias, bidirectional=True,
                         reset_after=mode == "GRU", dtype=np.float64)
    layer.load_torch_state_dict({k: v.detach().numpy() for k, v in
                                 reference.state_dict().items()})
    x_np = np.random.default_rng(0).standard_normal((5, 3, H_IN))
    lengths = [3, 5, 2]
    x = mg.tensor(x_np, requires_grad=True)
    out, final = layer(rnn.pack_padded_sequence(x, lengths, enforce_sorted=False))
    padded, _ = rnn.pad_packed_sequence(out)
    x_t = torch.tensor(x_np, requires_grad=True)
    out_t, final_t = reference(torch.nn.utils.rnn.pack_padded_sequence(
        x_t, lengths, enforce_sorted=False))
    padded_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_t)
    np.testing.assert_allclose(padded.data, padded_t.detach().numpy(), **F64)
    finals_t = list(final_t) if isinstance(final_t, tuple) else [final_t]
    for got, want in zip(states_of(final), finals_t, strict=True):
        np.testing.assert_allclose(got.data, want.detach().numpy(), **F64)
    weights = np.random.default_rng(1).standard_normal(padded.shape)
    (padded * mg.tensor(weights)).sum().backward()
    (padded_t * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.data, x_t.grad.numpy(), **F64)


def test_one_fused_layer_on_a_padded_batch_is_one_graph_node():
    """The fast path: no reshape, index or stack nodes around the fused op (see layers.py)."""
    lstm = build("LSTM")
    output, (h_n, c_n) = lstm(rand(L, N, H_IN, seed=3))
    assert output.grad_fn is h_n.grad_fn is c_n.grad_fn
    assert output.grad_fn.name == "lstm_sequence"
    assert all(t.grad_fn is None for t in output.grad_fn.inputs)
