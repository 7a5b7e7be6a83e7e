"""rnn.RNNCell / LSTMCell / GRUCell: the seed's math against numpy, batched and unbatched
input, default states, parameters and initialisation, fused == composed, errors, and PyTorch
interop (PyTorch's equations written in numpy; PyTorch itself when it is installed).
Shape legend: N batch, H_in input size, H hidden size.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn.recurrence import IMPLS  # fused, stepwise, composed

F64 = dict(rtol=1e-12, atol=1e-12)
F32 = dict(rtol=1e-5, atol=1e-5)
CELLS = {"RNN": rnn.RNNCell, "LSTM": rnn.LSTMCell, "GRU": rnn.GRUCell}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
VARIANTS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {}),
            ("GRU", {"reset_after": True})]
VARIANT_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_after"]
H_IN, H, N = 3, 4, 5


def build(mode, options=None, *, bias=True, impl="fused", dtype=np.float64, seed=0,
          input_size=H_IN, hidden=H):
    mg.manual_seed(seed)
    return CELLS[mode](input_size, hidden, bias, impl=impl, dtype=dtype, **(options or {}))


def rand(*shape, seed=0, dtype=np.float64, requires_grad=False):
    data = np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape).astype(dtype)
    return mg.tensor(data, requires_grad=requires_grad)


def as_list(result):
    return list(result) if isinstance(result, tuple) else [result]


def states_for(mode, *shape, seed=1, dtype=np.float64, requires_grad=False):
    return [rand(*shape, seed=seed + i, dtype=dtype, requires_grad=requires_grad)
            for i in range(2 if mode == "LSTM" else 1)]


def hx_arg(mode, states):
    if states is None:
        return None
    return tuple(states) if mode == "LSTM" else states[0]


# ------------------------------------------------------------------ numpy references
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def seed_step(mode, options, params, x, states):
    """The seed's equations (one bias per gate) on numpy arrays."""
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b = params.get("bias", 0.0)
    h = states[0]
    if mode == "RNN":
        a = x @ w_ih.T + h @ w_hh.T + b
        return [np.tanh(a) if options.get("nonlinearity", "tanh") == "tanh"
                else np.maximum(a, 0)]
    if mode == "LSTM":
        a = x @ w_ih.T + h @ w_hh.T + b
        i, f, g, o = np.split(a, 4, axis=-1)
        c = sigmoid(f) * states[1] + sigmoid(i) * np.tanh(g)
        return [sigmoid(o) * np.tanh(c), c]
    xr, xz, xn = np.split(x @ w_ih.T + b, 3, axis=-1)
    w_hr, w_hz, w_hn = np.split(w_hh, 3)
    r = sigmoid(xr + h @ w_hr.T)
    z = sigmoid(xz + h @ w_hz.T)
    if options.get("reset_after"):
        n = np.tanh(xn + r * (h @ w_hn.T + params.get("bias_hn", 0.0)))
    else:
        n = np.tanh(xn + (r * h) @ w_hn.T)
    return [(1 - z) * h + z * n]


def torch_step(mode, nonlinearity, state, x, states):
    """PyTorch's cell equations (two biases per gate; GRU reset-after, h' = (1-z) n + z h)."""
    w_ih, w_hh = state["weight_ih"], state["weight_hh"]
    b_ih = state.get("bias_ih", np.zeros(w_ih.shape[0]))
    b_hh = state.get("bias_hh", np.zeros(w_ih.shape[0]))
    h = states[0]
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if mode == "RNN":
        return [np.tanh(gi + gh) if nonlinearity == "tanh" else np.maximum(gi + gh, 0)]
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = sigmoid(f) * states[1] + sigmoid(i) * np.tanh(g)
        return [sigmoid(o) * np.tanh(c), c]
    ir, iz, in_ = np.split(gi, 3, axis=-1)
    hr, hz, hn = np.split(gh, 3, axis=-1)
    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    return [(1 - z) * n + z * h]


