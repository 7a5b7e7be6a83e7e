"""rnn.state: detach_state on every container, chunks, and truncated BPTT (same forward as
full BPTT, the truncated gradient computed independently, a graph that stays bounded over
1,000 chunks, and the engine's clear error when the state is not detached).
Shape legend: L length, N batch, H hidden size.
"""

from __future__ import annotations

import gc
import weakref
from collections import namedtuple
from typing import NamedTuple

import numpy as np
import pytest

import minigrad as mg
import rnn
from minigrad.autograd import Function


def rand(*shape, seed=0, requires_grad=False):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape),
                     requires_grad=requires_grad)


def attached(seed=0):
    """A tensor with a graph behind it."""
    leaf = rand(2, 3, seed=seed, requires_grad=True)
    return leaf * 2.0


def reachable_nodes(tensor):
    """Every graph node reachable from ``tensor`` through ``grad_fn.inputs``."""
    seen, stack = {}, [tensor.grad_fn] if tensor.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(t.grad_fn for t in node.inputs if t.grad_fn is not None)
    return list(seen.values())


def live_functions():
    gc.collect()
    return sum(issubclass(type(o), Function) for o in gc.get_objects())


def assert_detached(new, old):
    assert isinstance(new, mg.Tensor) and new is not old
    assert new.grad_fn is None and not new.requires_grad
    assert np.shares_memory(new.data, old.data)  # values kept, not copied
    assert old.grad_fn is not None  # the original is untouched


# ----------------------------------------------------------------------------- detach_state
def test_detach_tensor_and_none():
    h = attached()
    assert_detached(rnn.detach_state(h), h)
    assert rnn.detach_state(None) is None
    leaf = rand(3, requires_grad=True)
    detached = rnn.detach_state(leaf)
    assert not detached.requires_grad and leaf.requires_grad


def test_detach_tuple_list_dict_and_nested():
    h, c, h2, c2, e = (attached(i) for i in range(5))
    out = rnn.detach_state((h, c))
    assert type(out) is tuple and len(out) == 2
    assert_detached(out[0], h)
    assert_detached(out[1], c)
    out = rnn.detach_state([h, c])
    assert type(out) is list
    assert_detached(out[1], c)
    out = rnn.detach_state({"h": h, "c": c})
    assert type(out) is dict and list(out) == ["h", "c"]
    assert_detached(out["c"], c)
    nested = {"encoder": (h, c), "layers": [h2, (c2, None)], "extra": {"e": [e]}, "none": None}
    out = rnn.detach_state(nested)
    assert_detached(out["encoder"][0], h)
    assert_detached(out["encoder"][1], c)
    assert_detached(out["layers"][0], h2)
    assert_detached(out["layers"][1][0], c2)
    assert out["layers"][1][1] is None and out["none"] is None
    assert_detached(out["extra"]["e"][0], e)
    assert isinstance(out["layers"][1], tuple)


def test_detach_namedtuples_keep_their_type():
    State = namedtuple("State", "h c")

    class Typed(NamedTuple):
        h: mg.Tensor
        inner: State

    h, c, h2 = attached(0), attached(1), attached(2)
    out = rnn.detach_state(Typed(h2, State(h, c)))
    assert type(out) is Typed and type(out.inner) is State
    assert_detached(out.h, h2)
    assert_detached(out.inner.h, h)
    assert_detached(out.inner.c, c)


def test_detach_lstm_state_from_a_layer():
    lstm = rnn.LSTM(2, 3, num_layers=2, dtype=np.float64)
    _, (h_n, c_n) = lstm(rand(4, 2, 2))
    h, c = rnn.detach_state((h_n, c_n))
    assert_detached(h, h_n)
    assert_detached(c, c_n)
    lstm(rand(4, 2, 2, seed=1), (h, c))  # usable as the next initial state


@pytest.mark.parametrize("bad", [3, 1.5, "h", np.zeros(3), {1, 2}])
def test_detach_refuses_what_it_cannot_detach(bad):
    with pytest.raises(TypeError, match=r"detach_state: cannot detach a \w+; expected tensors "
                                        r"in tuples, lists or dicts"):
        rnn.detach_state(bad)
    with pytest.raises(TypeError, match=r"cannot detach"):
        rnn.detach_state({"h": attached(), "bad": [bad]})


