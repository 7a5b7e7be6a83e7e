"""Every op against numpy, then through gradcheck: one line per case, one helper for all.

``CASES`` is the table: (label, input shapes, minigrad function, numpy function, options).
A label that names a primitive of ``minigrad.autograd.REGISTRY`` must appear in the graph the
case builds; ``test_every_primitive_has_a_case`` fails when a registered op has no case.
"""

from __future__ import annotations

import importlib
import math
import pkgutil

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from helpers import check_op, make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad.autograd import REGISTRY
from minigrad.ops import NON_DIFFERENTIABLE


# ---------------------------------------------------------------- numpy references
def np_log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))


def _reduce(loss, valid, reduction):
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / int(valid.sum())


def np_nll(logp, target, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's NLL / cross-entropy on log-probabilities (C,), (N, C) or (N, C, d...)."""
    single = logp.ndim == 1
    if single:
        logp, target = logp[None], np.asarray(target)[None]
    logp = np.moveaxis(logp, 1, -1)  # classes last: (N, d..., C)
    valid = target != ignore_index
    picked = np.take_along_axis(logp, np.where(valid, target, 0)[..., None], -1)[..., 0]
    loss = -(1 - smoothing) * picked - smoothing / logp.shape[-1] * logp.sum(-1)
    loss = np.where(valid, loss, 0)
    return _reduce(loss[0] if single else loss, valid, reduction)


def np_cross_entropy(x, target, **options):
    return np_nll(np_log_softmax(x, axis=0 if x.ndim == 1 else 1), target, **options)


def np_var(x, axis=None, ddof=1, keepdims=False):
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


# Constant operands used by the cases (indices, masks, targets).
T4 = np.array([1, 0, 4, 2])  # targets for (4, 5) scores
T4_IGNORED = np.array([1, -100, 4, -100])
T23 = np.array([[0, 3, 1], [2, 2, -1]])  # targets for (2, 4, 3) scores; -1 only when ignored
T23_VALID = np.array([[0, 3, 1], [2, 2, 0]])
T2322 = np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]])  # targets for (2, 3, 2, 2) scores
IDX = np.array([[0, 4, 4], [2, 0, 4]])  # embedding indices with repeats
MASK34 = np.array([[True, False, True, True], [False, False, True, False],
                   [True, True, False, False]])
COND31 = np.array([[True], [False], [True]])


def case(label, shapes, fn, ref, **options):
    return pytest.param(label, shapes, fn, ref, options, id=f"{label}-{len(ALL)}")


ALL: list = []


def add(*args, **options):
    ALL.append(case(*args, **options))


# ---------------------------------------------------------------- elementwise
add("add", [(3, 1, 4), (5, 4)], lambda a, b: a + b, lambda a, b: a + b)
add("add", [(1,), (2, 3)], lambda a, b: a + b, lambda a, b: a + b)
add("add", [(), (2, 3)], lambda a, b: a + b, lambda a, b: a + b)
add("add", [(2, 3)], lambda a: 2.5 + a, lambda a: 2.5 + a)
add("add", [(3,)], lambda a: np.ones(3) + a, lambda a: np.ones(3) + a)
add("sub", [(2, 3), (3,)], lambda a, b: a - b, lambda a, b: a - b)
add("sub", [(2, 3)], lambda a: 2 - a, lambda a: 2 - a)
add("sub", [(4, 1), (1, 3)], lambda a, b: b - a, lambda a, b: b - a)
add("mul", [(1,), (2, 3)], lambda a, b: a * b, lambda a, b: a * b)
add("mul", [(3,)], lambda a: np.arange(3.0) * a, lambda a: np.arange(3.0) * a)
add("mul", [(2, 1, 3), (4, 1)], lambda a, b: a * b, lambda a, b: a * b)
add("mul", [()], lambda a: a * 3, lambda a: a * 3)
add("div", [(4, 1), (1, 5)], lambda a, b: a / b, lambda a, b: a / b, low=0.5)
add("div", [(3, 2)], lambda a: 1 / a, lambda a: 1 / a, low=0.5)
add("div", [(3, 2)], lambda a: a / 4, lambda a: a / 4)
add("neg", [(3, 4)], lambda a: -a, lambda a: -a)
add("neg", [()], lambda a: -a, lambda a: -a)
add("pow", [(3, 4)], lambda a: a ** 2, lambda a: a ** 2)
add("pow", [(3, 4)], lambda a: a ** 3, lambda a: a ** 3)  # negative bases
add("pow", [(3, 4)], lambda a: a ** 0.5, lambda a: a ** 0.5, low=0.2)
add("pow", [(3, 4)], lambda a: 2 ** a, lambda a: 2 ** a)
add("pow", [(3, 1), (1, 4)], lambda a, b: a ** b, lambda a, b: a ** b, low=0.3)
add("exp", [(2, 3)], lambda a: a.exp(), np.exp)
add("log", [(2, 3)], lambda a: a.log(), np.log, low=0.1)
add("sqrt", [(2, 3)], lambda a: a.sqrt(), np.sqrt, low=0.1)
add("abs", [(3, 4)], lambda a: a.abs(), np.abs)
add("abs", [(3, 4)], lambda a: abs(a), np.abs)
add("tanh", [(3, 4)], lambda a: a.tanh(), np.tanh)
add("tanh", [(7,)], lambda a: (a * 8).tanh(), lambda a: np.tanh(a * 8))
add("sigmoid", [(3, 4)], lambda a: a.sigmoid(), lambda a: 1 / (1 + np.exp(-a)))
add("sigmoid", [(7,)], lambda a: F.sigmoid(a * 20), lambda a: 1 / (1 + np.exp(-a * 20)))
add("relu", [(3, 4)], lambda a: a.relu(), lambda a: np.maximum(a, 0))
add("relu", [(3, 4)], F.relu, lambda a: np.maximum(a, 0))
add("clamp", [(3, 4)], lambda a: a.clamp(-0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7))
add("clamp", [(3, 4)], lambda a: a.clamp(min=0.2), lambda a: np.maximum(a, 0.2))
add("clamp", [(3, 4)], lambda a: a.clip(max=-0.1), lambda a: np.minimum(a, -0.1))
add("maximum", [(3, 1), (4,)], lambda a, b: a.maximum(b), np.maximum)
add("maximum", [(3, 4)], lambda a: a.maximum(0.3), lambda a: np.maximum(a, 0.3))
add("minimum", [(2, 1, 3), (4, 1)], lambda a, b: a.minimum(b), np.minimum)
add("where", [(1, 4), (3, 4)], lambda a, b: mg.where(COND31, a, b),
    lambda a, b: np.where(COND31, a, b))