# ------------------------------------------------------------------------------- the math
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_cell_matches_the_seed_equations(mode, options, impl, bias):
    cell = build(mode, options, bias=bias, impl=impl)
    params = cell.state_dict()
    states = states_for(mode, N, H)
    expected = [s.data for s in states]
    for t in range(3):  # a few steps, so that h != 0 exercises every term
        x = rand(N, H_IN, seed=10 + t)
        states = as_list(cell(x, hx_arg(mode, states)))
        expected = seed_step(mode, options, params, x.data, expected)
        assert len(states) == len(expected)
        for got, want in zip(states, expected, strict=True):
            assert got.shape == (N, H) and got.dtype == np.float64
            np.testing.assert_allclose(got.data, want, **F64)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_unbatched_input_and_default_state(mode, options, impl):
    cell = build(mode, options, impl=impl)
    x = rand(N, H_IN)
    states = states_for(mode, N, H)
    batched = as_list(cell(x, hx_arg(mode, states)))
    for i in range(N):
        single = as_list(cell(x[i], hx_arg(mode, [s[i] for s in states])))
        for got, want in zip(single, batched, strict=True):
            assert got.shape == (H,)
            np.testing.assert_allclose(got.data, want.data[i], **F64)
    # hx omitted: zeros, batched and unbatched
    zeros = [mg.zeros(N, H, dtype=np.float64) for _ in states]
    default, explicit = as_list(cell(x)), as_list(cell(x, hx_arg(mode, zeros)))
    for got, want in zip(default, explicit, strict=True):
        np.testing.assert_array_equal(got.data, want.data)
    for got, want in zip(as_list(cell(x[0])), explicit, strict=True):
        assert got.shape == (H,)
        np.testing.assert_allclose(got.data, want.data[0], **F64)
    # a numpy input works like a tensor
    for got, want in zip(as_list(cell(x.data)), explicit, strict=True):
        np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_cell_loop_equals_one_layer(mode, options, impl):
    """A layer is its cell run over t = 0..L-1 (same parameters, names with ``_l0``)."""
    cell = build(mode, options, impl=impl)
    layer = rnn.layers.__dict__[mode](H_IN, H, impl=impl, dtype=np.float64, **options)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = rand(6, N, H_IN, seed=3)
    states = initial = states_for(mode, N, H)
    outputs = []
    for t in range(6):
        states = as_list(cell(x[t], hx_arg(mode, states)))
        outputs.append(states[0].data)
    out, final = layer(x, hx_arg(mode, [s.unsqueeze(0) for s in initial]))
    np.testing.assert_allclose(out.data, np.stack(outputs), **F64)
    for got, want in zip(as_list(final), states, strict=True):
        np.testing.assert_allclose(got.data[0], want.data, **F64)


# -------------------------------------------------------------------- fused == composed
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_fused_equals_composed(mode, options, bias, unbatched, dtype):
    """Values and the gradients of the input, hx (cx) and every parameter, over two steps."""

    def run(impl):
        cell = build(mode, options, bias=bias, impl=impl, dtype=dtype, seed=4)
        shape = (H_IN,) if unbatched else (N, H_IN)
        xs = [rand(*shape, seed=5 + t, dtype=dtype, requires_grad=True) for t in range(2)]
        h0 = states_for(mode, *shape[:-1], H, dtype=dtype, requires_grad=True)
        states = as_list(cell(xs[0], hx_arg(mode, h0)))
        states = as_list(cell(xs[1], hx_arg(mode, states)))
        rng = np.random.default_rng(0)
        loss = sum((s * mg.tensor(rng.standard_normal(s.shape).astype(dtype))).sum()
                   for s in states)
        loss.backward()
        grads = [t.grad for t in xs + h0] + [p.grad for p in cell.parameters()]
        assert all(g is not None for g in grads)
        return [s.data for s in states] + [g.data for g in grads]

    reference = run("fused")
    tol = F64 if dtype == np.float64 else F32
    for impl in ("composed", "stepwise"):
        for a, b in zip(reference, run(impl), strict=True):
            assert a.dtype == b.dtype == dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, **tol)


