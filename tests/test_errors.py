"""Bad input gives an error of the right type whose message says what was expected and got."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import check_same_error

import minigrad as mg
import minigrad.functional as F


def t(*shape, dtype=np.float64, requires_grad=True):
    return mg.tensor(np.ones(shape), dtype=dtype, requires_grad=requires_grad)


@pytest.mark.parametrize("name, fn, ref", [
    ("add", lambda a, b: a + b, np.add), ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply), ("div", lambda a, b: a / b, np.divide),
    ("pow", lambda a, b: a ** b, np.power), ("maximum", mg.ops.maximum, np.maximum),
    ("minimum", mg.ops.minimum, np.minimum),
], ids=lambda v: v if isinstance(v, str) else "")
def test_binary_op_shape_mismatch_names_the_op_and_both_shapes(name, fn, ref):
    err = check_same_error([(2, 3), (4,)], fn, ref)  # ValueError, as in numpy
    assert re.search(rf"^{name}\b.*\(2, 3\).*\(4,\)", str(err)), str(err)


def test_a_failing_forward_names_the_op_and_the_shapes_and_keeps_numpys_message():
    with pytest.raises(ValueError) as info:
        t(2, 3) + t(4)
    message = str(info.value)
    assert message.startswith("add failed on inputs of shapes ((2, 3), (4,)): operands could "
                              "not be broadcast"), message
    assert "invalid input shapes" not in message  # the shapes may be fine, the values not
    with pytest.raises(ValueError, match=r"^pow failed on inputs of shapes \(\(2,\), \(\)\): "
                                         r"Integers to negative integer powers"):
        mg.tensor([1, 2]) ** -1


def test_comparison_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"less.*\(2, 3\) and \(4,\)"):
        mg.ops.lt(t(2, 3), t(4))


def test_where_shape_mismatch():
    with pytest.raises(ValueError, match=r"where.*\(2,\).*\(3,\)"):
        mg.where(np.array([True, False]), t(3), 0.0)


def test_where_needs_a_boolean_condition():
    with pytest.raises(TypeError, match="boolean.*float64"):
        mg.where(t(2), t(2), t(2))


def test_matmul_inner_dimension_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\).*\(3\).*\(4\)"):
        t(2, 3) @ t(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2,\)"):
        t(3) @ t(2)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        t() @ t(3)
    check_same_error([(2, 3), (4, 5)], lambda a, b: a @ b, np.matmul)


def test_matmul_batch_dimensions_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3, 4\).*\(5, 4, 2\)"):
        t(2, 3, 4) @ t(5, 4, 2)


def test_reshape_to_an_impossible_shape():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\) \(6 elements\).*\(4, -1\)"):
        t(2, 3).reshape(4, -1)
    with pytest.raises(ValueError, match=r"reshape.*\(5,\)"):
        t(2, 3).view(5)
    with pytest.raises(ValueError, match=r"reshape.*\(-1, -1\)"):
        t(2, 3).reshape(-1, -1)


def test_cat_and_stack_mismatch_name_the_tensor():
    with pytest.raises(ValueError, match=r"cat: tensor 2 has shape \(3, 5\).*\(2, 4\).*dim"):
        mg.cat([t(2, 4), t(5, 4), t(3, 5), t(2, 4)], dim=0)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has 1 dimensions"):
        mg.cat([t(2, 4), t(4)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(2, 5\).*\(2, 4\)"):
        mg.stack([t(2, 4), t(2, 5)])
    with pytest.raises(ValueError, match="non-empty"):
        mg.cat([])


@pytest.mark.parametrize("call", [
    lambda x: x.sum(2), lambda x: x.mean(-3), lambda x: x.max(5), lambda x: x.softmax(2),
    lambda x: x.log_softmax(-3), lambda x: x.transpose(0, 2), lambda x: x.unsqueeze(4),
    lambda x: mg.cat([x, x], dim=2), lambda x: mg.stack([x, x], dim=-4),
    lambda x: x.flip(3), lambda x: x.split(1, dim=2), lambda x: x.argmax(2),
], ids=["sum", "mean", "max", "softmax", "log_softmax", "transpose", "unsqueeze", "cat",
        "stack", "flip", "split", "argmax"])
def test_out_of_range_dim(call):
    with pytest.raises(IndexError, match=r"dim -?\d is out of range for a tensor with \d "
                                         r"dimensions \(expected a value in \[-\d, \d\]\)"):
        call(t(2, 3))


def test_repeated_dim():
    with pytest.raises(ValueError, match="same dimension twice"):
        t(2, 3).sum((1, -1))


def test_cross_entropy_class_index_out_of_range_names_value_and_position():
    logits = t(4, 3)
    with pytest.raises(IndexError, match=r"target 3 at position 2 .* 3 classes"):
        F.cross_entropy(logits, np.array([0, 2, 3, 1]))
    with pytest.raises(IndexError, match=r"target -2 at position 0"):
        F.cross_entropy(logits, np.array([-2, 0, 0, 0]))
    with pytest.raises(IndexError, match=r"nll_loss: target 7 at position 1 .* 3 classes "
                                         r"\(expected 0\.\.2, or ignore_index=-100\)"):
        F.nll_loss(logits, np.array([0, 7, -100, 1]))
    assert F.cross_entropy(logits, np.array([-100, 0, 0, 0])).requires_grad  # ignored: fine


def test_cross_entropy_bad_arguments():
    with pytest.raises(ValueError, match=r"target has shape \(3,\).*needs target shape \(4,\)"):
        F.cross_entropy(t(4, 3), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: targets must be integer class indices"):
        F.cross_entropy(t(4, 3), np.zeros(4))
    for bad in (np.zeros(4), np.zeros(4, dtype=np.float32), np.zeros(4, dtype=bool)):
        with pytest.raises(TypeError, match=r"nll_loss: targets must be integer class indices, "
                                            rf"got dtype {bad.dtype} \(convert with \.long\(\)\)"):
            F.nll_loss(t(4, 3), bad)
    assert F.nll_loss(t(4, 3), np.zeros(4, dtype=np.uint8)).requires_grad
    with pytest.raises(ValueError, match="reduction must be one of.*'avg'"):
        F.cross_entropy(t(4, 3), np.zeros(4, dtype=int), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(t(4, 3), np.zeros(4, dtype=int), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"mse_loss.*\(2,\).*\(3,\)"):
        F.mse_loss(t(2), t(3))


def test_embedding_index_out_of_range():
    weight = t(5, 2)
    with pytest.raises(IndexError, match=r"embedding: index 5 .* 5 rows \(expected 0\.\.4\)"):
        F.embedding(np.array([[0, 5], [1, 2]]), weight)
    with pytest.raises(IndexError, match=r"index -1"):
        F.embedding(np.array([-1]), weight)
    with pytest.raises(TypeError, match="integers"):
        F.embedding(np.array([0.0]), weight)


def test_embedding_padding_idx_is_checked_when_called():
    weight = t(5, 2)
    for bad in (5, -6, 100):
        with pytest.raises(ValueError, match=rf"embedding: padding_idx {bad} is out of range "
                                             r"for an embedding table of 5 rows \(expected "
                                             r"-5\.\.4\)"):
            F.embedding(np.array([0, 1]), weight, padding_idx=bad)
    with pytest.raises(TypeError, match="padding_idx must be an int"):
        F.embedding(np.array([0, 1]), weight, padding_idx=1.0)
    out = F.embedding(np.array([4, 0, 4]), weight, padding_idx=-1)  # -1: the last row
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.data[:, 0], [1.0, 0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("call, op", [
    (lambda x64, w32: F.linear(x64, w32), "linear"),
    (lambda x64, w32: F.linear(x64.float(), w32, x64[0, :2]), "linear"),
    (lambda x64, w32: x64 @ w32.T, "matmul"),
    (lambda x64, w32: mg.nn.Linear(3, 2)(x64), "linear"),
    (lambda x64, w32: F.linear(mg.tensor([[1, 2, 3]]), w32), "linear"),
])
def test_linear_and_matmul_refuse_mixed_dtypes_as_pytorch_does(call, op):
    x64, w32 = t(4, 3), t(2, 3, dtype=np.float32)
    with pytest.raises(TypeError) as info:
        call(x64, w32)
    message = str(info.value)
    assert message.startswith(f"{op}: ") and ".float()" in message and \
        "module.double()" in message, message
    assert re.search(r"has dtype (float|int)\d\d but \w+ has dtype float\d\d", message)


def test_linear_and_matmul_in_one_dtype_still_work():
    x64, w32 = t(4, 3), t(2, 3, dtype=np.float32)
    assert F.linear(x64.float(), w32).dtype == np.float32
    assert F.linear(x64, w32.double()).dtype == np.float64
    assert mg.nn.Linear(3, 2).double()(x64).dtype == np.float64
    assert (np.ones((2, 4)) @ x64).dtype == np.float64  # arrays still promote like numpy


def test_norm_p_is_validated():
    with pytest.raises(ValueError, match="nan"):
        t(3).norm(float("nan"))
    for bad in ("fro", None, True):
        with pytest.raises(TypeError, match="p must be a number"):
            t(3).norm(bad)


def test_gradient_shape_mismatch_in_backward():
    y = t(2, 3) * 2
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3, 2\).*shape \(2, 3\)"):
        y.backward(gradient=np.ones((3, 2)))
    y.backward(gradient=np.ones((2, 3)))  # the graph was not freed by the failed call


def test_hook_returning_a_wrong_shape():
    x = t(2, 3)
    y = x * 2
    y.register_hook(lambda g: g.sum(0))
    with pytest.raises(RuntimeError, match=r"hook.*'mul'.*shape \(3,\), expected \(2, 3\)"):
        y.sum().backward()
    z = t(2)
    z.register_hook(lambda g: np.ones(3))
    with pytest.raises(RuntimeError, match=r"hook.*leaf.*shape \(3,\), expected \(2,\)"):
        (z * 2).sum().backward()
    assert z.grad is None


def test_getitem_errors_are_numpys():
    err = check_same_error([(3, 4)], lambda a: a[3], lambda a: a[3])
    assert "getitem" in str(err) and "(3, 4)" in str(err)
    with pytest.raises(IndexError, match="integer or boolean.*float"):
        t(3)[np.array([0.0])]


def test_other_shape_ops():
    with pytest.raises(ValueError, match=r"expand: cannot broadcast shape \(3, 2\) to \(3, 4\)"):
        t(3, 2).expand(3, 4)
    with pytest.raises(ValueError, match="not a permutation"):
        t(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match=r"sections \[1, 1\] sum to 2.*size 3"):
        t(3).split([1, 1])
    with pytest.raises(ValueError, match="pad: expected pairs"):
        mg.ops.pad(t(3), (1, 2, 3))
    with pytest.raises(ValueError, match="min .* greater than max"):
        t(3).clamp(1.0, 0.0)
    with pytest.raises(ValueError, match="empty"):
        t(0).max()