add("where", [(3, 4)], lambda a: mg.where(mg.tensor(MASK34), a, 0.5),
    lambda a: np.where(MASK34, a, 0.5))
add("astype", [(3, 4)], lambda a: a.float(), lambda a: a.astype(np.float32), eps=1e-2,
    atol=1e-4)
add("double", [(3, 4)], lambda a: a.double() * 2, lambda a: a.astype(np.float64) * 2)

# ---------------------------------------------------------------- matmul and nn primitives
add("matmul", [(3,), (3,)], lambda a, b: a @ b, np.matmul)
add("matmul", [(3,), (3, 4)], lambda a, b: a @ b, np.matmul)
add("matmul", [(2, 3), (3,)], lambda a, b: a @ b, np.matmul)
add("matmul", [(2, 3), (3, 4)], lambda a, b: a @ b, np.matmul)
add("matmul", [(2, 1, 3, 4), (5, 4, 2)], lambda a, b: a @ b, np.matmul)
add("matmul", [(4,), (2, 4, 3)], lambda a, b: a @ b, np.matmul)
add("matmul", [(2, 3, 4), (4,)], lambda a, b: a @ b, np.matmul)
add("matmul", [(3, 2)], lambda a: np.ones((4, 3)) @ a, lambda a: np.ones((4, 3)) @ a)
add("softmax", [(3, 4)], lambda a: a.softmax(-1), np_softmax)
add("softmax", [(3, 4)], lambda a: a.softmax(0), lambda a: np_softmax(a, 0))
add("softmax", [(2, 3, 4)], lambda a: F.softmax(a * 30, 1), lambda a: np_softmax(a * 30, 1))
add("logsoftmax", [(3, 4)], lambda a: a.log_softmax(), np_log_softmax)
add("logsoftmax", [(2, 3, 4)], lambda a: F.log_softmax(a, dim=-2),
    lambda a: np_log_softmax(a, -2))
add("crossentropy", [(4, 5)], lambda a: F.cross_entropy(a, T4), lambda a: np_cross_entropy(a, T4))
add("crossentropy", [(4, 5)], lambda a: F.cross_entropy(a, T4, reduction="sum"),
    lambda a: np_cross_entropy(a, T4, reduction="sum"))
add("crossentropy", [(4, 5)], lambda a: F.cross_entropy(a, T4, reduction="none"),
    lambda a: np_cross_entropy(a, T4, reduction="none"))
add("crossentropy", [(4, 5)], lambda a: F.cross_entropy(a, T4_IGNORED),
    lambda a: np_cross_entropy(a, T4_IGNORED))
add("crossentropy", [(4, 5)], lambda a: F.cross_entropy(a, T4, label_smoothing=0.2),
    lambda a: np_cross_entropy(a, T4, smoothing=0.2))
add("crossentropy", [(2, 4, 3)], lambda a: F.cross_entropy(a, T23, ignore_index=-1),
    lambda a: np_cross_entropy(a, T23, ignore_index=-1))
add("crossentropy", [(2, 4, 3)],
    lambda a: F.cross_entropy(a, T23, ignore_index=-1, reduction="none", label_smoothing=0.1),
    lambda a: np_cross_entropy(a, T23, ignore_index=-1, reduction="none", smoothing=0.1))
add("crossentropy", [(2, 4, 3)],
    lambda a: F.cross_entropy(a, T23_VALID, reduction="sum", label_smoothing=0.3),
    lambda a: np_cross_entropy(a, T23_VALID, reduction="sum", smoothing=0.3))
add("crossentropy", [(2, 4, 3)],
    lambda a: F.cross_entropy(a, T23, ignore_index=-1, label_smoothing=0.25),
    lambda a: np_cross_entropy(a, T23, ignore_index=-1, smoothing=0.25))
add("crossentropy", [(2, 3, 2, 2)], lambda a: F.cross_entropy(a, T2322),
    lambda a: np_cross_entropy(a, T2322))
add("crossentropy", [(5,)], lambda a: F.cross_entropy(a, np.array(3)),
    lambda a: np_cross_entropy(a, np.array(3)))
add("embedding", [(5, 3)], lambda w: F.embedding(IDX, w), lambda w: w[IDX])
add("embedding", [(5, 3)], lambda w: F.embedding(mg.tensor([4, 4, 1]), w),
    lambda w: w[[4, 4, 1]])
