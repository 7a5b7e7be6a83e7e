"""rnn.timeseries (windows, chronological split without leaks), streaming ``step`` against the
full-sequence forward, and truncated BPTT against full BPTT."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
import rnn
from rnn.timeseries import chronological_split, make_windows


# ---------------------------------------------------------------------------- make_windows
def test_make_windows_small_example():
    w = make_windows(np.arange(7), window=3, horizon=2)
    assert w.inputs.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert w.targets.tolist() == [[3, 4], [4, 5], [5, 6]]
    assert w.starts.tolist() == [0, 1, 2]
    assert w.origins.tolist() == [3, 4, 5]
    assert len(w) == 3


def test_make_windows_features_stride_and_copies():
    series = np.arange(40.0).reshape(20, 2)
    w = make_windows(series, window=4, horizon=3, stride=5)
    assert w.inputs.shape == (3, 4, 2) and w.targets.shape == (3, 3, 2)
    assert w.starts.tolist() == [0, 5, 10]
    np.testing.assert_array_equal(w.inputs[1], series[5:9])
    np.testing.assert_array_equal(w.targets[2], series[14:17])
    w.inputs[0, 0, 0] = -1.0
    assert series[0, 0] == 0.0  # the windows are copies


def test_make_windows_target_region_and_empty():
    w = make_windows(np.arange(30), window=5, horizon=2, target_start=10, target_stop=20)
    assert w.target_times.min() == 10 and w.target_times.max() == 19
    assert w.input_times.min() == 5  # inputs may reach back before the region
    empty = make_windows(np.arange(5), window=4, horizon=2)
    assert len(empty) == 0 and empty.inputs.shape == (0, 4) and empty.targets.shape == (0, 2)


@pytest.mark.parametrize("kwargs", [dict(window=0, horizon=1), dict(window=2, horizon=0),
                                    dict(window=2, horizon=1, stride=0),
                                    dict(window=2.5, horizon=1)])
def test_make_windows_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="must be an int >= 1"):
        make_windows(np.arange(10), **kwargs)


# ----------------------------------------------------------------------- chronological_split
def _check_no_leak(split, length, window, horizon, stride):
    train, val, test = split.train, split.val, split.test
    for part in (train, val, test):
        # every window is what it claims to be (the series is arange, so values are times)
        np.testing.assert_array_equal(part.inputs, part.input_times)
        np.testing.assert_array_equal(part.targets, part.target_times)
        assert part.input_times.size == 0 or part.input_times.min() >= 0
        assert part.target_times.size == 0 or part.target_times.max() < length
        assert np.all(np.diff(part.starts) == stride)
    # 1. targets in time order: train < val < test
    assert train.target_times.max() < split.val_start
    if len(val):
        assert split.val_start <= val.target_times.min()
        assert val.target_times.max() < split.test_start
    if len(test):
        assert split.test_start <= test.target_times.min()
    # 2. no train input is a val/test target, no val input is a test target
    assert train.input_times.max() < split.val_start
    if len(val):
        assert val.input_times.max() < split.test_start
    # nothing is thrown away but the windows that straddle a boundary (stride 1)
    if stride == 1:
        assert len(train) == split.val_start - window - horizon + 1
        if len(val):
            assert len(val) == split.test_start - split.val_start - horizon + 1
        if len(test):
            assert len(test) == length - split.test_start - horizon + 1


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 600), window=st.integers(1, 30), horizon=st.integers(1, 15),
       val_fraction=st.floats(0.0, 0.5), test_fraction=st.floats(0.0, 0.45),
       stride=st.sampled_from([1, 1, 1, 3]))
def test_chronological_split_never_leaks(length, window, horizon, val_fraction, test_fraction,
                                         stride):
    series = np.arange(length)
    try:
        split = chronological_split(series, window=window, horizon=horizon, stride=stride,
                                    val_fraction=val_fraction, test_fraction=test_fraction)
    except ValueError as err:
        # refused only when a region is really too short for one window
        n_test = round(test_fraction * length)
        n_val = round(val_fraction * length)
        too_short = ((val_fraction > 0 and n_val < horizon)
                     or (test_fraction > 0 and n_test < horizon)
                     or length - n_test - n_val < window + horizon)
        assert too_short, err
        event("refused: a region too short")
        return
    assume(len(split.train) > 0)
    event("split")
    _check_no_leak(split, length, window, horizon, stride)


def test_chronological_split_docstring_figures():
    split = chronological_split(np.arange(100.0), window=10, horizon=5, val_fraction=0.2,
                                test_fraction=0.2)
    assert (split.val_start, split.test_start) == (60, 80)
    assert len(split.train) == 46 and len(split.val) == 16 and len(split.test) == 16
    # the first validation window reads the end of the training region: the past, no leak
    assert split.val.input_times[0].tolist() == list(range(50, 60))


def test_chronological_split_multivariate_and_empty_val():
    series = np.arange(300.0).reshape(100, 3)
    split = chronological_split(series, window=8, horizon=4, val_fraction=0.0,
                                test_fraction=0.25)
    assert len(split.val) == 0 and split.val.inputs.shape == (0, 8, 3)
    assert split.test.targets.shape[1:] == (4, 3)
    assert split.val_start == split.test_start == 75


@pytest.mark.parametrize("kwargs, match", [
    (dict(val_fraction=0.6, test_fraction=0.4), "must be < 1"),
    (dict(val_fraction=-0.1), r"val_fraction must be in \[0, 1\)"),
    (dict(test_fraction=0.01), "test region has 1 steps"),
    (dict(val_fraction=0.45, test_fraction=0.45, window=30), "training region has"),
])
def test_chronological_split_errors(kwargs, match):
    args = dict(window=5, horizon=3, val_fraction=0.2, test_fraction=0.2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        chronological_split(np.arange(100), **args)


# --------------------------------------------------------------------------------- streaming
def _stream(layer, x, time_axis, state=None):
    outputs = []
    for t in range(x.shape[time_axis]):
        x_t = x[:, t] if time_axis == 1 else x[t]
        output, state = layer.step(mg.tensor(x_t), state)
        outputs.append(output.detach().numpy())
    return np.stack(outputs, axis=time_axis), state


def _states(state):
    return [s.detach().numpy() for s in (state if isinstance(state, tuple) else (state,))]


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_streaming_equals_full_sequence(mode, num_layers, batch_first, with_state):
    """Batched streaming is bit-for-bit the full forward, outputs and final states."""
    rng = np.random.default_rng(0)
    mg.manual_seed(1)
    layer = getattr(rnn, mode)(5, 6, num_layers, batch_first=batch_first, dtype=np.float64)
    x = rng.standard_normal((4, 9, 5) if batch_first else (9, 4, 5))
    hx = None
    if with_state:
        h0 = mg.tensor(rng.standard_normal((num_layers, 4, 6)))
        hx = (h0, mg.tensor(rng.standard_normal((num_layers, 4, 6)))) if mode == "LSTM" else h0
    full, full_state = layer(mg.tensor(x), hx)
    streamed, stream_state = _stream(layer, x, 1 if batch_first else 0, hx)
    np.testing.assert_array_equal(streamed, full.detach().numpy())
    for a, b in zip(_states(stream_state), _states(full_state), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_streaming_unbatched(mode):
    """Unbatched (one sequence) streaming: equal to the last rounding (numpy multiplies a
    single row with gemv, whose summation order differs from the many-row gemm)."""
    rng = np.random.default_rng(2)
    layer = getattr(rnn, mode)(3, 5, 2, dtype=np.float64)
    x = rng.standard_normal((11, 3))
    full, full_state = layer(mg.tensor(x))
    streamed, stream_state = _stream(layer, x, 0)
    assert streamed.shape == (11, 5)
    np.testing.assert_allclose(streamed, full.detach().numpy(), rtol=0, atol=1e-14)
    for a, b in zip(_states(stream_state), _states(full_state), strict=True):
        assert a.shape == (2, 5)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_bidirectional_step_raises(mode):
    layer = getattr(rnn, mode)(3, 4, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        layer.step(mg.zeros(2, 3))


# ---------------------------------------------------------------------------- truncated BPTT
class _TinyLM(mg.nn.Module):
    def __init__(self, mode):
        super().__init__()
        self.rnn = getattr(rnn, mode)(3, 5, dtype=np.float64)
        self.out = mg.nn.Linear(5, 4, dtype=np.float64)

    def forward(self, x, state):
        output, state = self.rnn(x, state)
        return self.out(output), state


def _tbptt_run(model, x, y, chunk_len):
    """Summed (not averaged) loss over chunks, so chunk losses add up to the full loss."""
    model.zero_grad()

    def step(x_chunk, y_chunk, state):
        logits, state = model(x_chunk, state)
        return F.cross_entropy(logits.reshape(-1, 4), y_chunk.reshape(-1),
                               reduction="sum"), state

    losses, _ = rnn.truncated_bptt(step, x, y, chunk_len)
    return sum(losses), {n: p.grad.numpy().copy() for n, p in model.named_parameters()}


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_tbptt_with_long_chunks_is_full_bptt(mode):
    rng = np.random.default_rng(3)
    mg.manual_seed(3)
    model = _TinyLM(mode)
    x = mg.tensor(rng.standard_normal((12, 2, 3)))
    y = mg.tensor(rng.integers(0, 4, (12, 2)))
    full_loss, full_grads = _tbptt_run(model, x, y, chunk_len=12)  # one chunk = full BPTT
    for k in (12, 50):
        loss, grads = _tbptt_run(model, x, y, chunk_len=k)
        assert loss == full_loss
        for name in full_grads:
            np.testing.assert_array_equal(grads[name], full_grads[name])
    # shorter chunks: the forward (the loss) is unchanged, the gradient is truncated
    loss, grads = _tbptt_run(model, x, y, chunk_len=4)
    assert loss == pytest.approx(full_loss, rel=1e-12)
    assert not np.allclose(grads["rnn.weight_hh_l0"], full_grads["rnn.weight_hh_l0"])


def test_tbptt_without_detach_fails_at_the_second_chunk():
    model = _TinyLM("LSTM")
    x = mg.tensor(np.zeros((8, 2, 3)))
    y = mg.tensor(np.zeros((8, 2), dtype=np.int64))
    seen = []

    def step(x_chunk, y_chunk, state):
        seen.append(len(seen))
        logits, state = model(x_chunk, state)
        return F.cross_entropy(logits.reshape(-1, 4), y_chunk.reshape(-1)), state

    with pytest.raises(RuntimeError, match="detach_state"):
        rnn.truncated_bptt(step, x, y, chunk_len=4, detach=False)
    assert seen == [0, 1]
