"""The backward engine: accumulation, long graphs, retained and freed graphs, grad modes,
hooks, anomaly detection, scopes, dtypes and the order in which nodes are visited."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import REGISTRY, Function, topological_order


def leaf(values, dtype=np.float64):
    return mg.tensor(values, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------- accumulation
def test_tensor_used_twice_in_one_op_gets_both_gradients():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, -4.0, 6.0])
    y = leaf([1.0, 2.0])
    (y + y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [2.0, 2.0])


def test_diamond_graph_sums_both_paths():
    x = leaf([0.5, -1.0])
    y = x * 2  # used by both branches
    z = (y * 3 + y.exp()).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (3 + np.exp(2 * x.data)), rtol=1e-15)


def test_non_leaf_used_twice_and_leaf_used_in_several_ops():
    x = leaf([1.5, -0.5])
    h = x.tanh()
    out = (h * h + h * x + x).sum()
    out.backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad.data, (2 * t + x.data) * (1 - t * t) + t + 1, rtol=1e-14)


def test_gradients_accumulate_across_backward_calls_on_separate_graphs():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0 + 2.0, 2.0 + 4.0])
    x.zero_grad_()
    assert x.grad is None


def test_leaf_gradients_do_not_share_memory():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # add hands the same array to both inputs
    a.grad.data[0] = 100.0
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])


def test_constants_get_no_gradient():
    x, c = leaf([1.0, 2.0]), mg.tensor([3.0, 4.0], dtype=np.float64)
    (x * c).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    assert c.grad is None and not c.requires_grad


def test_backward_with_explicit_gradient_is_a_vector_jacobian_product():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    y.backward(gradient=np.array([[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_array_equal(x.grad.data, [[2.0, 0.0], [3.0, 16.0]])
    z = leaf([1.0, 2.0])
    z.backward(mg.tensor([5.0, 6.0]))  # a leaf root receives the gradient itself
    np.testing.assert_array_equal(z.grad.data, [5.0, 6.0])


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = leaf([1.0])
    y, c = x, 1.0 + 1e-5
    for _ in range(100_000):
        y = y * c
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [c ** 100_000], rtol=1e-10)
    del y  # dropping a 100,000-node graph must not overflow the stack either


# ---------------------------------------------------------------- freeing the graph
def test_retain_graph_allows_a_second_backward_and_doubles_the_grad():
    x = leaf([1.0, 3.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 12.0])


def test_second_backward_without_retain_graph_is_a_clear_error_and_changes_nothing():
    x = leaf([1.0, 3.0])
    y = (x.exp() * 2).sum()
    y.backward()
    before = x.grad.data.copy()
    with pytest.raises(RuntimeError, match=r"'sum'.*retain_graph=True.*detach"):
        y.backward()
    np.testing.assert_array_equal(x.grad.data, before)
    z = (x.exp() * 3).sum()  # a fresh graph works
    z.backward()
    np.testing.assert_allclose(x.grad.data, before + 3 * np.exp(x.data), rtol=1e-15)


def test_reusing_a_freed_subgraph_names_the_freed_op():
    x = leaf([1.0, 2.0])
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match=r"second time.*'exp'"):
        (h * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data), rtol=1e-15)
    (h.detach() * x).sum().backward()  # detaching cuts the freed part off
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(x.data), rtol=1e-15)


def test_saved_buffers_are_freed_after_backward_unless_retained():
    x = leaf([-1.0, 0.5, 2.0])
    y = x.clamp(0.0, 1.0)  # saves a temporary mask that only the node holds
    mask = weakref.ref(y.grad_fn.saved[0])
    y.sum().backward(retain_graph=True)
    assert mask() is not None
    y.sum().backward()
    assert mask() is None
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0, 0.0])


# ---------------------------------------------------------------- grad modes
def test_no_grad_and_enable_grad_nest_as_context_managers():
    x = leaf([1.0])
    assert mg.is_grad_enabled()
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
        with mg.enable_grad():
            assert mg.is_grad_enabled()
            z = x * 2
            with mg.no_grad():
                w = x * 2
        v = x * 2
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and not w.requires_grad
    assert not v.requires_grad
    assert z.requires_grad and z.grad_fn.name == "mul"
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_grad_modes_as_decorators_restore_the_mode_even_on_error():
    @mg.no_grad()
    def evaluate(t):
        return t * 2, inner(t)

    @mg.enable_grad()
    def inner(t):
        return t * 3

    @mg.no_grad()
    def fails():
        raise KeyError("boom")

    x = leaf([1.0])
    outer, nested = evaluate(x)
    assert not outer.requires_grad and nested.requires_grad
    assert mg.is_grad_enabled()
    with pytest.raises(KeyError):
        fails()
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        assert evaluate(x)[1].requires_grad
    assert (x * 2).requires_grad


def test_set_grad_enabled_called_plainly_switches_at_once_and_for_good():
    try:
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled() and not (leaf([1.0]) * 2).requires_grad
        mg.set_grad_enabled(True)
        assert mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)


@pytest.mark.parametrize("outer", [True, False])
def test_set_grad_enabled_as_a_context_manager_restores_the_mode_before_the_call(outer):
    with mg.set_grad_enabled(outer):
        for mode in (False, True):
            with mg.set_grad_enabled(mode):
                assert mg.is_grad_enabled() is mode
                with mg.set_grad_enabled(not mode):  # nested
                    assert mg.is_grad_enabled() is (not mode)
                assert mg.is_grad_enabled() is mode
            assert mg.is_grad_enabled() is outer
    assert mg.is_grad_enabled()


def test_set_grad_enabled_as_a_decorator_applies_only_during_each_call():
    seen = []

    @mg.set_grad_enabled(False)
    def evaluate(t, depth=0):
        seen.append(mg.is_grad_enabled())
        if depth == 0:
            with mg.enable_grad():
                evaluate(t, depth=1)  # re-entered (recursion): saves and restores again
            seen.append(mg.is_grad_enabled())
        return t * 2

    assert mg.is_grad_enabled()  # decorating did not switch the mode
    x = leaf([1.0])
    assert not evaluate(x).requires_grad
    assert seen == [False, False, False] and mg.is_grad_enabled()
    with mg.no_grad():
        evaluate(x)
        assert not mg.is_grad_enabled()  # the caller's mode comes back, not True
    with pytest.raises(TypeError):
        evaluate()  # an error inside still restores the mode
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(True)
    def train_step(t):
        return t * 3

    with mg.no_grad():
        assert train_step(x).requires_grad and not (x * 3).requires_grad


def test_one_set_grad_enabled_instance_can_be_entered_again_and_nested():
    off = mg.set_grad_enabled(False)
    mg.set_grad_enabled(True)  # the plain call above is undone by hand
    assert mg.is_grad_enabled()
    with off:
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            with off:  # the same instance, nested: restores the mode it found
                assert not mg.is_grad_enabled()
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    with mg.no_grad(), off:
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    with off:  # a third entry, after the others were left
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_detach_shares_data_and_stops_the_gradient():
    x = leaf([2.0, 3.0])
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.grad_fn is None
    (x * d).sum().backward()  # d is a constant: d(x * d)/dx = d
    np.testing.assert_array_equal(x.grad.data, [2.0, 3.0])
    y = (x * 2).detach()
    assert y.is_leaf and not y.requires_grad
    np.testing.assert_array_equal(y.data, [4.0, 6.0])
    z = x * 3
    assert z.detach_() is z and z.is_leaf and not z.requires_grad
    x.grad = None
    (x * z).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 9.0])


# ---------------------------------------------------------------- hooks and retain_grad
def test_hook_on_a_leaf_sees_the_total_gradient_once_and_may_replace_it():
    x = leaf([1.0, 2.0])
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.data.copy()))
    (x * x + x).sum().backward()  # two uses: the hook sees their sum once
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [3.0, 5.0])
    np.testing.assert_array_equal(x.grad.data, [3.0, 5.0])
    handle.remove()
    double = x.register_hook(lambda g: g * 2)
    x.grad = None
    (x * x).sum().backward()
    assert len(seen) == 1  # the removed hook is not called again
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])
    double.remove()
    double.remove()  # removing twice is harmless
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_hook_on_a_non_leaf_changes_what_flows_further():
    x = leaf([1.0, -2.0])
    y = x * 3
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.data.copy()) or g * 10)
    (y * y).sum().backward()
    np.testing.assert_array_equal(seen[0], 2 * y.data)  # d(y*y)/dy
    np.testing.assert_array_equal(x.grad.data, 3 * 10 * 2 * y.data)
    handle.remove()
    x.grad = None
    y = x * 3
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 3 * 2 * y.data)


def test_hooks_run_in_registration_order():
    x = leaf([1.0])
    y = x * 1
    y.register_hook(lambda g: g + 1)
    y.register_hook(lambda g: g * 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [(1 + 1) * 3])


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = leaf([1.0, 2.0])
    y, kept = x * x, x * 3
    kept.retain_grad()
    assert kept.retains_grad and not y.retains_grad
    (y * kept).sum().backward()
    assert y.grad is None
    np.testing.assert_array_equal(kept.grad.data, x.data ** 2)
    x.retain_grad()  # a leaf keeps its grad anyway: no-op
    assert not x.retains_grad


def test_retain_grad_on_the_root():
    x = leaf([1.0, 2.0])
    y = (x * 2).sum()
    y.retain_grad()
    y.backward()
    assert y.grad.item() == 1.0


# ---------------------------------------------------------------- anomaly and scopes
def test_detect_anomaly_names_the_op_and_scope_of_the_first_non_finite_gradient():
    x = leaf([0.0, 4.0])
    with mg.detect_anomaly():
        assert mg.is_anomaly_enabled()
        with mg.scope("t=3"):
            y = x.sqrt()
        loss = (y * 2).sum()
        with pytest.raises(FloatingPointError, match=r"'sqrt' \(scope 't=3'\).*input 0") as info, \
                np.errstate(divide="ignore"):
            loss.backward()
    assert not mg.is_anomaly_enabled()
    assert x.grad is None  # nothing was accumulated
    assert "created at" in str(info.value) and "test_autograd.py" in str(info.value)


def test_anomaly_mode_and_scope_as_decorators():
    @mg.detect_anomaly()
    @mg.scope("decoder")
    def step(t):
        assert mg.is_anomaly_enabled()
        return t.log()

    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"):
        y = step(x)
    assert y.grad_fn.scope == "decoder" and not mg.is_anomaly_enabled()
    with mg.detect_anomaly(), np.errstate(divide="ignore"), \
            pytest.raises(FloatingPointError, match=r"'log' \(scope 'decoder'\)"):
        y.sum().backward()


def test_without_anomaly_mode_the_inf_reaches_the_gradient():
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad.data[0]) and x.grad.data[1] == 0.25


def test_anomaly_mode_passes_finite_gradients():
    x = leaf([1.0, 4.0])
    with mg.detect_anomaly():
        x.sqrt().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.5, 0.25])


def test_scopes_nest_with_a_slash_and_are_restored():
    x = leaf([1.0])
    with mg.scope("lstm"):
        a = x * 2
        with mg.scope("l0"), mg.scope("t=3"):
            b = a * 2
        c = b * 2
    d = c * 2
    assert [t.grad_fn.scope for t in (a, b, c, d)] == ["lstm", "lstm/l0/t=3", "lstm", None]
    assert "scope 'lstm/l0/t=3'" in b.grad_fn.describe()
    with pytest.raises(ValueError, match="without '/'"):
        mg.scope("a/b")
    with pytest.raises(ValueError, match="non-empty"):
        mg.scope("")


# ---------------------------------------------------------------- dtypes
def test_float32_stays_float32_through_ops_with_python_scalars():
    x = leaf([0.5, 1.5, 2.0], dtype=np.float32)
    results = [x * 2, 2 * x, x + 1.5, 2 - x, x / 3, 1 / x, x ** 2, 2 ** x, -x, x.exp(),
               x.log(), x.sqrt(), x.tanh(), x.sigmoid(), x.relu(), x.softmax(), x.mean(),
               x.var(), x.norm(), x.clamp(0.6, 1.0), x.maximum(1.0), mg.where(x > 1, x, 0.0),
               x.masked_fill(x > 1, 0.0), x @ x, x.logsumexp(), x.max()]
    for r in results:
        assert r.dtype == np.float32, r
    sum(r.sum() for r in results).backward()
    assert x.grad.dtype == np.float32


def test_float64_end_to_end():
    x = leaf(np.linspace(-1, 1, 6).reshape(2, 3))
    w = leaf(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    h = (x @ w).tanh()
    loss = mg.ops.cross_entropy_rows(h, np.array([0, 3])) + h.softmax().var() + 1.0
    assert h.dtype == loss.dtype == np.float64
    loss.backward()
    assert x.grad.dtype == w.grad.dtype == np.float64


def test_mixed_float32_and_float64_gradients_come_back_in_each_inputs_dtype():
    a = leaf([1.0, 2.0], dtype=np.float32)
    b = leaf([3.0, 4.0], dtype=np.float64)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.data, [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 2.0])
    c = leaf([1.0, 2.0], dtype=np.float32)
    c.double().sum().backward()
    assert c.grad.dtype == np.float32


def test_a_float32_non_leaf_receives_a_float32_gradient_from_a_float64_consumer():
    x = leaf([1.0, 2.0], dtype=np.float32)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.dtype))
    h.retain_grad()
    (h * leaf([0.5, 0.25])).sum().backward()
    assert seen == [np.float32] and h.grad.dtype == np.float32
    np.testing.assert_array_equal(h.grad.data, [0.5, 0.25])


def test_numpy_array_operand_promotes_like_numpy():
    x = leaf([1.0, 2.0, 3.0], dtype=np.float32)
    y = np.ones(3) * x
    assert y.dtype == np.float64  # numpy's float64 array wins, as in numpy
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_a_python_int_with_a_bool_tensor_promotes_to_int64():
    mask = mg.tensor([-1.0, 0.5, 2.0]) > 0
    counted = mask * 3
    assert counted.dtype == np.int64 and counted.sum().item() == 6  # not True (1) as before
    np.testing.assert_array_equal((mask + 1).data, [1, 2, 2])
    assert (mask + 1).dtype == np.int64 and (2 * mask).dtype == np.int64
    assert (mask * 2.5).dtype == np.float32 and (mask & True).dtype == np.bool_
    assert (mask + True).dtype == np.bool_  # bool with bool stays bool, as in PyTorch
    with pytest.raises(TypeError, match=r"sub: .*boolean.*~mask"):
        1 - mask  # PyTorch refuses it too: use ~mask
    with pytest.raises(TypeError, match="boolean"):
        mask - mask


def _int(values):
    return mg.tensor(np.array(values, dtype=np.int64))


def test_dtype_promotion_follows_pytorch_where_numpy_differs():
    x32 = leaf([1.0, 2.0], dtype=np.float32)
    cases = {  # expression: expected dtype (numpy alone would give float64 for each)
        "int64 tensor + float32 tensor": (_int([1, 2]) + x32, np.float32),
        "float32 tensor ** int64 tensor": (x32 ** _int([1, 2]), np.float32),
        "int / int": (_int([1, 2]) / _int([2, 2]), np.float32),
        "int / python int": (_int([1, 2]) / 2, np.float32),
        "bool / bool": (mg.tensor([True]) / mg.tensor([True]), np.float32),
        "int64 tensor * python float": (_int([1, 2]) * 0.5, np.float32),
        "float32 (2,) * float64 ()": (x32 * mg.tensor(np.array(2.0)), np.float32),
        "float64 () - float32 (2,)": (mg.tensor(np.array(2.0)) - x32, np.float32),
        "exp(int)": (_int([1, 2]).exp(), np.float32),
        "sqrt(int)": (_int([1, 4]).sqrt(), np.float32),
        "log(int)": (_int([1, 2]).log(), np.float32),
        "sigmoid(int)": (_int([1, 2]).sigmoid(), np.float32),
        "tanh(int)": (_int([1, 2]).tanh(), np.float32),
    }
    for label, (result, dtype) in cases.items():
        assert result.dtype == dtype, label
    np.testing.assert_array_equal((_int([1, 2]) / _int([2, 2])).data, [0.5, 1.0])
    np.testing.assert_allclose(_int([0, 1]).exp().data, [1.0, np.e], rtol=1e-7)
    # Unchanged: a dimensioned float64 tensor or array widens float32; like kinds stay.
    assert (x32 * leaf([1.0, 1.0])).dtype == np.float64
    assert (_int([1]) * 2).dtype == np.int64 and (x32 * 2).dtype == np.float32
    int32 = mg.tensor(np.array([1, 2], dtype=np.int32))
    assert (int32 * mg.tensor(np.array(3))).dtype == np.int32  # 0-d int64 does not widen
    with pytest.raises(TypeError, match="floating-point.*int64"):
        _int([1, 2]).mean()  # as PyTorch: mean() of integers is refused, not converted


def test_a_0d_float64_parameter_scaling_float32_gets_a_float64_gradient():
    x32 = leaf([1.0, 2.0], dtype=np.float32)
    scale = leaf(np.array(3.0))
    y = x32 * scale
    assert y.dtype == np.float32
    y.sum().backward()
    assert scale.grad.dtype == np.float64 and scale.grad.item() == 3.0
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad.data, [3.0, 3.0])


PROMOTION_OPERANDS = {
    "bool (2,)": lambda m: m.tensor(np.array([True, False])),
    "int32 (2,)": lambda m: m.tensor(np.array([1, 2], dtype=np.int32)),
    "int64 (2,)": lambda m: m.tensor(np.array([1, 2], dtype=np.int64)),
    "int64 ()": lambda m: m.tensor(np.array(3, dtype=np.int64)),
    "float32 (2,)": lambda m: m.tensor(np.array([1.0, 2.0], dtype=np.float32)),
    "float32 ()": lambda m: m.tensor(np.array(2.0, dtype=np.float32)),
    "float64 (2,)": lambda m: m.tensor(np.array([1.0, 2.0], dtype=np.float64)),
    "float64 ()": lambda m: m.tensor(np.array(2.0, dtype=np.float64)),
    "python bool": lambda m: True,
    "python int": lambda m: 3,
    "python float": lambda m: 0.5,
}


@pytest.mark.filterwarnings("ignore:invalid value|divide by zero")
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow", "lt"])
def test_result_dtypes_match_pytorch(op):
    """Every pair of operand kinds; where PyTorch refuses a subtraction, so do we."""
    torch = pytest.importorskip("torch")
    import operator
    fn = getattr(operator, op)
    for left, make_a in PROMOTION_OPERANDS.items():
        for right, make_b in PROMOTION_OPERANDS.items():
            if left.startswith("python") and right.startswith("python"):
                continue
            if op == "pow" and left.startswith(("bool", "python bool")) and \
                    right.startswith(("bool", "python bool")):
                continue  # bool ** bool: numpy's int8 (PyTorch: bool, or no kernel)
            try:
                expected = fn(make_a(torch), make_b(torch)).dtype
            except RuntimeError:
                if op == "sub":  # any boolean operand: both refuse
                    with pytest.raises(TypeError, match="booleans"):
                        fn(make_a(mg), make_b(mg))
                continue
            ours = fn(make_a(mg), make_b(mg)).dtype
            assert str(ours) == str(expected).removeprefix("torch."), f"{left} {op} {right}"


# ---------------------------------------------------------------- clear errors
def test_backward_of_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"needs a `gradient`.*shape \(2,\)"):
        (x * 2).backward()
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


def test_requires_grad_on_an_integer_tensor_is_refused():
    with pytest.raises(RuntimeError, match="only floating-point tensors.*int64"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating-point"):
        mg.tensor([True]).requires_grad_()


def test_requires_grad_can_only_be_changed_on_leaves():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="leaf.*'mul'"):
        y.requires_grad_(False)


def test_hooks_need_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).retain_grad()


# ---------------------------------------------------------------- iteration and numpy
def test_iterating_gives_the_rows_as_tensors_that_carry_gradients():
    x = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    rows = list(x)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    np.testing.assert_array_equal(rows[2].data, [5.0, 6.0])
    first, _, last = x
    (first * 2 + last).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]])
    assert list(mg.zeros(0, 3)) == []
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mg.tensor(1.0))


def test_numpy_conversion_with_array_protocol():
    t = mg.tensor([1.0, 2.0])
    shared = np.asarray(t)
    assert shared is t.data  # no copy, like numpy()
    copied = np.array(t)
    assert copied is not t.data and copied.dtype == np.float32
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), [1.0, 2.0])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.asarray([mg.tensor(1.0), mg.tensor(2.0)]).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="copy"):
        t.__array__(np.float64, copy=False)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        np.asarray(leaf([1.0]))
    assert np.asarray(leaf([1.0]).detach()).tolist() == [1.0]
    assert (np.float32(2.0) * t).dtype == np.float32  # numpy scalars still defer to Tensor


# ---------------------------------------------------------------- traversal order
def _graph():
    x, w = leaf([1.0, 2.0]), leaf([0.5, 0.25])
    a = x * w
    b = a.exp()
    c = a + x
    return (b * c).sum()


def test_topological_order_is_deterministic_and_valid():
    orders = [[n.name for n in topological_order(_graph().grad_fn)] for _ in range(3)]
    assert orders[0] == orders[1] == orders[2]
    assert orders[0][0] == "sum" and orders[0][-1] == "mul"
    nodes = topological_order(_graph().grad_fn)
    position = {id(n): i for i, n in enumerate(nodes)}
    for node in nodes:  # every node comes before the nodes that made its inputs
        for t in node.inputs:
            if t.grad_fn is not None:
                assert position[id(node)] < position[id(t.grad_fn)]
    assert sorted(n.name for n in nodes) == ["add", "exp", "mul", "mul", "sum"]


# ---------------------------------------------------------------- ops with several outputs
@pytest.fixture
def two_halves():
    """A test-only op with two outputs (2 * first half, 3 * second half); removed afterwards
    from the registry so that the registry test of test_ops.py never sees it."""

    class TwoHalves(Function):
        name = "test_two_halves"
        n_outputs = 2

        def forward(self, a):
            self.half, self.n = a.shape[0] // 2, a.shape[0]
            return a[:self.half] * 2, a[self.half:] * 3

        def backward(self, grad_first, grad_second):
            out = np.zeros(self.n)
            if grad_first is not None:
                out[:self.half] = 2 * grad_first
            if grad_second is not None:
                out[self.half:] = 3 * grad_second
            return out

    yield TwoHalves
    REGISTRY.pop("test_two_halves")


def test_op_with_two_outputs_gets_each_outputs_gradient(two_halves):
    x = leaf([1.0, 2.0, 3.0, 4.0])
    first, second = two_halves.apply(x)
    assert first.grad_fn is second.grad_fn and (first._output_index, second._output_index) == (0, 1)
    (first.sum() + (second * second).sum() + first.sum()).backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 3 * 2 * 9.0, 3 * 2 * 12.0])


def test_op_with_two_outputs_only_one_used_hooks_and_retain_grad(two_halves):
    x = leaf([1.0, 2.0, 3.0, 4.0])
    first, second = two_halves.apply(x)
    second.retain_grad()
    second.register_hook(lambda g: g * 10)
    (second * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 60.0, 60.0])
    np.testing.assert_array_equal(second.grad.data, [20.0, 20.0])  # after the hook
    assert first.grad is None
    y = leaf([1.0, 2.0])
    a, b = two_halves.apply(y)
    b.backward(np.array([5.0]))  # the root is the second output
    np.testing.assert_array_equal(y.grad.data, [0.0, 15.0])


def test_registering_two_ops_under_one_name_is_refused():
    with pytest.raises(RuntimeError, match="two ops are registered under the name 'add'"):
        type("Add2", (Function,), {"name": "add"})
    assert REGISTRY["add"].__module__ == "minigrad.ops.elementwise"


def test_an_op_without_backward_fails_loudly_with_its_name():
    class NoBackward(Function):
        name = "test_no_backward"

        def forward(self, a):
            return a * 1

    try:
        x = leaf([1.0])
        with pytest.raises(NotImplementedError, match="'test_no_backward' has no backward"):
            NoBackward.apply(x).sum().backward()
    finally:
        REGISTRY.pop("test_no_backward")


def test_backward_frees_the_activations_a_kept_loss_would_hold():
    """After backward the graph keeps no intermediate arrays (only FreedTensor stand-ins), so
    a loss kept until the next iteration does not double the peak memory."""
    import gc
    import weakref

    x = mg.randn(50, 50, requires_grad=True)
    h = (x * 2).tanh()
    activation = weakref.ref(h.data)
    loss = h.sum()
    del h
    loss.backward(retain_graph=True)
    gc.collect()
    assert activation() is not None  # retain_graph keeps everything
    loss.backward()
    gc.collect()
    assert activation() is None
    freed = loss.grad_fn.inputs[0]
    assert isinstance(freed, mg.autograd.FreedTensor) and freed.data is None
    assert freed.shape == (50, 50) and freed.grad_fn.name == "tanh"
    assert "values freed" in mg.viz.to_dot(loss, show_values=True).source