add("linear", [(4, 3), (2, 3), (2,)], F.linear, lambda x, w, b: x @ w.T + b)
add("linear", [(2, 5, 3), (2, 3)], F.linear, lambda x, w: x @ w.T)
add("linear", [(3,), (2, 3), (2,)], F.linear, lambda x, w, b: x @ w.T + b)

# ---------------------------------------------------------------- reductions
add("sum", [(3, 4)], lambda a: a.sum(), np.sum)
add("sum", [(3, 4)], lambda a: a.sum(1), lambda a: a.sum(1))
add("sum", [(2, 3, 4)], lambda a: a.sum((0, 2), keepdim=True),
    lambda a: a.sum((0, 2), keepdims=True))
add("sum", [(2, 3, 4)], lambda a: a.sum(-1), lambda a: a.sum(-1))
add("sum", [()], lambda a: a.sum(), np.sum)
add("mean", [(3, 4)], lambda a: a.mean(), np.mean)
add("mean", [(2, 3, 4)], lambda a: a.mean((-1, 0)), lambda a: a.mean((0, 2)))
add("mean", [(2, 3, 4)], lambda a: a.mean(1, keepdim=True), lambda a: a.mean(1, keepdims=True))
add("max", [(3, 4)], lambda a: a.max(), np.max)
add("max", [(3, 4)], lambda a: a.max(1).values, lambda a: a.max(1))
add("max", [(2, 3, 4)], lambda a: a.max(0, keepdim=True).values,
    lambda a: a.max(0, keepdims=True))
add("max", [(2, 3)], lambda a: a.max(keepdim=True), lambda a: a.max(keepdims=True))
add("min", [(3, 4)], lambda a: a.min(), np.min)
add("min", [(3, 4)], lambda a: a.min(-1).values, lambda a: a.min(-1))
add("min", [(2, 3, 4)], lambda a: a.min(1, keepdim=True)[0], lambda a: a.min(1, keepdims=True))
add("logsumexp", [(3, 4)], lambda a: a.logsumexp(), np_logsumexp)
add("logsumexp", [(3, 4)], lambda a: a.logsumexp(1), lambda a: np_logsumexp(a, 1))
add("logsumexp", [(2, 3, 4)], lambda a: a.logsumexp((0, 2), keepdim=True),
    lambda a: np_logsumexp(a, (0, 2), keepdims=True))

# ---------------------------------------------------------------- shape primitives
add("reshape", [(2, 3, 4)], lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1))
add("reshape", [(6,)], lambda a: a.view((3, 2)), lambda a: a.reshape(3, 2))
add("permute", [(2, 3, 4)], lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1))
add("permute", [(2, 3)], lambda a: a.T, lambda a: a.T)
add("expand", [(3, 1)], lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)))
add("expand", [(3, 1)], lambda a: a.expand(-1, 4), lambda a: np.broadcast_to(a, (3, 4)))
add("getitem", [(3, 4)], lambda a: a[1], lambda a: a[1])
add("getitem", [(3, 4)], lambda a: a[-1, 2], lambda a: a[-1, 2])
add("getitem", [(3, 4)], lambda a: a[:, 1:3], lambda a: a[:, 1:3])
add("getitem", [(5, 4)], lambda a: a[::-2, ::-1], lambda a: a[::-2, ::-1])
add("getitem", [(2, 3, 4)], lambda a: a[None, ..., 0], lambda a: a[None, ..., 0])
add("getitem", [(3, 4)], lambda a: a[np.array([0, 2, 0, 0])], lambda a: a[[0, 2, 0, 0]])
add("getitem", [(3, 2, 2)], lambda a: a[np.array([-1, 0, -3, 2])], lambda a: a[[-1, 0, -3, 2]])
add("getitem", [(4,)], lambda a: a[np.array([3, 3, 0])], lambda a: a[[3, 3, 0]])
add("getitem", [(3, 4)], lambda a: a[[0, 1, 1], [2, 0, 2]], lambda a: a[[0, 1, 1], [2, 0, 2]])
add("getitem", [(3, 4)], lambda a: a[1:, [3, 3, 0]], lambda a: a[1:, [3, 3, 0]])
add("getitem", [(3, 4)], lambda a: a[MASK34], lambda a: a[MASK34])
add("getitem", [(3, 4)], lambda a: a[mg.tensor(MASK34[:, 0])], lambda a: a[MASK34[:, 0]])
add("getitem", [(3, 4)], lambda a: a[mg.tensor([2, 2])], lambda a: a[[2, 2]])
add("cat", [(2, 1, 3), (2, 4, 3), (2, 2, 3)], lambda *t: mg.cat(t, dim=1),
    lambda *t: np.concatenate(t, axis=1))
add("cat", [(2, 3), (2, 1)], lambda *t: mg.cat(t, dim=-1), lambda *t: np.concatenate(t, -1))
add("cat", [(3,), (2,), (1,), (4,)], lambda *t: mg.cat(t), lambda *t: np.concatenate(t))
add("stack", [(2, 3), (2, 3), (2, 3)], lambda *t: mg.stack(t), lambda *t: np.stack(t))
add("stack", [(2, 3), (2, 3)], lambda *t: mg.stack(t, dim=-1), lambda *t: np.stack(t, -1))
add("stack", [(), ()], lambda *t: mg.stack(t), lambda *t: np.stack(t))
add("flip", [(3, 4)], lambda a: a.flip(0), lambda a: np.flip(a, 0))
add("flip", [(2, 3, 4)], lambda a: a.flip((0, -1)), lambda a: np.flip(a, (0, 2)))
add("pad", [(3, 4)], lambda a: mg.ops.pad(a, (1, 2)), lambda a: np.pad(a, ((0, 0), (1, 2))))
add("pad", [(2, 3, 4)], lambda a: mg.ops.pad(a, (0, 1, 2, 0), value=-3.0),
    lambda a: np.pad(a, ((0, 0), (2, 0), (0, 1)), constant_values=-3.0))

