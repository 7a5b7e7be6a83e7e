"""Tests of minigrad.optim: SGD, Adam, AdamW against PyTorch's formulas; LR schedules;
state dicts; and small models that actually learn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import nn, optim
from minigrad.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, StepLR
from minigrad.serialization import load, save

P0 = np.array([0.5, -1.5, 2.0])
C = np.array([1.0, 3.0, 0.5])
D = np.array([0.2, -0.1, 0.7])


def _quadratic_loss(p):
    """``sum(C p^2 / 2 + D p)``, whose gradient is ``C p + D``."""
    return (mg.tensor(C / 2) * p * p + mg.tensor(D) * p).sum()


def _run(make_optimizer, steps, loss_fn=_quadratic_loss):
    p = nn.Parameter(P0.copy())
    optimizer = make_optimizer([p])
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(p).backward()
        optimizer.step()
    return p.data, optimizer


# ---------------------------------------------------------------- reference formulas
def reference_sgd(steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD's documented algorithm, written independently."""
    p, b = P0.copy(), None
    for t in range(1, steps + 1):
        g = C * p + D
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def reference_adam(steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                   amsgrad=False, decoupled=False):
    """torch.optim.Adam / AdamW's documented algorithm (with m-hat and v-hat)."""
    b1, b2 = betas
    p = P0.copy()
    m, v, v_max = np.zeros(3), np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = C * p + D
        if weight_decay and decoupled:
            p = p - lr * weight_decay * p
        elif weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


# ---------------------------------------------------------------- SGD
@pytest.mark.parametrize("options", [
    {}, {"momentum": 0.9}, {"momentum": 0.9, "dampening": 0.3}, {"weight_decay": 0.1},
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
])
def test_sgd_matches_pytorch_formulas(options):
    got, _ = _run(lambda ps: optim.SGD(ps, lr=0.1, **options), steps=5)
    np.testing.assert_allclose(got, reference_sgd(5, lr=0.1, **options), rtol=1e-12, atol=1e-12)


def test_sgd_momentum_by_hand():
    """Constant gradient g: the buffer starts as g (not (1 - dampening) g), then b = m b + g."""
    g = np.array([1.0, -2.0, 0.5])
    loss = lambda p: (mg.tensor(g) * p).sum()  # noqa: E731
    got, _ = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), 2, loss)
    np.testing.assert_allclose(got, P0 - 0.1 * g - 0.1 * 1.9 * g, rtol=1e-14)
    got, _ = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5), 2, loss)
    np.testing.assert_allclose(got, P0 - 0.1 * g - 0.1 * 1.4 * g, rtol=1e-14)
    got, _ = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True), 1, loss)
    np.testing.assert_allclose(got, P0 - 0.1 * 1.9 * g, rtol=1e-14)


# ---------------------------------------------------------------- Adam / AdamW
@pytest.mark.parametrize("options", [
    {}, {"lr": 0.05, "betas": (0.8, 0.9)}, {"lr": 0.01, "weight_decay": 0.3},
    {"lr": 0.05, "amsgrad": True}, {"lr": 0.1, "eps": 0.5},
])
def test_adam_matches_pytorch_formulas(options):
    got, _ = _run(lambda ps: optim.Adam(ps, **options), steps=6)
    np.testing.assert_allclose(got, reference_adam(6, **options), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"lr": 0.05, "weight_decay": 0.5},
                                     {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}])
def test_adamw_matches_pytorch_formulas(options):
    got, _ = _run(lambda ps: optim.AdamW(ps, **options), steps=6)
    options = {"weight_decay": 1e-2, **options}
    expected = reference_adam(6, decoupled=True, **options)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_adam_and_adamw_by_hand():
    """Constant gradient g: bias correction makes m-hat = g and v-hat = g^2 at every step,
    so Adam moves each coordinate by lr * g / (|g| + eps)."""
    g = np.array([1.0, -2.0, 0.5])
    loss = lambda p: (mg.tensor(g) * p).sum()  # noqa: E731
    got, optimizer = _run(lambda ps: optim.Adam(ps, lr=0.1, eps=1e-3), 3, loss)
    np.testing.assert_allclose(got, P0 - 3 * 0.1 * g / (np.abs(g) + 1e-3), rtol=1e-13)
    assert next(iter(optimizer.state.values()))["step"] == 3
    got, _ = _run(lambda ps: optim.AdamW(ps, lr=0.1, eps=1e-3, weight_decay=0.5), 2, loss)
    p = P0.copy()
    for _ in range(2):
        p = p * (1 - 0.1 * 0.5) - 0.1 * g / (np.abs(g) + 1e-3)
    np.testing.assert_allclose(got, p, rtol=1e-13)