# ------------------------------------------------------------------------------------ chunks
def test_chunks_single_and_aligned_sequences():
    x = mg.tensor(np.arange(10.0).reshape(5, 2))
    pieces = list(rnn.chunks(x, chunk_len=2))
    assert all(isinstance(p, mg.Tensor) for p in pieces)  # a bare tensor per piece
    assert [p.shape for p in pieces] == [(2, 2), (2, 2), (1, 2)]  # the last one shorter
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces]), x.data)
    y = mg.tensor(np.arange(5))
    pairs = list(rnn.chunks(x, y, chunk_len=3))
    assert [len(p) for p in pairs] == [2, 2]
    np.testing.assert_array_equal(pairs[1][0].data, x.data[3:])
    np.testing.assert_array_equal(pairs[1][1].data, [3, 4])
    assert len(list(rnn.chunks(x, chunk_len=5))) == 1
    assert len(list(rnn.chunks(x, chunk_len=99))) == 1


def test_chunks_along_another_dim():
    x = mg.tensor(np.arange(24.0).reshape(2, 4, 3))  # batch-first (N, L, H)
    for dim in (1, -2):
        pieces = list(rnn.chunks(x, chunk_len=3, dim=dim))
        assert [p.shape for p in pieces] == [(2, 3, 3), (2, 1, 3)]
        np.testing.assert_array_equal(np.concatenate([p.data for p in pieces], axis=1),
                                      x.data)
    last = list(rnn.chunks(x, chunk_len=2, dim=-1))
    assert [p.shape for p in last] == [(2, 4, 2), (2, 4, 1)]


def test_chunks_are_differentiable():
    x = rand(7, 2, requires_grad=True)
    w = np.random.default_rng(1).standard_normal((7, 2))
    for start, piece in zip(range(0, 7, 3), rnn.chunks(x, chunk_len=3), strict=True):
        (piece * mg.tensor(w[start:start + 3])).sum().backward()
    np.testing.assert_array_equal(x.grad.data, w)


def test_chunks_errors():
    x = mg.zeros(5, 2)
    with pytest.raises(ValueError, match=r"chunk_len must be at least 1, got 0"):
        list(rnn.chunks(x, chunk_len=0))
    with pytest.raises(ValueError, match=r"give at least one sequence"):
        list(rnn.chunks(chunk_len=2))
    with pytest.raises(ValueError, match=r"sequence 1 has 4 steps along dim 0, sequence 0 has "
                                         r"5"):
        list(rnn.chunks(x, mg.zeros(4), chunk_len=2))


# --------------------------------------------------------------------------- truncated BPTT
def sequence_task(length=12, seed=0):
    mg.manual_seed(seed)
    model = rnn.GRU(2, 3, dtype=np.float64)
    x = rand(length, 2, 2, seed=seed + 1)
    y = rand(length, 2, 3, seed=seed + 2)
    return model, x, y


def squared_error(output, target):
    return ((output - target) ** 2).sum()


def make_step(model):
    def step(x, y, state):
        output, state = model(x, state)
        return squared_error(output, y), state
    return step