# ---------------------------------------------------------------- composites
add("var", [(3, 4)], lambda a: a.var(), np_var)
add("var", [(3, 4)], lambda a: a.var(1), lambda a: np_var(a, 1))
add("var", [(2, 3, 4)], lambda a: a.var((0, 2), correction=0, keepdim=True),
    lambda a: np_var(a, (0, 2), ddof=0, keepdims=True))
add("std", [(3, 4)], lambda a: a.std(0), lambda a: np.std(a, 0, ddof=1))
add("norm", [(3, 4)], lambda a: a.norm(), lambda a: np.linalg.norm(a.ravel()))
add("norm", [(3, 4)], lambda a: a.norm(1), lambda a: np.abs(a).sum())
add("norm", [(3, 4)], lambda a: a.norm(3), lambda a: (np.abs(a) ** 3).sum() ** (1 / 3))
add("norm", [(3, 4)], lambda a: a.norm(float("inf")), lambda a: np.abs(a).max())
add("squeeze", [(3, 1, 4, 1)], lambda a: a.squeeze(), np.squeeze)
add("squeeze", [(3, 1, 4, 1)], lambda a: a.squeeze(1), lambda a: a.squeeze(1))
add("squeeze", [(3, 1, 4, 1)], lambda a: a.squeeze((1, -1)), lambda a: a.squeeze((1, 3)))
add("unsqueeze", [(3, 4)], lambda a: a.unsqueeze(0), lambda a: a[None])
add("unsqueeze", [(3, 4)], lambda a: a.unsqueeze(-1), lambda a: a[..., None])
add("flatten", [(2, 3, 4)], lambda a: a.flatten(), np.ravel)
add("flatten", [(2, 3, 4)], lambda a: a.flatten(1), lambda a: a.reshape(2, 12))
add("transpose", [(2, 3, 4)], lambda a: a.transpose(0, -1), lambda a: a.swapaxes(0, 2))
add("split", [(3, 5)], lambda a: a.split(2, dim=1), lambda a: np.split(a, [2, 4], axis=1))
add("split", [(3, 5)], lambda a: mg.split(a, [1, 4], -1), lambda a: np.split(a, [1], axis=-1))
add("chunk", [(7, 2)], lambda a: mg.chunk(a, 3), lambda a: np.split(a, [3, 6]))
add("masked_fill", [(3, 4)], lambda a: a.masked_fill(COND31, -1.5),
    lambda a: np.where(COND31, -1.5, a))
add("broadcast_to", [(4,)], lambda a: a.broadcast_to((2, 4)),
    lambda a: np.broadcast_to(a, (2, 4)))
add("nll_loss", [(4, 5)], lambda a: F.nll_loss(a, T4), lambda a: np_nll(a, T4))
add("nll_loss", [(4, 5)], lambda a: F.nll_loss(a, T4_IGNORED, reduction="sum"),
    lambda a: np_nll(a, T4_IGNORED, reduction="sum"))
add("nll_loss", [(2, 4, 3)], lambda a: F.nll_loss(a, T23, ignore_index=-1),
    lambda a: np_nll(a, T23, ignore_index=-1))
add("nll_loss", [(2, 4, 3)], lambda a: F.nll_loss(a, T23, ignore_index=-1, reduction="none"),
    lambda a: np_nll(a, T23, ignore_index=-1, reduction="none"))
add("nll_loss", [(5,)], lambda a: F.nll_loss(a, np.array(2)), lambda a: np_nll(a, np.array(2)))
add("mse_loss", [(3, 4), (3, 4)], F.mse_loss, lambda a, b: ((a - b) ** 2).mean())
add("mse_loss", [(3, 4), (3, 4)], lambda a, b: F.mse_loss(a, b, reduction="sum"),
    lambda a, b: ((a - b) ** 2).sum())
add("mse_loss", [(3, 4)], lambda a: F.mse_loss(a, np.ones((3, 4)), reduction="none"),
    lambda a: (a - np.ones((3, 4))) ** 2)
add("log_softmax+nll", [(2, 4, 3)], lambda a: F.nll_loss(F.log_softmax(a, 1), T23_VALID),
    lambda a: np_cross_entropy(a, T23_VALID))


@pytest.mark.parametrize("label, shapes, fn, ref, options", ALL)
def test_op(label, shapes, fn, ref, options):
    ops_in_graph = check_op(shapes, fn, ref, **options)
    if label in REGISTRY:
        assert label in ops_in_graph, f"the case for {label!r} does not use it: {ops_in_graph}"