def test_float32_parameters_stay_float32():
    p = nn.Parameter(P0.astype(np.float32))
    for optimizer in (optim.SGD([p], lr=0.1, momentum=0.9), optim.Adam([p]),
                      optim.AdamW([p])):
        _quadratic_loss(p).backward()
        optimizer.step()
        assert p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in optimizer.state[p].values()
                   if isinstance(v, np.ndarray))


def _against_torch(torch, make_ours, make_theirs, steps, size=4000, seed=0):
    """The same float32 parameters and gradients through both optimizers; yields the
    parameters (ours, PyTorch's) after each step, and the state tensors."""
    rng = np.random.default_rng(seed)
    start = rng.standard_normal(size).astype(np.float32)
    ours, theirs = nn.Parameter(start.copy()), torch.tensor(start.copy(), requires_grad=True)
    our_optimizer, their_optimizer = make_ours([ours]), make_theirs([theirs])
    for _ in range(steps):
        grad = (rng.standard_normal(size) * 10 ** rng.uniform(-2, 1)).astype(np.float32)
        ours.grad, theirs.grad = mg.tensor(grad.copy()), torch.tensor(grad.copy())
        our_optimizer.step()
        their_optimizer.step()
        yield ours.data, theirs.detach().numpy(), our_optimizer.state[ours], \
            their_optimizer.state[theirs]


SGD_OPTIONS = [{"lr": 0.1}, {"lr": 0.03, "momentum": 0.9},
               {"lr": 0.01, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1},
               {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}]


@pytest.mark.parametrize("options", SGD_OPTIONS)
def test_sgd_float32_matches_pytorch_bit_for_bit(options):
    torch = pytest.importorskip("torch")
    steps = _against_torch(torch, lambda ps: optim.SGD(ps, **options),
                           lambda ps: torch.optim.SGD(ps, **options), steps=8)
    for ours, theirs, our_state, their_state in steps:
        np.testing.assert_array_equal(ours, theirs)
        if "momentum" in options:
            np.testing.assert_array_equal(our_state["momentum_buffer"],
                                          their_state["momentum_buffer"].numpy())


@pytest.mark.parametrize("options", [{"lr": 1e-2}, {"lr": 1e-2, "betas": (0.8, 0.9)},
                                     {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_float32_agrees_with_pytorch_to_a_few_ulp(name, options):
    """Not bit for bit (see the Adam docstring): within 4 ulp of the parameters' scale
    after 20 steps, with no drift."""
    torch = pytest.importorskip("torch")
    steps = _against_torch(torch, lambda ps: getattr(optim, name)(ps, **options),
                           lambda ps: getattr(torch.optim, name)(ps, **options), steps=20)
    for ours, theirs, _, _ in steps:
        ulp = np.spacing(np.abs(theirs).max())
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=4 * ulp)


# ---------------------------------------------------------------- base class behaviour
def test_param_groups_defaults_and_skipped_parameters():
    a, b, frozen = (nn.Parameter(np.ones(2)) for _ in range(3))
    optimizer = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}, {"params": [frozen]}],
                          lr=0.1, momentum=0.0)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5, 0.1]
    a.grad, b.grad = mg.ones(2, dtype=np.float64), mg.ones(2, dtype=np.float64)
    optimizer.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)
    np.testing.assert_array_equal(frozen.data, 1.0)  # grad None: not updated
    assert frozen not in optimizer.state
    optimizer.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_with_closure_returns_the_loss():
    p = nn.Parameter(P0.copy())
    optimizer = optim.SGD([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = _quadratic_loss(p)
        loss.backward()
        return loss

    with mg.no_grad():
        loss = optimizer.step(closure)  # the closure records a graph even under no_grad
    assert loss.item() == pytest.approx(_quadratic_loss(mg.tensor(P0)).item())
    np.testing.assert_allclose(p.data, reference_sgd(1, lr=0.1), rtol=1e-14)


@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "invalid lr"),
    (lambda ps: optim.SGD(ps), "required optimization parameter 'lr'"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "invalid momentum"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "invalid weight_decay"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.Adam(ps, lr=-1), "invalid lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "invalid beta1"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "invalid beta2"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "invalid eps"),
    (lambda ps: optim.AdamW(ps, weight_decay=-0.1), "invalid weight_decay"),
    (lambda ps: optim.Adam(ps + ps), "more than once"),
    (lambda ps: optim.Adam([]), "empty"),
    (lambda ps: optim.Adam([ps[0] * 2]), "non-leaf"),
])
def test_invalid_options_are_refused(make, message):
    params = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match=message):
        make(params)


