"""GradientFlow: ||dL/dh_t|| per step and gate statistics, the same for every implementation."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import composed
from rnn.gradflow import GradientFlow

KINDS = [(rnn.LSTM, {}), (rnn.GRU, {}), (rnn.GRU, {"reset_after": True}), (rnn.RNN, {}),
         (rnn.RNN, {"nonlinearity": "relu"})]
IMPLS = ["fused", "stepwise", "composed"]


def _hand_unrolled_norms(layer, x: np.ndarray, weights_r: np.ndarray) -> np.ndarray:
    """Reference: the layer's math written out step by step with rnn.composed, reading
    dL/dh_t from ``retain_grad`` on each h_t (no recorder involved)."""
    mode = layer.mode
    w = dict(layer.named_parameters())
    h = mg.zeros(x.shape[1], layer.hidden_size, dtype=np.float64)
    c = mg.zeros(x.shape[1], layer.hidden_size, dtype=np.float64)
    states, loss = [], None
    for t in range(x.shape[0]):
        x_t = mg.tensor(x[t])
        if mode == "LSTM":
            h, c = composed.lstm_step(x_t, h, c, w["weight_ih_l0"], w["weight_hh_l0"],
                                      w["bias_l0"])
        elif mode == "GRU":
            h = composed.gru_step(x_t, h, w["weight_ih_l0"], w["weight_hh_l0"], w["bias_l0"],
                                  w.get("bias_hn_l0"))
        else:
            h = composed.rnn_step(x_t, h, w["weight_ih_l0"], w["weight_hh_l0"], w["bias_l0"],
                                  layer.nonlinearity)
        h.retain_grad()
        states.append(h)
        term = (h * mg.tensor(weights_r[t])).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return np.array([np.linalg.norm(s.grad.data) for s in states])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind,options", KINDS)
def test_recorded_norms_equal_hand_unrolled_gradients(kind, options, impl) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3, 4))
    weights_r = rng.standard_normal((6, 3, 5))
    mg.manual_seed(0)
    layer = kind(4, 5, impl=impl, dtype=np.float64, **options)
    with GradientFlow() as flow:
        output, _ = layer(mg.tensor(x))
        (output * mg.tensor(weights_r)).sum().backward()
    expected = _hand_unrolled_norms(layer, x, weights_r)
    np.testing.assert_allclose(flow.state_grad_norms["l0"], expected, rtol=1e-12)


@pytest.mark.parametrize("kind,options", KINDS[:4])
def test_every_impl_records_the_same_numbers_on_packed_bidirectional_stacks(kind, options):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 3, 4))
    flows, outputs = {}, {}
    for impl in IMPLS:
        mg.manual_seed(0)
        layer = kind(4, 5, num_layers=2, bidirectional=True, impl=impl, dtype=np.float64,
                     **options)
        with GradientFlow() as flow:
            output, state = layer(rnn.pack_padded_sequence(mg.tensor(x), [7, 5, 2]))
            h_n = state[0] if isinstance(state, tuple) else state
            ((output.data ** 2).sum() + (h_n * h_n).sum()).backward()
        flows[impl], outputs[impl] = flow, output.data.data
    assert set(flows["fused"].state_grad_norms) == {"l0", "l0_reverse", "l1", "l1_reverse"}
    for impl in ("stepwise", "composed"):
        np.testing.assert_allclose(outputs[impl], outputs["fused"], rtol=1e-12, atol=1e-14)
        for key, norms in flows["fused"].state_grad_norms.items():
            np.testing.assert_allclose(flows[impl].state_grad_norms[key], norms, rtol=1e-12)
            for gate, stats in flows["fused"].gate_stats[key].items():
                for name in ("mean", "saturated"):
                    np.testing.assert_allclose(flows[impl].gate_stats[key][gate][name],
                                               stats[name], rtol=1e-12, atol=1e-15)


def test_vanilla_rnn_gradients_vanish_where_lstm_gradients_survive() -> None:
    """The seed's claim, in numbers: with the loss on the last step only, a saturating tanh
    RNN's ||dL/dh_t|| collapses going back in time; an LSTM's fades far more slowly."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 8, 16))
    ratios = {}
    for kind in (rnn.RNN, rnn.LSTM):
        mg.manual_seed(0)
        layer = kind(16, 32, dtype=np.float64)
        layer.reset_parameters(forget_bias=1.0) if kind is rnn.LSTM else None
        with GradientFlow() as flow:
            output, _ = layer(mg.tensor(x))
            output[-1].sum().backward()
        norms = flow.state_grad_norms["l0"]
        ratios[kind.__name__] = norms[0] / norms[-1]
    assert ratios["RNN"] < 1e-6
    assert ratios["LSTM"] > 1e3 * ratios["RNN"]


def test_gate_statistics_are_fractions_and_table_lists_every_step() -> None:
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4)
    with GradientFlow() as flow:
        output, _ = lstm(mg.randn(5, 2, 3))
        output.sum().backward()
    stats = flow.gate_stats["l0"]
    assert set(stats) == {"i", "f", "g", "o"}
    for gate in stats.values():
        assert gate["mean"].shape == (5,) and np.all((gate["saturated"] >= 0)
                                                     & (gate["saturated"] <= 1))
    assert np.all(stats["f"]["mean"] > 0) and np.all(stats["f"]["mean"] < 1)
    assert len(flow.table().splitlines()) == 1 + 5


def test_nothing_is_recorded_outside_the_context() -> None:
    lstm = rnn.LSTM(3, 4)
    with GradientFlow() as flow:
        pass
    output, _ = lstm(mg.randn(5, 2, 3))
    output.sum().backward()
    assert flow.state_grad_norms == {}


def test_a_layer_run_twice_gets_a_second_key() -> None:
    mg.manual_seed(0)
    gru = rnn.GRU(3, 4)
    with GradientFlow() as flow:
        first, _ = gru(mg.randn(6, 2, 3))
        second, _ = gru(mg.randn(4, 2, 3))
        (first.sum() + second.sum()).backward()
    norms = flow.state_grad_norms
    assert set(norms) == {"l0", "l0#2"}
    assert norms["l0"].shape == (6,) and norms["l0#2"].shape == (4,)
    assert np.all(norms["l0"] > 0) and np.all(norms["l0#2"] > 0)