# ------------------------------------------------------------------------- parameters
def seed_count(mode, d, n, bias=True, reset_after=False):
    """RNN n(d+n)+n, LSTM 4[n(d+n)+n], GRU 3[n(d+n)+n] (+n for reset_after); no bias terms
    with bias=False."""
    return GATES[mode] * (n * (d + n) + (n if bias else 0)) + (n if reset_after and bias
                                                                else 0)


@pytest.mark.parametrize(("d", "n"), [(1, 1), (3, 5), (10, 20), (7, 2)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(("mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_parameter_counts_names_and_shapes(mode, options, bias, d, n):
    cell = CELLS[mode](d, n, bias, **options)
    reset_after = options.get("reset_after", False)
    G = GATES[mode]
    expected = {"weight_ih": (G * n, d), "weight_hh": (G * n, n)}
    if bias:
        expected["bias"] = (G * n,)
        if reset_after:
            expected["bias_hn"] = (n,)
    assert {k: p.shape for k, p in cell.named_parameters()} == expected
    assert cell.num_parameters() == seed_count(mode, d, n, bias, reset_after)
    assert all(p.dtype == np.float32 and p.requires_grad for p in cell.parameters())


def test_parameter_counts_hand_computed():
    assert rnn.RNNCell(10, 20).num_parameters() == 620  # 20 * 30 + 20
    assert rnn.LSTMCell(10, 20).num_parameters() == 2480
    assert rnn.GRUCell(10, 20).num_parameters() == 1860
    assert rnn.GRUCell(10, 20, reset_after=True).num_parameters() == 1880
    assert rnn.GRUCell(10, 20, bias=False, reset_after=True).num_parameters() == 1800


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_initialisation_bounds(mode):
    cell = build(mode, hidden=64, seed=1)
    bound = 1 / np.sqrt(64)
    for name, p in cell.named_parameters():
        assert p.data.min() >= -bound and p.data.max() <= bound, name
        assert p.data.min() < -0.9 * bound and p.data.max() > 0.9 * bound, name
        std = bound / np.sqrt(3)  # of U(-bound, bound); the mean is within 4 standard errors
        assert abs(p.data.mean()) < 4 * std / np.sqrt(p.data.size), name
        assert abs(p.data.std() / std - 1) < 0.2, name
    before = cell.state_dict()
    mg.manual_seed(1)
    cell.reset_parameters()  # repeatable under a seed
    for name, value in cell.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    cell.reset_parameters()
    assert not np.array_equal(cell.weight_hh.data, before["weight_hh"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_orthogonal_recurrent_blocks(mode, dtype):
    cell = build(mode, hidden=6, dtype=dtype, seed=2)
    cell.reset_parameters(orthogonal_hh=True)
    blocks = np.split(cell.weight_hh.data.astype(np.float64), GATES[mode])
    atol = 1e-12 if dtype == np.float64 else 1e-6
    for block in blocks:
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=atol)
        np.testing.assert_allclose(block @ block.T, np.eye(6), atol=atol)
    for a, b in zip(blocks, blocks[1:], strict=False):
        assert not np.allclose(a, b)  # each gate gets its own matrix
    bound = 1 / np.sqrt(6)  # everything else keeps the uniform init
    assert np.all(np.abs(cell.weight_ih.data) <= bound)
    assert np.all(np.abs(cell.bias.data) <= bound)
    assert cell.weight_hh.dtype == dtype


def test_forget_bias():
    cell = build("LSTM", hidden=8)
    cell.reset_parameters(forget_bias=1.0)
    np.testing.assert_array_equal(cell.bias.data[8:16], 1.0)
    bound = 1 / np.sqrt(8)
    others = np.concatenate([cell.bias.data[:8], cell.bias.data[16:]])
    assert np.all(np.abs(others) <= bound) and np.all(others != 1.0)
    # the cell remembers: with f ~ sigmoid(1) and nothing else, c shrinks by about 0.73
    cell.weight_ih.data[...] = 0
    cell.weight_hh.data[...] = 0
    cell.bias.data[[*range(8), *range(16, 32)]] = -30.0  # i ~ 0, g ~ -1, o ~ 0
    c0 = mg.ones(1, 8, dtype=np.float64)
    _, c = cell(mg.zeros(1, H_IN, dtype=np.float64), (mg.zeros(1, 8, dtype=np.float64), c0))
    np.testing.assert_allclose(c.data, sigmoid(1.0), rtol=1e-12)
    # both options at once
    cell.reset_parameters(orthogonal_hh=True, forget_bias=2.0)
    np.testing.assert_array_equal(cell.bias.data[8:16], 2.0)
    np.testing.assert_allclose(cell.weight_hh.data[:8].T @ cell.weight_hh.data[:8], np.eye(8),
                               atol=1e-12)


@pytest.mark.parametrize("mode", ["RNN", "GRU"])
def test_forget_bias_is_lstm_only_and_changes_nothing(mode):
    cell = build(mode)
    before = cell.state_dict()
    with pytest.raises(ValueError, match="forget_bias applies to LSTM only"):
        cell.reset_parameters(forget_bias=1.0)
    for name, value in cell.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_gradients_reach_every_parameter_and_input():
    cell = build("GRU", {"reset_after": True})
    x = rand(N, H_IN, requires_grad=True)
    h = rand(N, H, seed=1, requires_grad=True)
    cell(x, h).sum().backward()
    for tensor in [x, h, *cell.parameters()]:
        assert tensor.grad is not None and tensor.grad.shape == tensor.shape
        assert np.any(tensor.grad.data != 0)


def test_extra_repr():
    assert rnn.RNNCell(3, 4).extra_repr() == "3, 4"
    assert rnn.RNNCell(3, 4, bias=False, nonlinearity="relu").extra_repr() == \
        "3, 4, bias=False, nonlinearity='relu'"
    assert rnn.GRUCell(3, 4, reset_after=True, impl="composed").extra_repr() == \
        "3, 4, reset_after=True, impl='composed'"


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_cells_refuse_a_sequence(mode):
    cell = CELLS[mode](3, 4)
    with pytest.raises(ValueError, match=rf"{mode}Cell takes one time step, \(N, 3\) or \(3,\)"
                                         rf"; got shape \(5, 2, 3\)\. For a whole sequence "
                                         rf"use rnn\.{mode}"):
        cell(mg.randn(5, 2, 3))
    with pytest.raises(ValueError, match=r"one time step"):
        cell(mg.tensor(1.0))


def test_cell_errors():
    with pytest.raises(ValueError, match=r"RNNCell: input has 5 features .*input_size=3"):
        rnn.RNNCell(3, 4)(mg.randn(2, 5))
    with pytest.raises(ValueError, match=r"input has 2 features"):
        rnn.GRUCell(3, 4)(mg.randn(2))
    with pytest.raises(ValueError, match=r"GRUCell: hx has shape \(3, 4\), expected \(2, 4\) "
                                         r"\(batch 2 from the input"):
        rnn.GRUCell(3, 4)(mg.randn(2, 3), mg.zeros(3, 4))
    with pytest.raises(ValueError, match=r"cx has shape \(2, 5\), expected \(2, 4\)"):
        rnn.LSTMCell(3, 4)(mg.randn(2, 3), (mg.zeros(2, 4), mg.zeros(2, 5)))
    with pytest.raises(ValueError, match=r"hx has shape \(1, 4\), expected \(4,\)"):
        rnn.RNNCell(3, 4)(mg.randn(3), mg.zeros(1, 4))  # unbatched input, batched state
    with pytest.raises(TypeError, match=r"hx must be a pair \(h, c\) of tensors"):
        rnn.LSTMCell(3, 4)(mg.randn(2, 3), mg.zeros(2, 4))
    with pytest.raises(TypeError, match=r"hx must be a pair \(h, c\) of tensors"):
        rnn.LSTMCell(3, 4)(mg.randn(2, 3), (mg.zeros(2, 4), None))
    with pytest.raises(ValueError, match=r"'tanh' or 'relu', got 'gelu'"):
        rnn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        rnn.LSTMCell(3, 0)
    with pytest.raises(ValueError, match=r"input_size must be a positive int, got 2.5"):
        rnn.LSTMCell(2.5, 3)
    with pytest.raises(ValueError, match=r"impl must be one of"):
        rnn.GRUCell(3, 4, impl="cuda")
    for impl in IMPLS:
        with pytest.raises(TypeError, match=r"input has dtype float64 but the parameters are "
                                            r"float32"):
            rnn.GRUCell(3, 4, impl=impl)(mg.zeros(2, 3, dtype=np.float64))
        with pytest.raises(TypeError, match=r"hx has dtype float32 but the parameters are "
                                            r"float64"):
            rnn.RNNCell(3, 4, impl=impl, dtype=np.float64)(mg.zeros(2, 3, dtype=np.float64),
                                                           mg.zeros(2, 4))


# ------------------------------------------------------------------------------ interop
def torch_like_state(mode, hidden, input_size, bias, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    state = {"weight_ih": rng.uniform(-1, 1, (G * hidden, input_size)),
             "weight_hh": rng.uniform(-1, 1, (G * hidden, hidden))}
    if bias:
        state["bias_ih"] = rng.uniform(-1, 1, G * hidden)
        state["bias_hh"] = rng.uniform(-1, 1, G * hidden)
    return state


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("mode", "nonlinearity"), [("RNN", "tanh"), ("RNN", "relu"),
                                                    ("LSTM", "tanh"), ("GRU", "tanh")])
def test_load_torch_state_dict_reproduces_torch_equations(mode, nonlinearity, impl, bias):
    state = torch_like_state(mode, H, H_IN, bias)
    options = {"nonlinearity": nonlinearity} if mode == "RNN" else {}
    if mode == "GRU":
        options["reset_after"] = True
    cell = build(mode, options, bias=bias, impl=impl)
    cell.load_torch_state_dict({k: v.tolist() for k, v in state.items()})  # any array-like
    states = states_for(mode, N, H)
    expected = [s.data for s in states]
    for t in range(3):
        x = rand(N, H_IN, seed=20 + t)
        states = as_list(cell(x, hx_arg(mode, states)))
        expected = torch_step(mode, nonlinearity, state, x.data, expected)
        for got, want in zip(states, expected, strict=True):
            np.testing.assert_allclose(got.data, want, **F64)
    # and back: PyTorch's equations on the exported weights give the same numbers
    exported = cell.torch_state_dict()
    assert set(exported) == set(state)
    x = rand(N, H_IN, seed=30)
    h = states_for(mode, N, H, seed=31)
    np.testing.assert_allclose(
        torch_step(mode, nonlinearity, exported, x.data, [s.data for s in h])[0],
        as_list(cell(x, hx_arg(mode, h)))[0].data, **F64)


def test_load_torch_state_dict_errors_leave_the_cell_unchanged():
    cell = build("LSTM")
    before = cell.state_dict()
    good = torch_like_state("LSTM", H, H_IN, True)
    with pytest.raises(ValueError, match=r"LSTMCell\.load_torch_state_dict: keys that cannot be "
                                         r"mapped \['weight_hr'\]"):
        cell.load_torch_state_dict({**good, "weight_hr": np.zeros((H, H))})
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh'\]"):
        cell.load_torch_state_dict({k: v for k, v in good.items() if k != "bias_hh"})
    with pytest.raises(ValueError, match=r"missing keys \['bias_hh', 'bias_ih'\]"):
        cell.load_torch_state_dict({k: v for k, v in good.items() if "bias" not in k})
    with pytest.raises(RuntimeError, match=r"'weight_hh' has shape \(16, 5\).*\(16, 4\)"):
        cell.load_torch_state_dict({**good, "weight_hh": np.zeros((16, 5))})
    with pytest.raises(ValueError, match=r"cannot be mapped \['bias_hh', 'bias_ih'\]"):
        build("LSTM", bias=False).load_torch_state_dict(good)
    for name, value in cell.state_dict().items():
        np.testing.assert_array_equal(value, before[name])

    gru = build("GRU")
    before = gru.state_dict()
    with pytest.raises(ValueError, match=r"reset_after=True"):
        gru.load_torch_state_dict(torch_like_state("GRU", H, H_IN, True))
    with pytest.raises(ValueError, match=r"no PyTorch equivalent.*reset_after=True"):
        gru.torch_state_dict()
    with pytest.raises(ValueError, match=r"no PyTorch equivalent"):
        build("GRU", bias=False).torch_state_dict()
    for name, value in gru.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_torch_state_dict_round_trip_keeps_every_parameter():
    for mode, options in VARIANTS[:3] + VARIANTS[4:]:
        for bias in (True, False):
            cell = build(mode, options, bias=bias, seed=1)
            again = build(mode, options, bias=bias, seed=2)
            again.load_torch_state_dict(cell.torch_state_dict())
            for name, value in cell.state_dict().items():
                np.testing.assert_allclose(again.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(("mode", "nonlinearity"), [("RNN", "tanh"), ("RNN", "relu"),
                                                    ("LSTM", "tanh"), ("GRU", "tanh")])
def test_cell_matches_torch(mode, nonlinearity, bias):
    """Optional: values and gradients against PyTorch's own cells over three steps."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    options = {"nonlinearity": nonlinearity} if mode == "RNN" else {}
    reference = getattr(torch.nn, f"{mode}Cell")(H_IN, H, bias=bias, **options).double()
    if mode == "GRU":
        options["reset_after"] = True
    cell = build(mode, options, bias=bias)
    cell.load_torch_state_dict({k: v.detach().numpy() for k, v in
                                reference.state_dict().items()})
    xs = np.random.default_rng(0).standard_normal((3, N, H_IN))
    h0 = np.random.default_rng(1).standard_normal((2, N, H))
    x_ours = [mg.tensor(x, requires_grad=True) for x in xs]
    x_torch = [torch.tensor(x, requires_grad=True) for x in xs]
    ours = [mg.tensor(h, requires_grad=True) for h in h0[:len(states_for(mode, 1))]]
    theirs = [torch.tensor(h, requires_grad=True) for h in h0[:len(ours)]]
    s_ours, s_torch = list(ours), list(theirs)
    for x_o, x_t in zip(x_ours, x_torch, strict=True):
        s_ours = as_list(cell(x_o, hx_arg(mode, s_ours)))
        out = reference(x_t, hx_arg(mode, s_torch))
        s_torch = list(out) if isinstance(out, tuple) else [out]
    for a, b in zip(s_ours, s_torch, strict=True):
        np.testing.assert_allclose(a.data, b.detach().numpy(), **F64)
    weights = np.random.default_rng(2).standard_normal((N, H))
    (s_ours[0] * mg.tensor(weights)).sum().backward()
    (s_torch[0] * torch.tensor(weights)).sum().backward()
    for a, b in zip(x_ours + ours, x_torch + theirs, strict=True):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), **F64)
    grad_w = cell.weight_hh.grad.data.copy()
    torch_grad_w = reference.weight_hh.grad.numpy().copy()
    if mode == "GRU":  # our z rows are the negated PyTorch ones
        torch_grad_w[H:2 * H] *= -1
    np.testing.assert_allclose(grad_w, torch_grad_w, **F64)