def _import_all_of_minigrad():
    """Every module of the package, so that every primitive it defines is registered."""
    for module in pkgutil.walk_packages(mg.__path__, "minigrad."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def test_every_primitive_has_a_case():
    _import_all_of_minigrad()
    ours = {name for name, op in REGISTRY.items() if op.__module__.startswith("minigrad.")}
    labels = {p.values[0] for p in ALL}
    missing = sorted(ours - labels)
    assert not missing, f"primitives without a gradcheck case in tests/test_ops.py: {missing}"
    assert len(ours) >= 37


# ---------------------------------------------------------------- not differentiable
EXACT = np.array([[0.0, 1.0, 2.0, 1.0], [2.0, 2.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0]])
ROW = np.array([1.0, 0.0, 2.0, 2.0])
NON_DIFF: list = [
    ("lt", lambda a, b: a < b, lambda a, b: a < b),
    ("le", lambda a, b: a <= b, lambda a, b: a <= b),
    ("gt", lambda a, b: a > b, lambda a, b: a > b),
    ("ge", lambda a, b: mg.ops.ge(a, b), lambda a, b: a >= b),
    ("eq", lambda a, b: a == b, lambda a, b: a == b),
    ("ne", lambda a, b: a != b, lambda a, b: a != b),
    ("lt", lambda a, b: 1.0 < a, lambda a, b: 1.0 < a),
    ("eq", lambda a, b: a == 2, lambda a, b: a == 2),
    ("logical_not", lambda a, b: ~(a > 0), lambda a, b: ~(a > 0)),
    ("logical_and", lambda a, b: (a > 0) & (b > 0), lambda a, b: (a > 0) & (b > 0)),
    ("logical_or", lambda a, b: (a > 1) | (b < 1), lambda a, b: (a > 1) | (b < 1)),
    ("argmax", lambda a, b: a.argmax(), lambda a, b: np.argmax(a)),
    ("argmax", lambda a, b: (a + b * 0.1).argmax(1), lambda a, b: np.argmax(a + b * 0.1, 1)),
    ("argmin", lambda a, b: a.argmin(0, keepdim=True), lambda a, b: np.argmin(a, 0, keepdims=True)),
    ("argmin", lambda a, b: (a - b * 0.1).argmin(-1), lambda a, b: np.argmin(a - b * 0.1, -1)),
]


@pytest.mark.parametrize("name, fn, ref", NON_DIFF, ids=[c[0] for c in NON_DIFF])
def test_non_differentiable(name, fn, ref):
    a, b = mg.tensor(EXACT, requires_grad=True), mg.tensor(ROW, requires_grad=True)
    out, expected = fn(a, b), ref(EXACT, ROW)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    assert not out.requires_grad and out.grad_fn is None


def test_every_non_differentiable_function_has_a_case():
    assert set(NON_DIFFERENTIABLE) == {c[0] for c in NON_DIFF}
    assert not set(NON_DIFFERENTIABLE) & set(REGISTRY)


def test_max_and_min_with_dim_return_numpy_indices():
    x = mg.tensor(make_inputs([(3, 4, 2)])[0], requires_grad=True)
    for op, arg in ((mg.Tensor.max, np.argmax), (mg.Tensor.min, np.argmin)):
        for keepdim in (False, True):
            values, indices = op(x, 1, keepdim=keepdim)
            expected = arg(x.data, 1, keepdims=keepdim)
            assert indices.dtype == np.int64 and not indices.requires_grad
            np.testing.assert_array_equal(indices.data, expected)
            np.testing.assert_array_equal(values.data, np.take_along_axis(
                x.data, expected if keepdim else expected[:, None], 1).reshape(values.shape))


# ---------------------------------------------------------------- gradients by hand
def test_repeated_integer_index_accumulates_gradient():
    x = mg.tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 2, 0, 0, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0, 1.0])


def test_boolean_mask_gradient_is_the_mask():
    x = mg.tensor(np.ones((3, 4)), requires_grad=True)
    x[MASK34].sum().backward()
    np.testing.assert_array_equal(x.grad.data, MASK34.astype(float))


def test_max_along_a_dim_gives_the_gradient_to_the_first_maximum_on_ties():
    x = mg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.min(0).values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 0, 0], [0, 1, 1]])


@pytest.mark.parametrize("keepdim", [False, True])
def test_max_and_min_of_all_elements_split_the_gradient_among_ties(keepdim):
    """As in PyTorch: with dim=None the gradient is shared evenly (argmax semantics would
    give it all to the first); a NaN result shares it among the NaNs."""
    y = mg.tensor([[1.0, 3.0], [3.0, 3.0]], requires_grad=True)
    y.max(keepdim=keepdim).sum().backward()
    np.testing.assert_allclose(y.grad.data, [[0, 1 / 3], [1 / 3, 1 / 3]], rtol=1e-7)
    z = mg.tensor([-1.0, 2.0, -1.0], dtype=np.float64, requires_grad=True)
    (z.min(keepdim=keepdim).sum() * 4).backward()
    np.testing.assert_array_equal(z.grad.data, [2.0, 0.0, 2.0])
    w = mg.tensor([1.0, np.nan, 3.0, np.nan], requires_grad=True)
    out = w.max(keepdim=keepdim)
    assert np.isnan(out.item())
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [0, 0.5, 0, 0.5])
    v = mg.tensor([2.0, -5.0, 5.0, 1.0], dtype=np.float64, requires_grad=True)
    v.norm(float("inf")).backward()  # |v| ties at 5: each gets half, with its sign
    np.testing.assert_array_equal(v.grad.data, [0.0, -0.5, 0.5, 0.0])


def test_max_and_min_ties_match_torch():
    torch = pytest.importorskip("torch")
    data = np.array([[0.5, 2.0, 2.0], [2.0, -1.0, -1.0]], dtype=np.float32)
    for name, dim in (("max", None), ("min", None), ("max", 1), ("min", 0)):
        ours, theirs = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        out_ours, out_theirs = getattr(ours, name)(), getattr(theirs, name)()
        if dim is not None:
            out_ours = getattr(ours, name)(dim).values
            out_theirs = getattr(theirs, name)(dim).values
        out_ours.sum().backward()
        out_theirs.sum().backward()
        np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy(), err_msg=name)


