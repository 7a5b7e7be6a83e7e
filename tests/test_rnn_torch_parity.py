"""Layers loaded with PyTorch's weights reproduce PyTorch's outputs and every gradient.

The reference values in ``tests/data/rnn_torch_reference.npz`` were computed by PyTorch 2.13
(CPU, float64) for 16 configurations of ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (listed in the
.json beside it): input_size 5, hidden_size 7, batch 4, 9 steps, and the loss
``sum(output * R) + sum(h_n * S) [+ sum(c_n * U)]`` with output padded with zeros. No torch is
needed to run these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import interop

DATA = Path(__file__).parent / "data"
CASES = json.loads((DATA / "rnn_torch_reference.json").read_text())["cases"]
REFERENCE = np.load(DATA / "rnn_torch_reference.npz", allow_pickle=False)
LAYERS = {"rnn": rnn.RNN, "lstm": rnn.LSTM, "gru": rnn.GRU}


def _get(case: int, name: str) -> np.ndarray | None:
    key = f"case{case}/{name}"
    return REFERENCE[key] if key in REFERENCE.files else None


def _build(config: dict, impl: str) -> rnn.layers._RecurrentLayer:
    layer = LAYERS[config["kind"]](
        config["input_size"], config["hidden_size"], config["num_layers"],
        bidirectional=config["bidirectional"], batch_first=config["batch_first"],
        nonlinearity=config["nonlinearity"], reset_after=config["kind"] == "gru",
        impl=impl, dtype=np.float64)
    prefix = f"case{config['case']}/torch_state/"
    layer.load_torch_state_dict({k[len(prefix):]: REFERENCE[k] for k in REFERENCE.files
                                 if k.startswith(prefix)})
    return layer


def _torch_grads_as_ours(config: dict) -> dict[str, np.ndarray]:
    """PyTorch's parameter gradients mapped like the weights (summed bias pairs share one
    gradient; the GRU update gate's rows change sign)."""
    case, hidden, kind = config["case"], config["hidden_size"], config["kind"].upper()
    prefix = f"case{case}/torch_grad/"
    grads = {k[len(prefix):]: REFERENCE[k] for k in REFERENCE.files if k.startswith(prefix)}
    ours = {}
    for name in [n for n in grads if n.startswith("weight_ih")]:
        tail = name[len("weight_ih"):]
        bias_hh = np.zeros_like(grads["bias_hh" + tail])
        if kind == "GRU":  # only the candidate's hidden bias is a parameter of its own
            bias_hh[2 * hidden:] = grads["bias_hh" + tail][2 * hidden:]
        mapped = interop.from_torch(kind, {"weight_ih": grads["weight_ih" + tail],
                                           "weight_hh": grads["weight_hh" + tail],
                                           "bias_ih": grads["bias_ih" + tail],
                                           "bias_hh": bias_hh},
                                    hidden, has_bias=True, reset_after=True)
        ours.update({f"{n}{tail}": v for n, v in mapped.items()})
    return ours


@pytest.mark.parametrize("impl", ["fused", "composed"])
@pytest.mark.parametrize("config", CASES, ids=lambda c: f"case{c['case']}-{c['kind']}")
def test_layer_matches_pytorch(config: dict, impl: str) -> None:
    case, kind = config["case"], config["kind"]
    layer = _build(config, impl)
    x = mg.tensor(_get(case, "x"), requires_grad=True)
    lengths = _get(case, "lengths")
    h0, c0 = _get(case, "h0"), _get(case, "c0")
    state = None
    if h0 is not None:
        h0 = mg.tensor(h0, requires_grad=True)
        state = h0
        if kind == "lstm":
            c0 = mg.tensor(c0, requires_grad=True)
            state = (h0, c0)

    if config["packed"]:
        packed = rnn.pack_padded_sequence(x, lengths, batch_first=config["batch_first"],
                                          enforce_sorted=False)
        packed_out, final = layer(packed, state)
        output, _ = rnn.pad_packed_sequence(packed_out, batch_first=config["batch_first"],
                                            total_length=config["steps"])
    else:
        output, final = layer(x, state)
    h_n, c_n = final if kind == "lstm" else (final, None)

    loss = (output * mg.tensor(_get(case, "R"))).sum() + (h_n * mg.tensor(_get(case, "S"))).sum()
    if c_n is not None:
        loss = loss + (c_n * mg.tensor(_get(case, "U"))).sum()
    loss.backward()

    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output.data, _get(case, "output"), **tol)
    np.testing.assert_allclose(h_n.data, _get(case, "h_n"), **tol)
    if c_n is not None:
        np.testing.assert_allclose(c_n.data, _get(case, "c_n"), **tol)
    np.testing.assert_allclose(loss.item(), float(_get(case, "loss")), **tol)
    np.testing.assert_allclose(x.grad.data, _get(case, "grad/x"), **tol)
    if h0 is not None:
        np.testing.assert_allclose(h0.grad.data, _get(case, "grad/h0"), **tol)
        if c0 is not None:
            np.testing.assert_allclose(c0.grad.data, _get(case, "grad/c0"), **tol)
    expected = _torch_grads_as_ours(config)
    params = dict(layer.named_parameters())
    assert set(expected) == set(params)
    for name, grad in expected.items():
        np.testing.assert_allclose(params[name].grad.data, grad, err_msg=name, **tol)


@pytest.mark.parametrize("config", CASES[::3], ids=lambda c: f"case{c['case']}-{c['kind']}")
def test_torch_state_dict_round_trip(config: dict) -> None:
    layer = _build(config, "fused")
    exported = layer.torch_state_dict()
    again = LAYERS[config["kind"]](
        config["input_size"], config["hidden_size"], config["num_layers"],
        bidirectional=config["bidirectional"], reset_after=config["kind"] == "gru",
        nonlinearity=config["nonlinearity"], dtype=np.float64)
    again.load_torch_state_dict(exported)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value)