def grads_of(model):
    return {name: p.grad.data.copy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("chunk_len", [12, 20])
def test_tbptt_equals_full_bptt_when_chunk_covers_the_sequence(chunk_len):
    model, x, y = sequence_task()
    output, h_full = model(x)
    full = squared_error(output, y)
    full.backward()
    full_grads = grads_of(model)
    model.zero_grad()
    losses, state = rnn.truncated_bptt(make_step(model), x, y, chunk_len=chunk_len)
    assert losses == [pytest.approx(full.item(), rel=1e-15, abs=0)]
    np.testing.assert_array_equal(state.data, h_full.data)
    for name, grad in grads_of(model).items():
        np.testing.assert_allclose(grad, full_grads[name], rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("chunk_len", [1, 3, 5])
def test_tbptt_forward_is_the_full_forward_and_gradient_is_truncated(chunk_len):
    """The chunk losses add up to the full loss (the state is carried), while each chunk's
    gradient treats its initial state as a constant: computed here independently from the
    full run's states at the chunk boundaries."""
    model, x, y = sequence_task()
    output, h_full = model(x)
    full = squared_error(output, y)
    full.backward()
    full_grads = grads_of(model)

    expected = {name: np.zeros_like(g) for name, g in full_grads.items()}
    for start in range(0, 12, chunk_len):
        model.zero_grad()
        h0 = None if start == 0 else mg.tensor(output.data[start - 1][None])  # a constant
        out, _ = model(x[start:start + chunk_len], h0)
        squared_error(out, y[start:start + chunk_len]).backward()
        for name, g in grads_of(model).items():
            expected[name] += g

    model.zero_grad()
    seen = []
    losses, state = rnn.truncated_bptt(make_step(model), x, y, chunk_len=chunk_len,
                                       on_loss=lambda loss: (seen.append(loss),
                                                             loss.backward()))
    assert len(losses) == len(seen) == -(-12 // chunk_len)
    assert losses == [loss.item() for loss in seen]
    np.testing.assert_allclose(sum(losses), full.item(), rtol=1e-12)
    np.testing.assert_allclose(state.data, h_full.data, rtol=1e-12, atol=1e-12)
    for name, grad in grads_of(model).items():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-12, atol=1e-12)
        assert not np.allclose(grad, full_grads[name])  # truncation changes the gradient


def test_tbptt_with_lstm_state_batch_first_and_initial_state():
    mg.manual_seed(0)
    model = rnn.LSTM(2, 3, batch_first=True, dtype=np.float64)
    x, y = rand(2, 9, 2, seed=1), rand(2, 9, 3, seed=2)
    h0 = (rand(1, 2, 3, seed=3), rand(1, 2, 3, seed=4))
    output, final = model(x, h0)
    losses, state = rnn.truncated_bptt(make_step(model), x, y, chunk_len=4, state=h0, dim=1)
    assert len(losses) == 3
    np.testing.assert_allclose(sum(losses), squared_error(output, y).item(), rtol=1e-12)
    assert isinstance(state, tuple)
    for got, want in zip(state, final, strict=True):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-12)


def test_graph_stays_bounded_over_1000_chunks():
    mg.manual_seed(0)
    model = rnn.LSTM(2, 3, dtype=np.float64)
    x, y = rand(2000, 1, 2, seed=1), rand(2000, 1, 3, seed=2)
    alive = weakref.WeakSet()  # every graph node ever built, without keeping it alive
    sizes, live = [], {}

    def on_loss(loss):
        nodes = reachable_nodes(loss)
        sizes.append(len(nodes))
        alive.update(nodes)
        loss.backward()
        if len(sizes) in (10, 1000):
            live[len(sizes)] = live_functions()

    losses, state = rnn.truncated_bptt(make_step(model), x, y, chunk_len=2, on_loss=on_loss)
    assert len(losses) == len(sizes) == 1000
    assert len(set(sizes[1:])) == 1 and sizes[0] <= sizes[1] <= 20  # the same small graph
    assert live[1000] == live[10]  # no graph node accumulates
    gc.collect()
    assert len(alive) <= sizes[-1]  # only the last chunk's graph (held by `state`) is alive
    assert np.isfinite(losses).all()


def test_without_detach_or_backward_the_graph_grows():
    """The contrast that shows the measure above works: no detach (and no backward, so no
    error) keeps every chunk's graph reachable."""
    model, x, y = sequence_task(length=40)
    sizes = []
    rnn.truncated_bptt(make_step(model), x, y, chunk_len=2, detach=False,
                       on_loss=lambda loss: sizes.append(len(reachable_nodes(loss))))
    growth = np.diff(sizes)
    assert len(sizes) == 20 and np.all(growth > 0) and len(set(growth[1:])) == 1


def test_forgetting_to_detach_fails_clearly_at_the_second_chunk():
    model, x, y = sequence_task()
    calls = []
    step = make_step(model)

    def counting_step(x_chunk, y_chunk, state):
        calls.append(x_chunk.shape)
        return step(x_chunk, y_chunk, state)

    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*"
                                           r"detach it first.*rnn\.detach_state\(state\)"):
        rnn.truncated_bptt(counting_step, x, y, chunk_len=4, detach=False)
    assert len(calls) == 2  # the first chunk trains; the second one stops at once
    # with detach the same loop runs to the end
    losses, _ = rnn.truncated_bptt(counting_step, x, y, chunk_len=4)
    assert len(losses) == 3


def test_tbptt_trains():
    """on_loss can clip and step an optimizer; the loss goes down."""
    model, x, _ = sequence_task(length=20)
    y = mg.tensor(0.5 * np.tanh(x.data @ np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0]])))
    optimizer = mg.optim.Adam(model.parameters(), lr=0.05)

    def on_loss(loss):
        optimizer.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    first, _ = rnn.truncated_bptt(make_step(model), x, y, chunk_len=5, on_loss=on_loss)
    for _ in range(20):
        last, _ = rnn.truncated_bptt(make_step(model), x, y, chunk_len=5, on_loss=on_loss)
    assert sum(last) < 0.3 * sum(first)