def test_maximum_splits_the_gradient_on_ties():
    a, b = mg.tensor([1.0, 2.0, 3.0], requires_grad=True), mg.tensor([1.0, 5.0, 0.0],
                                                                      requires_grad=True)
    a.maximum(b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0, 0.0])


def test_embedding_padding_row_gets_no_gradient():
    w = mg.tensor(np.ones((4, 2)), requires_grad=True)
    out = F.embedding(np.array([[0, 1, 1], [3, 0, 1]]), w, padding_idx=1)
    np.testing.assert_array_equal(out.data, np.ones((2, 3, 2)))
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data[:, 0], [2.0, 0.0, 0.0, 1.0])


def test_cross_entropy_all_ignored_mean_is_nan_and_gradient_zero():
    x = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    loss = F.cross_entropy(x, np.array([-100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


def test_cross_entropy_is_stable_for_huge_logits():
    x = mg.tensor([[1000.0, -1000.0, 0.0]], dtype=np.float64, requires_grad=True)
    loss = F.cross_entropy(x, np.array([1]))
    assert loss.item() == 2000.0
    loss.backward()
    np.testing.assert_allclose(x.grad.data, [[1.0, -1.0, 0.0]], atol=1e-300)


def test_sigmoid_and_softmax_do_not_overflow():
    x = mg.tensor([-800.0, 0.0, 800.0], dtype=np.float64)
    np.testing.assert_array_equal(x.sigmoid().data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.softmax().data, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(x.logsumexp().data, 800.0)


def test_pow_with_zero_exponent_has_zero_gradient_even_at_zero():
    x = mg.tensor([0.0, 2.0, -1.0], dtype=np.float64, requires_grad=True)
    y = x ** 0 + x ** mg.tensor([0.0, 0.0, 0.0], dtype=np.float64)
    np.testing.assert_array_equal(y.data, [2.0, 2.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])  # not nan at 0


@pytest.mark.parametrize("p", [2, 3, 1.5, 1, float("inf")])
def test_norm_of_zeros_has_zero_gradient(p):
    x = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    y = x.norm(p)
    assert y.item() == 0.0 and y.dtype == np.float64
    y.backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


def test_norm_edge_cases_values_and_gradients():
    def norm_and_grad(values, p):
        x = mg.tensor(values, dtype=np.float64, requires_grad=True)
        out = x.norm(p)
        if out.requires_grad:
            out.backward()
        return out, (None if x.grad is None else x.grad.data)

    out, grad = norm_and_grad([1.0, -3.0, 0.0, 0.5], 0)  # the count of non-zeros
    assert out.item() == 3.0 and out.dtype == np.float64 and grad is None
    out, grad = norm_and_grad([1.0, -3.0, 0.5, -0.5], -np.inf)  # min |x|, ties share
    assert out.item() == 0.5
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.5, -0.5])
    out, grad = norm_and_grad([4.0, -1.0, 0.0], 0.5)  # (2 + 1)^2; 0 gets gradient 0, not nan
    assert out.item() == pytest.approx(9.0)
    np.testing.assert_allclose(grad, [1.5, -3.0, 0.0])
    out, grad = norm_and_grad([2.0, -2.0], -1)  # (1/2 + 1/2)^-1
    assert out.item() == pytest.approx(1.0)
    np.testing.assert_allclose(grad, [0.25, -0.25])
    out, grad = norm_and_grad([2.0, 0.0], -1)  # 1/0 = inf in the sum: the norm is 0
    assert out.item() == 0.0 and np.all(grad == 0)
    check_op([(3, 4)], lambda a: a.norm(0.5), lambda a: (np.abs(a) ** 0.5).sum() ** 2,
             low=0.1)
    check_op([(3, 4)], lambda a: a.norm(-np.inf), lambda a: np.abs(a).min())


def test_norm_edge_cases_match_torch():
    torch = pytest.importorskip("torch")
    for values in ([1.0, -3.0, 0.0, 0.5], [0.0, 0.0], [2.0, -0.5, 0.5, 3.0]):
        for p in (0, 0.5, 1, 1.5, 2, 3, np.inf, -np.inf, -1):
            ours = mg.tensor(values, requires_grad=True)
            theirs = torch.tensor(values, requires_grad=True)
            out_ours, out_theirs = ours.norm(p), theirs.norm(p)
            np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=1e-6,
                                       err_msg=f"{values} p={p}")
            if p == 0:
                continue  # PyTorch leaves the gradient None; ours has no graph at all
            out_ours.backward()
            out_theirs.backward()
            np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-6,
                                       atol=1e-7, err_msg=f"{values} p={p}")


@pytest.mark.parametrize("empty", [(), []])
def test_reductions_over_an_empty_dim_list_reduce_everything(empty):
    x_np = make_inputs([(2, 3)])[0]
    x = mg.tensor(x_np)
    np.testing.assert_allclose(x.sum(dim=empty).data, x_np.sum())
    np.testing.assert_allclose(x.mean(dim=empty).data, x_np.mean())
    np.testing.assert_allclose(x.var(dim=empty).data, x_np.var(ddof=1))
    np.testing.assert_allclose(x.logsumexp(dim=empty).data, np_logsumexp(x_np))
    assert x.sum(dim=empty, keepdim=True).shape == (1, 1)
    assert x.flip(empty).data.tolist() == x_np.tolist()  # elsewhere () still means none
    assert x.unsqueeze(1).squeeze(empty).shape == (2, 1, 3)


