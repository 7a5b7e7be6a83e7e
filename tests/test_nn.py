"""Tests of minigrad.nn: Module, Parameter, layers, init and gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.gradcheck import gradcheck
from minigrad.nn import init
from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_, zero_grad_


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(np.ones((2, 3)))
        self.weight_hh_l0 = nn.Parameter(np.ones((2, 2)))
        self.register_buffer("steps", np.zeros(1, dtype=np.int64))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.rnn = Inner()
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(2, 4)
        self.register_buffer("running", np.zeros(4, dtype=np.float32))
        self.register_buffer("cache", np.zeros(4, dtype=np.float32), persistent=False)

    def forward(self, x):
        return self.head(x)


def _through(module, names):
    """``fn(x, *params)`` running ``module`` with its named parameters swapped for ``params``,
    so that ``gradcheck`` can perturb them."""
    def fn(x, *params):
        saved = dict(module._parameters)
        module._parameters.update(zip(names, params, strict=True))
        try:
            return module(x)
        finally:
            module._parameters.update(saved)
    return fn


# ------------------------------------------------------------------ Parameter
def test_parameter_is_a_leaf_that_requires_grad():
    p = nn.Parameter(np.zeros((2, 3)))
    assert isinstance(p, mg.Tensor) and p.is_leaf and p.requires_grad
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p * 2) is mg.Tensor  # results of ops are plain tensors
    assert nn.Parameter().shape == (0,)


# ------------------------------------------------------------------ registration
def test_named_parameters_are_dotted_and_in_assignment_order():
    model = Model()
    assert [n for n, _ in model.named_parameters()] == [
        "encoder.scale", "encoder.embed.weight", "encoder.rnn.weight_ih_l0",
        "encoder.rnn.weight_hh_l0", "head.weight", "head.bias"]
    assert [n for n, _ in model.named_children()] == ["encoder", "head"]
    assert list(model.children()) == [model.encoder, model.head]
    assert [type(m).__name__ for m in model.modules()] == [
        "Model", "Encoder", "Embedding", "Inner", "Linear"]
    assert [n for n, _ in model.named_modules()][:3] == ["", "encoder", "encoder.embed"]
    assert [n for n, _ in model.named_buffers()] == ["running", "cache", "encoder.rnn.steps"]
    assert len(list(model.parameters(recurse=False))) == 0


def test_state_dict_lists_parameters_then_buffers_per_module_and_copies():
    model = Model()
    state = model.state_dict()
    assert list(state) == ["running", "encoder.scale", "encoder.embed.weight",
                           "encoder.rnn.weight_ih_l0", "encoder.rnn.weight_hh_l0",
                           "encoder.rnn.steps", "head.weight", "head.bias"]
    assert all(type(v) is np.ndarray for v in state.values())
    state["head.bias"][...] = 100.0
    assert not np.any(model.head.bias.data == 100.0)


def test_reassignment_and_none_unregister():
    model = Model()
    model.head = nn.Linear(2, 4, bias=False)
    assert model.head.bias is None
    assert "head.bias" not in model.state_dict()
    model.head = None
    assert model.head is None and "head" not in dict(model.named_children())
    with pytest.raises(TypeError, match="parameter 'weight'"):
        model.encoder.embed.weight = mg.ones(5, 3)  # a Tensor, not a Parameter
    del model.encoder.scale
    assert "encoder.scale" not in model.state_dict()


def test_shared_parameter_counted_once_but_saved_under_each_name():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    net = nn.Sequential(a, b)
    assert len(list(net.parameters())) == 3
    assert net.num_parameters() == 9 + 3 + 3
    assert {"0.weight", "1.weight"} <= set(net.state_dict())


def test_tied_weights_round_trip_and_deepcopy_makes_independent_parameters():
    import copy

    embed = nn.Embedding(4, 3)
    out = nn.Linear(3, 4, bias=False)
    out.weight = embed.weight
    net = nn.Sequential(embed, out)
    state = net.state_dict()
    assert list(state) == ["0.weight", "1.weight"]
    net.load_state_dict(state)
    assert net[1].weight is net[0].weight
    twin = copy.deepcopy(net)
    assert isinstance(twin[0].weight, nn.Parameter) and twin[0].weight is not embed.weight
    assert twin[1].weight is twin[0].weight  # the tie survives the copy
    np.testing.assert_array_equal(twin[0].weight.data, embed.weight.data)


def test_assignment_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_missing_attribute_error_names_the_class():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = nn.Linear(1, 1).nope


def test_num_parameters():
    model = Model()
    expected = 5 * 3 + 6 + 4 + 1 + 2 * 4 + 4
    assert model.num_parameters() == expected
    model.encoder.embed.weight.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == expected - 15
    assert nn.Linear(10, 7).num_parameters() == 77


# ------------------------------------------------------------------ load_state_dict
def test_load_state_dict_round_trip_keeps_parameter_objects():
    source, target = Model(), Model()
    weight = target.head.weight
    result = target.load_state_dict(source.state_dict())
    assert result == nn.IncompatibleKeys([], [])
    assert target.head.weight is weight
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values(),
                            strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("head.bias"), "missing key\\(s\\): head.bias"),
    (lambda s: s.update(extra=np.zeros(1)), "unexpected key\\(s\\): extra"),
    (lambda s: s.update({"head.weight": np.zeros((2, 4))}),
     "'head.weight' has shape \\(2, 4\\) in the state dict but \\(4, 2\\)"),
    (lambda s: s.update({"head.bias": np.zeros(4, dtype=np.int64)}),
     "'head.bias' has dtype int64"),
])
def test_failed_load_names_the_problem_and_leaves_the_module_unchanged(change, message):
    model = Model()
    before = model.state_dict()
    state = {k: np.full_like(v, 7) for k, v in Model().state_dict().items()}
    change(state)
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_non_strict_load_reports_keys_but_still_checks_shapes():
    model = Model()
    state = Model().state_dict()
    del state["head.bias"]
    state["decoder.weight"] = np.zeros(3)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["head.bias"]
    assert result.unexpected_keys == ["decoder.weight"]
    np.testing.assert_array_equal(model.head.weight.data, state["head.weight"])
    state["head.weight"] = np.zeros(3)
    with pytest.raises(RuntimeError, match="shape"):
        model.load_state_dict(state, strict=False)


def test_load_converts_float_precision_and_accepts_tensors():
    model = nn.Linear(2, 2)
    model.load_state_dict({"weight": mg.tensor(np.eye(2)), "bias": np.ones(2)})
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, np.eye(2))


# ------------------------------------------------------------------ modes, grads, dtype
def test_train_eval_are_recursive_and_switch_dropout():
    mg.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = mg.ones(2000)
    np.testing.assert_array_equal(net[1](x).data, x.data)
    net.train()
    out = net[1](x).data
    assert set(np.unique(out)) == {0.0, 2.0}
    assert 0.45 < np.mean(out == 0) < 0.55
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(1.5)


def test_zero_grad_sets_none_or_zeros():
    net = nn.Linear(3, 2)
    net(mg.ones(1, 3)).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(net.weight.grad.data, 0)
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None


def test_zero_grad_helper_is_shared_by_modules_and_optimizers():
    net = nn.Linear(3, 2)
    optimizer = mg.optim.SGD(net.parameters(), lr=0.1)
    for clear in (lambda: net.zero_grad(False), lambda: optimizer.zero_grad(False),
                  lambda: zero_grad_(net.parameters(), set_to_none=False)):
        net(mg.ones(1, 3)).sum().backward()
        grad = net.weight.grad
        clear()
        assert net.weight.grad is grad and np.all(grad.data == 0)  # zeroed in place
    for clear in (net.zero_grad, optimizer.zero_grad, lambda: zero_grad_(net.parameters())):
        net(mg.ones(1, 3)).sum().backward()
        clear()
        assert net.weight.grad is None and net.bias.grad is None
    single = nn.Parameter(np.ones(2))
    single.grad = mg.tensor([1.0, 2.0])
    zero_grad_(single)
    assert single.grad is None


def test_to_double_keeps_parameter_identity_and_converts_grads_and_buffers():
    model = Model()
    weight = model.head.weight
    model.head(mg.ones(1, 2)).sum().backward()
    assert model.double() is model
    assert model.head.weight is weight and weight.dtype == np.float64
    assert weight.grad.dtype == np.float64
    assert model.running.dtype == np.float64
    assert model.encoder.rnn.steps.dtype == np.int64  # integer buffers stay
    assert model.float().head.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        model.to(np.int32)


def test_apply_visits_children_first_then_self():
    model = Model()
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Embedding", "Inner", "Encoder", "Linear", "Model"]


def test_requires_grad_freezes_every_parameter():
    model = Model().requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_repr_is_nested_like_pytorch():
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(),
                        nn.ModuleList([nn.Embedding(10, 3, padding_idx=0), nn.Dropout(0.1)]))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=8, bias=True)\n"
        "  (1): Tanh()\n"
        "  (2): ModuleList(\n"
        "    (0): Embedding(10, 3, padding_idx=0)\n"
        "    (1): Dropout(p=0.1)\n"
        "  )\n"
        ")")


# ------------------------------------------------------------------ layers
def test_linear_forward_init_and_shapes():
    mg.manual_seed(1)
    fc = nn.Linear(16, 5)
    bound = 1 / math.sqrt(16)
    assert fc.weight.shape == (5, 16) and fc.bias.shape == (5,)
    assert np.abs(fc.weight.data).max() <= bound and np.abs(fc.bias.data).max() <= bound
    assert np.abs(fc.weight.data).max() > 0.8 * bound  # spread over the whole range
    x = np.random.default_rng(0).standard_normal((3, 7, 16)).astype(np.float32)
    out = fc(mg.tensor(x))
    assert out.shape == (3, 7, 5)
    np.testing.assert_allclose(out.data, x @ fc.weight.data.T + fc.bias.data, rtol=1e-5)
    assert nn.Linear(4, 2, bias=False).bias is None


def test_linear_gradcheck_through_the_module():
    mg.manual_seed(2)
    fc = nn.Linear(4, 3, dtype=np.float64)
    x = mg.randn(2, 5, 4, dtype=np.float64, requires_grad=True)
    w = mg.tensor(fc.weight.data, requires_grad=True)
    b = mg.tensor(fc.bias.data, requires_grad=True)
    assert gradcheck(_through(fc, ["weight", "bias"]), [x, w, b])
    assert fc.weight.grad is None  # the module's own parameters were not touched


def test_embedding_forward_and_padding_row():
    mg.manual_seed(3)
    emb = nn.Embedding(6, 4, padding_idx=-1)
    assert emb.padding_idx == 5
    np.testing.assert_array_equal(emb.weight.data[5], 0)
    assert 0.3 < emb.weight.data[:5].std() < 2.0
    idx = np.array([[0, 5, 2], [5, 5, 1]])
    out = emb(idx)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    (out * out).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[5], 0)
    assert np.all(emb.weight.grad.data[[0, 1, 2]] != 0)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)


def test_embedding_gradcheck_through_the_module():
    # The padding row is deliberately not differentiable (its gradient is zero although the
    # output depends on it), so the checked indices avoid it; repeats test accumulation.
    mg.manual_seed(4)
    emb = nn.Embedding(5, 3, padding_idx=1, dtype=np.float64)
    w = mg.tensor(emb.weight.data, requires_grad=True)
    idx = mg.tensor([[0, 3, 4], [4, 4, 2]])
    assert gradcheck(_through(emb, ["weight"]), [idx, w])


def test_embedding_from_pretrained():
    table = np.arange(6.0).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.dtype == np.float64  # array's dtype
    np.testing.assert_array_equal(emb(mg.tensor([2, 0])).data, table[[2, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    table[0, 0] = 99.0
    assert emb.weight.data[0, 0] == 0.0  # a copy


def test_embedding_from_pretrained_list_is_float32_and_does_not_draw_random_numbers():
    mg.manual_seed(0)
    expected_next = mg.randn(3).data
    mg.manual_seed(0)
    emb = nn.Embedding.from_pretrained([[0.5, 1.0], [2.0, 3.0], [4.0, 5.0]], padding_idx=0)
    assert emb.weight.dtype == np.float32 and emb.weight.shape == (3, 2)
    assert emb.padding_idx == 0 and emb.weight.data[0].tolist() == [0.5, 1.0]  # kept as given
    np.testing.assert_array_equal(mg.randn(3).data, expected_next)  # the RNG did not move
    from_tensor = nn.Embedding.from_pretrained(mg.tensor(np.ones((2, 4))), freeze=False)
    assert from_tensor.weight.dtype == np.float64 and from_tensor.weight.requires_grad
    with pytest.raises(ValueError, match=r"expected a \(V, D\) table, got shape \(3,\)"):
        nn.Embedding.from_pretrained([1.0, 2.0, 3.0])


def test_sequential_chains_indexes_and_slices():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Sigmoid())
    assert len(net) == 4 and isinstance(net[-1], nn.Sigmoid)
    x = mg.randn(5, 3)
    expected = net[3](net[2](net[1](net[0](x))))
    np.testing.assert_array_equal(net(x).data, expected.data)
    head = net[1:3]
    assert isinstance(head, nn.Sequential) and [n for n, _ in head.named_children()] == ["1", "2"]
    named = nn.Sequential({"fc": nn.Linear(1, 1), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    with pytest.raises(IndexError, match="out of range"):
        net[4]
    with pytest.raises(TypeError, match="Sequential indices must be integers"):
        net["0"]


def test_module_list_behaves_like_a_list_and_registers_children():
    layers = nn.ModuleList([nn.Linear(2, 2)])
    layers.append(nn.Linear(2, 3)).extend([nn.Tanh(), nn.Linear(3, 1)])
    assert len(layers) == 4 and layers[-1].out_features == 1
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "Tanh", "Linear"]
    layers[2] = nn.ReLU()
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert isinstance(layers[2], nn.ReLU)
    layers.insert(0, nn.Sigmoid())
    del layers[1]
    assert [type(m).__name__ for m in layers] == ["Sigmoid", "Linear", "ReLU", "Linear"]
    assert [n for n, _ in layers.named_parameters()] == ["1.weight", "1.bias", "3.weight",
                                                          "3.bias"]
    assert len(layers[1:]) == 3

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(3))

    assert Stack().num_parameters() == 18
    with pytest.raises(NotImplementedError):
        layers(mg.ones(1))
    assert isinstance(layers[::2], nn.ModuleList) and \
        [n for n, _ in layers[::2].named_children()] == ["0", "1"]  # renumbered


def test_a_failed_module_list_insert_or_assignment_leaves_the_list_unchanged():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Tanh()])
    before = list(layers)
    for change in (lambda: layers.insert(1, "not a module"), lambda: layers.insert(0, None),
                   lambda: layers.__setitem__(0, 3)):
        with pytest.raises(TypeError, match="ModuleList items must be Modules"):
            change()
        assert list(layers) == before
        assert [n for n, _ in layers.named_children()] == ["0", "1"]


# ------------------------------------------------------------------ init
def test_init_is_reproducible_with_manual_seed():
    a, b = mg.zeros(20, 30), mg.zeros(20, 30)
    mg.manual_seed(7)
    init.xavier_uniform_(a)
    mg.manual_seed(7)
    init.xavier_uniform_(b)
    np.testing.assert_array_equal(a.data, b.data)


def test_init_fills_in_place_with_the_expected_statistics():
    mg.manual_seed(0)
    w = nn.Parameter(np.zeros((400, 300), dtype=np.float32))
    data = w.data
    assert init.uniform_(w, -2, 3) is w and w.data is data
    assert -2 <= w.data.min() < -1.9 and 2.9 < w.data.max() < 3
    init.normal_(w, 1.0, 0.5)
    assert abs(w.data.mean() - 1.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    fan_in, fan_out = 300, 400
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    init.xavier_normal_(w)
    assert abs(w.data.std() - math.sqrt(2 / (fan_in + fan_out))) < 1e-3
    init.kaiming_uniform_(w, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.data.std() - math.sqrt(2 / fan_out)) < 1e-3
    init.kaiming_uniform_(w, a=math.sqrt(5))  # PyTorch's Linear default: 1 / sqrt(fan_in)
    assert np.abs(w.data).max() <= 1 / math.sqrt(fan_in)
    init.constant_(w, 0.25)
    np.testing.assert_array_equal(w.data, 0.25)
    init.ones_(w)
    np.testing.assert_array_equal(w.data, 1)
    init.zeros_(w)
    np.testing.assert_array_equal(w.data, 0)
    assert w.dtype == np.float32 and w.grad is None


def test_fans_of_higher_dimensional_weights():
    mg.manual_seed(0)
    w = mg.zeros(64, 8, 3, 3)
    init.kaiming_normal_(w, nonlinearity="linear")
    assert abs(w.data.std() - 1 / math.sqrt(8 * 9)) < 0.01


@pytest.mark.parametrize("shape", [(6, 6), (10, 4), (4, 10), (5, 2, 3)])
def test_orthogonal_is_orthonormal_for_any_shape(shape):
    mg.manual_seed(5)
    w = mg.zeros(*shape, dtype=np.float64)
    init.orthogonal_(w, gain=1.0)
    q = w.data.reshape(shape[0], -1)
    if q.shape[0] >= q.shape[1]:
        np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-12)
    init.orthogonal_(w, gain=3.0)
    q = w.data.reshape(shape[0], -1)
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, 9 * np.eye(small), atol=1e-11)


def test_orthogonal_sign_fix_makes_r_diagonal_positive():
    mg.manual_seed(6)
    w = mg.zeros(5, 5, dtype=np.float64)
    init.orthogonal_(w)
    mg.manual_seed(6)
    gaussian = mg.random.generator().standard_normal((5, 5))
    _, r = np.linalg.qr(gaussian)
    q = w.data
    # w = Q diag(sign(diag R)), so that w^T gaussian = diag(sign) R has a positive diagonal.
    assert np.all(np.diag(q.T @ gaussian) > 0)
    np.testing.assert_allclose(np.abs(np.diag(q.T @ gaussian)), np.abs(np.diag(r)))


def test_init_errors_and_gains():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(mg.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(mg.tensor([1, 2]))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(mg.zeros(2, 2), mode="fan")
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")


# ------------------------------------------------------------------ gradient clipping
def _params_with_grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(np.zeros(s)) for s in [(3, 4), (4,), (2, 2, 2)]]
    for p in params:
        p.grad = mg.tensor(scale * rng.standard_normal(p.shape))
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
def test_clip_grad_norm_matches_numpy(norm_type):
    params = _params_with_grads()
    grads = [p.grad.data.copy() for p in params]
    flat = np.concatenate([g.ravel() for g in grads])
    expected = np.linalg.norm(flat, ord=norm_type)
    total = clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type)
    assert isinstance(total, mg.Tensor) and total.dtype == np.float64
    assert total.item() == pytest.approx(expected, rel=1e-12)
    coefficient = 0.5 / (expected + 1e-6)
    for p, g in zip(params, grads, strict=True):
        np.testing.assert_allclose(p.grad.data, g * coefficient, rtol=1e-12)
    clipped = np.concatenate([p.grad.data.ravel() for p in params])
    assert np.linalg.norm(clipped, ord=norm_type) == pytest.approx(0.5, rel=1e-5)


def test_clip_grad_norm_leaves_small_gradients_and_skips_missing_ones():
    params = _params_with_grads(scale=1e-3)
    params.append(nn.Parameter(np.zeros(2)))  # grad None: skipped
    before = [p.grad.data.copy() for p in params[:3]]
    total = clip_grad_norm_(iter(params), max_norm=1.0)
    assert total.item() < 1.0
    for p, g in zip(params, before, strict=False):
        np.testing.assert_array_equal(p.grad.data, g)
    single = nn.Parameter(np.zeros(4, dtype=np.float32))
    single.grad = mg.tensor(np.full(4, 3.0, dtype=np.float32))
    assert clip_grad_norm_(single, 1.0).item() == pytest.approx(6.0)
    np.testing.assert_allclose(single.grad.data, 0.5, rtol=1e-5)
    assert clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_clip_grad_norm_non_finite():
    params = _params_with_grads()
    params[1].grad.data[0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite|nan or inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert np.isinf(params[1].grad.data[0])  # untouched by the refused call
    total = clip_grad_norm_(params, 1.0)  # as in PyTorch: scaled by 0, so inf * 0 = nan
    assert math.isinf(total.item())
    assert np.isnan(params[1].grad.data[0]) and np.all(params[0].grad.data == 0)


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_clip_grad_norm_with_a_nan_gradient_makes_every_gradient_nan_like_pytorch():
    params = _params_with_grads()
    params[1].grad.data[2] = np.nan
    total = clip_grad_norm_(params, 1.0)
    assert np.isnan(total.item())
    assert all(np.all(np.isnan(p.grad.data)) for p in params)  # the coefficient is nan


def _torch_clip(torch, grads, max_norm, norm_type=2.0):
    params = [torch.zeros(g.shape, dtype=getattr(torch, str(g.dtype)), requires_grad=True)
              for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g.copy())
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    return total.numpy(), [p.grad.numpy() for p in params]


def _our_clip(grads, max_norm, norm_type=2.0):
    params = [nn.Parameter(np.zeros(g.shape, dtype=g.dtype)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = mg.tensor(g.copy())
    total = clip_grad_norm_(params, max_norm, norm_type)
    return total.data, [p.grad.data for p in params]


def test_clip_grad_norm_float32_matches_pytorch_bit_for_bit_for_a_given_total():
    """Totals that both libraries compute exactly (3-4-12-... gradients, norm 13 * 2^k), so
    that the coefficient and the scaled gradients can be compared to the last bit."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    base = [np.array([3.0, 4.0], dtype=np.float32), np.array([[12.0]], dtype=np.float32)]
    for _ in range(300):
        scale = np.float32(2.0 ** int(rng.integers(-20, 20)))
        grads = [g * scale for g in base]
        max_norm = float(10 ** rng.uniform(-3, 1)) * float(scale)
        total, clipped = _our_clip(grads, max_norm)
        expected_total, expected = _torch_clip(torch, grads, max_norm)
        assert total == expected_total and total.dtype == np.float32
        for ours, theirs in zip(clipped, expected, strict=True):
            np.testing.assert_array_equal(ours, theirs, err_msg=f"max_norm={max_norm}")


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_float32_agrees_with_pytorch(norm_type):
    """PyTorch sums the norm in float32 (ours: float64, then rounded), so totals may differ
    in the last ulp; non-finite totals give the same nans and zeros."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for trial in range(50):
        grads = [rng.standard_normal(s).astype(np.float32) * np.float32(10 ** rng.uniform(-3, 3))
                 for s in [(7, 5), (11,), (2, 3, 4)]]
        if trial % 10 == 9:
            grads[1][3] = np.inf if trial % 20 == 9 else np.nan
        max_norm = float(10 ** rng.uniform(-2, 2))
        total, clipped = _our_clip(grads, max_norm, norm_type)
        expected_total, expected = _torch_clip(torch, grads, max_norm, norm_type)
        np.testing.assert_allclose(total, expected_total, rtol=2e-7)
        for ours, theirs in zip(clipped, expected, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=5e-7, atol=0)


def test_clip_grad_value():
    params = _params_with_grads(scale=3.0)
    expected = [np.clip(p.grad.data, -1.5, 1.5) for p in params]
    clip_grad_value_(params, 1.5)
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_array_equal(p.grad.data, e)
    with pytest.raises(ValueError):
        clip_grad_value_(params, -1.0)