def test_a_single_tensor_is_refused_with_a_hint():
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)


# ---------------------------------------------------------------- state dicts
def _mlp(seed):
    mg.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 1, dtype=np.float64))


def _train(model, optimizer, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = mg.tensor(rng.standard_normal((16, 3)))
        y = mg.tensor(rng.standard_normal((16, 1)))
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_optimizer_state_dict_round_trip_through_a_file(make, tmp_path):
    model = _mlp(0)
    optimizer = make(model.parameters())
    _train(model, optimizer, 3, seed=1)
    state = optimizer.state_dict()
    assert set(state["state"]) == {"0", "1", "2", "3"}
    json.dumps(state["param_groups"])  # hyper-parameters are plain JSON
    save({"model": model.state_dict(), "optimizer": state}, tmp_path / "ckpt.npz")

    resumed_model = _mlp(99)
    resumed = make(resumed_model.parameters())
    checkpoint = load(tmp_path / "ckpt.npz")
    resumed_model.load_state_dict(checkpoint["model"])
    resumed.load_state_dict(checkpoint["optimizer"])
    assert resumed.param_groups[0].keys() == optimizer.param_groups[0].keys()
    _train(model, optimizer, 3, seed=2)
    _train(resumed_model, resumed, 3, seed=2)
    for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_state_dict_is_a_copy_and_restores_hyperparameters():
    model = _mlp(0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    _train(model, optimizer, 1, seed=0)
    state = optimizer.state_dict()
    state["state"]["0"]["exp_avg"][...] = 123.0
    assert not np.any(optimizer.state[model[0].weight]["exp_avg"] == 123.0)
    other = optim.Adam(_mlp(1).parameters(), lr=0.5, betas=(0.5, 0.6))
    other.load_state_dict(state)
    assert other.param_groups[0]["lr"] == 0.01
    assert other.param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["param_groups"].append(dict(s["param_groups"][0])), "parameter group"),
    (lambda s: s["param_groups"][0]["params"].pop(), "parameters in the state dict"),
    (lambda s: s["state"]["1"].update(exp_avg=np.zeros(5)), "shape"),
    (lambda s: s["state"].update({"9": {}}), "parameter 9"),
])
def test_optimizer_load_state_dict_errors_change_nothing(change, message):
    model = _mlp(0)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    _train(model, optimizer, 1, seed=0)
    state = optimizer.state_dict()
    fresh = optim.Adam(_mlp(0).parameters(), lr=0.3)
    change(state)
    with pytest.raises(ValueError, match=message):
        fresh.load_state_dict(state)
    assert fresh.state == {} and fresh.param_groups[0]["lr"] == 0.3


# ---------------------------------------------------------------- LR schedules
def _optimizer(lrs=(1.0,)):
    return optim.SGD([{"params": [nn.Parameter(np.ones(1))], "lr": lr} for lr in lrs], lr=1.0)


def _lrs(scheduler, epochs):
    values = [scheduler.get_last_lr()]
    for _ in range(epochs):
        scheduler.optimizer.step()
        scheduler.step()
        values.append(scheduler.get_last_lr())
    return values