def test_float_arange_is_computed_in_float64_and_rounded_once():
    for start, end, step in ((1.5, 100.2, 0.37), (0.0, 1.0, 0.1), (10.0, -5.0, -0.7),
                             (-3.3, 7.7, 0.013)):
        values = mg.arange(start, end, step)
        count = int(np.ceil((end - start) / step))
        exact = start + np.arange(count) * step
        assert values.dtype == np.float32 and values.shape == (count,)
        np.testing.assert_array_equal(values.data, exact.astype(np.float32))
        double = mg.arange(start, end, step, dtype=np.float64)
        np.testing.assert_array_equal(double.data, exact)
    assert mg.arange(5).dtype == np.int64 and mg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert mg.arange(1, 10, 3).tolist() == [1, 4, 7]
    assert mg.arange(3, dtype=np.float32).tolist() == [0.0, 1.0, 2.0]
    assert mg.arange(2.0, 1.0).shape == (0,)
    with pytest.raises(ValueError, match="step must be non-zero"):
        mg.arange(0.0, 1.0, 0.0)


def test_float_arange_agrees_with_torch_to_its_rounding():
    """PyTorch's SIMD kernel rounds the first value of each block to float32 first, so a few
    values differ in the last bits; none by more than the spacing at the range's end."""
    torch = pytest.importorskip("torch")
    for start, end, step in ((1.5, 100.2, 0.37), (-3.3, 7.7, 0.013), (0.0, 1000.0, 0.1)):
        ours, theirs = mg.arange(start, end, step), torch.arange(start, end, step)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32
        scale = np.spacing(np.float32(max(abs(start), abs(end))))
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=0, atol=scale)


def test_full_infers_its_dtype_from_the_fill_value():
    assert mg.full((2,), 3).dtype == np.int64
    assert mg.full((2,), True).dtype == np.bool_
    assert mg.full((2, 3), 3.0).dtype == np.float32
    assert mg.full((2,), 3, dtype=np.float64).dtype == np.float64
    assert mg.full((2,), np.int32(3)).dtype == np.int64
    np.testing.assert_array_equal(mg.full((2,), 7).data, [7, 7])
    torch = pytest.importorskip("torch")
    for fill in (3, True, 3.0):
        assert str(mg.full((2,), fill).dtype) == str(torch.full((2,), fill).dtype)[6:]


def test_public_functions_and_common_methods_have_docstrings():
    for fn in (F.softmax, F.log_softmax, F.relu, F.sigmoid, F.tanh, F.linear, F.embedding):
        assert fn.__doc__ and fn.__doc__.strip(), fn.__name__
    for name in ("sum", "mean", "max", "min", "reshape", "permute", "transpose", "softmax",
                 "log_softmax", "exp", "log", "view", "flatten", "squeeze", "unsqueeze",
                 "expand", "norm", "var", "std", "item", "float", "double", "__iter__"):
        assert getattr(mg.Tensor, name).__doc__, name


def test_matmul_of_two_vectors_backward():
    a, b = (mg.tensor([1.0, 2.0, 3.0], requires_grad=True),
            mg.tensor([4.0, 5.0, 6.0], requires_grad=True))
    (a @ b).backward()
    np.testing.assert_array_equal(a.grad.data, b.data)
    np.testing.assert_array_equal(b.grad.data, a.data)


def test_dropout():
    x = mg.tensor(np.full((100, 100), 2.0), requires_grad=True)
    mg.manual_seed(0)
    y = F.dropout(x, p=0.25)
    kept = y.data != 0
    assert set(np.unique(y.data)) == {0.0, 2.0 / 0.75}
    assert abs(kept.mean() - 0.75) < 0.02
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, kept / 0.75)
    assert F.dropout(x, 0.5, training=False) is x and F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0.0)
    mg.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, p=0.25).data, y.data)  # reproducible


def test_dropout_gradcheck():
    def fn(a):
        mg.manual_seed(3)  # the same mask at every evaluation
        return F.dropout(a, p=0.4)

    check_op([(4, 5)], fn, lambda a: np.where(fn(mg.tensor(a)).data != 0, a / 0.6, 0.0))


# ---------------------------------------------------------------- hypothesis
BINARY = {
    "add": (lambda a, b: a + b, np.add, -2.0),
    "sub": (lambda a, b: a - b, np.subtract, -2.0),
    "mul": (lambda a, b: a * b, np.multiply, -2.0),
    "div": (lambda a, b: a / b, np.divide, 0.5),
    "pow": (lambda a, b: a ** b, np.power, 0.5),
    "maximum": (mg.ops.maximum, np.maximum, -2.0),
    "minimum": (mg.ops.minimum, np.minimum, -2.0),
}
broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    max_side=3)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=20, deadline=None)
@given(shapes=broadcast_pairs, seed=st.integers(0, 2**16), swap=st.booleans())
def test_binary_ops_broadcast(name, shapes, seed, swap):
    fn, ref, low = BINARY[name]
    pair = shapes.input_shapes[::-1] if swap else shapes.input_shapes
    assert name in check_op(pair, fn, ref, low=low, high=2.0, seed=seed)


@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=4,
                                                max_side=3), seed=st.integers(0, 2**16))
def test_matmul_shapes(shapes, seed):
    """1-D operands on either side, and batch dimensions that broadcast."""
    assert "matmul" in check_op(shapes.input_shapes, lambda a, b: a @ b, np.matmul, seed=seed)