def test_step_lr():
    scheduler = StepLR(_optimizer((1.0, 0.1)), step_size=3, gamma=0.5)
    values = _lrs(scheduler, 7)
    assert [v[0] for v in values] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert [v[1] for v in values] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025,
                                                    0.025], rel=1e-15)
    assert scheduler.optimizer.param_groups[0]["lr"] == 0.25
    with pytest.raises(ValueError, match="step_size"):
        StepLR(_optimizer(), step_size=0)


def test_cosine_annealing_lr():
    scheduler = CosineAnnealingLR(_optimizer((1.0, 0.5)), T_max=4, eta_min=0.1)
    values = _lrs(scheduler, 6)
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(7)]
    assert [v[0] for v in values] == pytest.approx(expected, rel=1e-14)
    assert values[2][0] == pytest.approx(0.55) and values[4][0] == pytest.approx(0.1)
    assert values[4][1] == pytest.approx(0.1) and values[0][1] == 0.5


def test_lambda_lr_and_get_last_lr_is_a_copy():
    scheduler = LambdaLR(_optimizer((2.0, 4.0)), [lambda e: 0.5**e, lambda e: 1 / (e + 1)])
    values = _lrs(scheduler, 2)
    assert values == [[2.0, 4.0], [1.0, 2.0], [0.5, 4 / 3]]
    scheduler.get_last_lr().append(0)
    assert len(scheduler.get_last_lr()) == 2
    with pytest.raises(ValueError, match="one per parameter group"):
        LambdaLR(_optimizer((1.0, 1.0)), [lambda e: 1.0])


def test_scheduler_state_dict_resumes_exactly(tmp_path):
    optimizer = _optimizer((1.0, 0.3))
    scheduler = CosineAnnealingLR(optimizer, T_max=10, eta_min=0.01)
    _lrs(scheduler, 4)
    save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
         tmp_path / "ckpt.npz")
    checkpoint = load(tmp_path / "ckpt.npz")

    resumed_optimizer = _optimizer((1.0, 0.3))
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed = CosineAnnealingLR(resumed_optimizer, T_max=10)
    resumed.load_state_dict(checkpoint["scheduler"])
    assert resumed.last_epoch == 4 and resumed.eta_min == 0.01
    assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert _lrs(resumed, 5) == _lrs(scheduler, 5)
    with pytest.raises(KeyError, match="unexpected"):
        resumed.load_state_dict({"bogus": 1})


def test_resuming_without_initial_lr_is_refused():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(_optimizer(), step_size=2, last_epoch=3)


# ---------------------------------------------------------------- models that learn
def test_linear_regression_with_sgd_recovers_the_weights():
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    true_w, true_b = np.array([[2.0, -3.0, 0.5]]), np.array([1.5])
    x = rng.standard_normal((128, 3))
    y = mg.tensor(x @ true_w.T + true_b)
    model = nn.Linear(3, 1, dtype=np.float64)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(300):
        optimizer.zero_grad()
        F.mse_loss(model(mg.tensor(x)), y).backward()
        optimizer.step()
    np.testing.assert_allclose(model.weight.data, true_w, atol=1e-6)
    np.testing.assert_allclose(model.bias.data, true_b, atol=1e-6)


def test_mlp_learns_a_nonlinear_function_with_adam_and_a_schedule():
    mg.manual_seed(0)
    x = np.linspace(-3, 3, 64, dtype=np.float32).reshape(-1, 1)
    y = mg.tensor(np.sin(x))
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    scheduler = StepLR(optimizer, step_size=200, gamma=0.3)
    losses = []
    for _ in range(400):
        optimizer.zero_grad()
        loss = F.mse_loss(model(mg.tensor(x)), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    assert losses[0] > 0.1 and losses[-1] < 5e-3


def test_classifier_learns_xor_with_cross_entropy():
    mg.manual_seed(1)
    x = mg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = mg.tensor([0, 1, 1, 0])
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = optim.AdamW(model.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    with mg.no_grad():
        assert model(x).argmax(-1).tolist() == [0, 1, 1, 0]