@st.composite
def shape_and_dims(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda d: d %
                         len(shape), min_size=1, max_size=len(shape)))
    return shape, tuple(dims), draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=30, deadline=None)
@given(shape_and_dims())
def test_reductions_against_numpy_and_analytic_gradients(args):
    shape, dims, keepdim, seed = args
    x_np = make_inputs([shape], seed=seed)[0]
    axes = tuple(d % len(shape) for d in dims)
    count = int(np.prod([shape[a] for a in axes]))
    lse = np_logsumexp(x_np, axes, keepdims=True)
    cases = {  # forward, analytic d sum(out * w) / dx given w reshaped to keepdim form
        "sum": (x_np.sum(axes, keepdims=keepdim), lambda w: np.broadcast_to(w, shape)),
        "mean": (x_np.mean(axes, keepdims=keepdim), lambda w: np.broadcast_to(w / count, shape)),
        "logsumexp": (lse if keepdim else lse.squeeze(axes), lambda w: w * np.exp(x_np - lse)),
    }
    for name, (expected, analytic) in cases.items():
        x = mg.tensor(x_np, requires_grad=True)
        out = getattr(x, name)(dims, keepdim=keepdim)
        assert out.shape == expected.shape and out.grad_fn.name == name
        np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-13)
        w = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(w)
        w_kept = w.reshape(np.sum(x_np, axes, keepdims=True).shape)
        np.testing.assert_allclose(x.grad.data, analytic(w_kept), rtol=1e-12, atol=1e-13)


@settings(max_examples=30, deadline=None)
@given(shape_and_dims())
def test_max_min_against_numpy_and_analytic_gradients(args):
    shape, dims, keepdim, seed = args
    x_np = make_inputs([shape], seed=seed)[0]
    dim = dims[0]
    for name, np_fn in (("max", np.max), ("min", np.min)):
        x = mg.tensor(x_np, requires_grad=True)
        values = getattr(x, name)(dim, keepdim=keepdim).values
        expected = np_fn(x_np, dim, keepdims=True)
        np.testing.assert_array_equal(values.data, expected if keepdim else expected.squeeze(dim))
        values.sum().backward()
        np.testing.assert_array_equal(x.grad.data, (x_np == expected).astype(float))
        whole = getattr(mg.tensor(x_np, requires_grad=True), name)()
        assert whole.shape == () and whole.item() == np_fn(x_np)


@pytest.mark.parametrize("shape, dim, keepdim", [
    ((2, 3, 4), None, False), ((2, 3, 4), 1, False), ((2, 3, 4), (0, 2), True),
    ((), None, False), ((0, 3), 0, False), ((2, 0), None, True)])
@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # mean over nothing: nan, as in numpy
def test_reduction_gradient_is_a_read_only_spread_of_the_output_gradient(op, shape, dim,
                                                                           keepdim):
    """Sum and mean pass back a stride-0 view (no copy) that nothing may write through; the
    leaf's .grad made from it is an ordinary writable C-contiguous array."""
    x = mg.tensor(np.arange(math.prod(shape), dtype=np.float64).reshape(shape),
                  requires_grad=True)
    y = getattr(x, op)(dim=dim, keepdim=keepdim)
    g = np.arange(1.0, 2 * y.data.size + 1).reshape(*y.shape, 2)[..., 0]  # not contiguous
    spread = y.grad_fn.backward(g)
    assert spread.shape == x.shape and not spread.flags.writeable
    axes = tuple(range(x.ndim)) if dim is None else np.atleast_1d(dim).tolist()
    kept = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    count = max(x.data.size, 1) / max(y.data.size, 1) if op == "mean" else 1
    np.testing.assert_array_equal(spread, np.broadcast_to(kept, shape) / count)
    if spread.size:
        with pytest.raises(ValueError, match="read-only"):
            spread[(0,) * x.ndim] = 1.0
    y.backward(mg.tensor(g))
    assert x.grad.data.flags.writeable and x.grad.data.flags.c_contiguous
    x.grad.data += 1.0                # an optimizer may update .grad in place


def test_reshape_to_the_same_shape_adds_no_node():
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    assert y.reshape(2, 3) is y and y.view(2, 3) is y
    assert y.reshape(3, 2).grad_fn is not y.grad_fn


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 6), width=st.integers(1, 4), data=st.data())
def test_sum_rows_by_index_equals_add_at(count, width, data):
    """The backward of row gathers (getitem with one integer array, embedding) against
    numpy's unbuffered ``np.add.at``: repeats add up, rows never picked stay zero."""
    from minigrad.ops._scatter import sum_rows_by_index

    index = np.array(data.draw(st.lists(st.integers(0, count - 1), max_size=12)), np.int64)
    rows = np.random.default_rng(len(index)).standard_normal((len(index), width))
    want = np.zeros((count, width))
    np.add.at(want, index, rows)
    got = sum_rows_by_index(rows, index, count)
    assert got.shape == want.shape and got.dtype == rows.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.intp])
def test_row_gather_gradient_with_small_integer_index_types(dtype):
    """A row gather's backward adds the row count to negative indices: that must not
    overflow an index dtype too small to hold the count (300 rows, a uint8 index)."""
    x = mg.tensor(np.arange(600.0).reshape(300, 2), requires_grad=True)
    index = np.array([1, 2, 1] + ([-1] if np.dtype(dtype).kind == "i" else []), dtype=dtype)
    x[index].sum().backward()
    want = np.zeros((300, 2))
    np.add.at(want, index.astype(np.intp), 1.0)
    np.testing.assert_array_equal(x.grad.data, want)
