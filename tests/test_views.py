"""rnn.views: the unrolled BPTT graph (structure, h/c edges, cuts, gradient colours), twins,
long sequences, and the plots."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from helpers import recursion_limit

import minigrad as mg
import rnn
from minigrad.viz.colors import relative_luminance
from minigrad.viz.dot import CUT, RECURRENT
from rnn import views

HAS_DOT = shutil.which("dot") is not None
TOOLTIP = r'tooltip=(?:"([^"]*)"|([^\s\]]+))'
LAYER_DIRECTIONS = ("l0", "l0_reverse", "l1", "l1_reverse")
PARAMS = [f"{w}_l{k}{s}" for k in (0, 1) for s in ("", "_reverse")
          for w in ("weight_ih", "weight_hh", "bias")]


def clusters(source: str) -> dict[str, dict[str, str]]:
    """``{scope: attributes}`` of every cluster (its attribute line follows ``subgraph``)."""
    lines = source.splitlines()
    found = {}
    for i, line in enumerate(lines):
        if line.strip().startswith("subgraph cluster_"):
            attrs = lines[i + 1]
            scope = next(g for g in re.search(TOOLTIP, attrs).groups() if g)
            found[scope] = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', attrs))
    return found


def edges(source: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3) or "")
            for m in re.finditer(r"^\t(\S+) -> (\S+)(?: \[(.*)\])?$", source, re.M)]


def node_scopes(source: str) -> dict[str, str]:
    """Node id -> the scope it is drawn in (its tooltip; top-level nodes have none)."""
    return {m.group(1): m.group(2) or m.group(3) for m in
            re.finditer(r"^\t+(\w+) \[label=.*" + TOOLTIP, source, re.M)}


def node_labels(source: str) -> dict[str, str]:
    return dict(re.findall(r'^\t+(\w+) \[label="([^"]*)"', source, re.M))


def bidirectional_lstm(impl: str, length: int = 5, flow: bool = False):
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, num_layers=2, bidirectional=True, impl=impl)
    x = mg.randn(length, 2, 3)
    recorder = rnn.GradientFlow()
    with recorder:
        output, _ = lstm(x)
        loss = output[-1].sum()
        if flow:
            loss.backward()
    return lstm, loss, recorder


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize("impl", ["stepwise", "composed"])
def test_two_layer_bidirectional_lstm_one_box_per_step_weights_once(impl):
    lstm, loss, _ = bidirectional_lstm(impl)
    source = views.bptt_graph(loss, lstm, granularity=impl).source
    found = clusters(source)
    steps = {f"{d}/t={t}" for d in LAYER_DIRECTIONS for t in range(5)}
    assert set(found) == set(LAYER_DIRECTIONS) | steps
    labels = node_labels(source)
    for name in PARAMS:  # each shared weight drawn once, outside every step box
        ids = [i for i, label in labels.items() if label.startswith(name + "\\n")]
        assert len(ids) == 1, name
        assert node_scopes(source)[ids[0]] in LAYER_DIRECTIONS
        assert sum(src == ids[0] for src, _, _ in edges(source)) == 5  # one arrow per step
    ops = {i: label.split("\\n")[0] for i, label in labels.items() if i.startswith("op")}
    per_step = {s: [ops[i] for i, scope in node_scopes(source).items()
                    if scope == s and i in ops] for s in steps}
    if impl == "stepwise":
        assert all(names.count("lstm_sequence") == 1 for names in per_step.values())
    else:  # every gate op visible: three sigmoids and two tanh per step
        assert all(names.count("sigmoid") == 3 and names.count("tanh") == 2
                   for names in per_step.values())
        assert not any("lstm_sequence" in names for names in per_step.values())


@pytest.mark.parametrize("impl", ["stepwise", "composed"])
def test_recurrent_h_and_c_edges_are_labelled_and_coloured_apart(impl):
    lstm, loss, _ = bidirectional_lstm(impl)
    source = views.bptt_graph(loss, lstm).source
    scopes = node_scopes(source)
    recurrent = [(s, d, a) for s, d, a in edges(source) if "penwidth=2" in a]
    by_kind = {"h": [], "c": []}
    for src, dst, attrs in recurrent:
        kind = re.search(r'label="(\w)"', attrs).group(1)
        by_kind[kind].append((scopes[src], scopes[dst]))
        color = RECURRENT if kind == "h" else views.CELL_STATE
        assert f'color="{color}"' in attrs
    for kind in ("h", "c"):  # 4 layer-directions x 4 step-to-step arrows
        assert len(by_kind[kind]) == 16
        for direction in LAYER_DIRECTIONS:
            pairs = sorted((int(a.split("=")[1]), int(b.split("=")[1]))
                           for a, b in by_kind[kind] if a.startswith(direction + "/"))
            step = -1 if direction.endswith("_reverse") else 1
            expected = sorted((t, t + step) for t in range(5) if 0 <= t + step < 5)
            assert pairs == expected, (kind, direction)
    assert "h<sub>t-1</sub>" in source and "c<sub>t-1</sub>" in source  # the legend


def test_gru_and_rnn_have_only_h_edges():
    for kind in (rnn.GRU, rnn.RNN):
        mg.manual_seed(0)
        layer = kind(3, 4, impl="composed")
        output, _ = layer(mg.randn(4, 2, 3))
        source = views.bptt_graph(output[-1].sum(), layer).source
        scopes = node_scopes(source)
        recurrent = [(s, d, a) for s, d, a in edges(source) if "penwidth=2" in a]
        assert {re.search(r'label="(\w)"', a).group(1) for _, _, a in recurrent} == {"h"}
        # h_{t-1} feeds several ops of step t (GRU: both gates, r * h and (1 - z) * h)
        assert {(scopes[s], scopes[d]) for s, d, _ in recurrent} == \
            {(f"l0/t={t}", f"l0/t={t + 1}") for t in range(3)}


def test_fused_layer_has_no_steps_and_granularity_mismatch_says_twin():
    lstm, loss, _ = bidirectional_lstm("fused")
    assert views.granularity_of(loss) == "fused"
    assert not any("t=" in s for s in clusters(views.bptt_graph(loss, lstm).source))
    with pytest.raises(ValueError, match=r"impl='fused'.*twin\(model, 'stepwise'\)"):
        views.bptt_graph(loss, lstm, granularity="stepwise")
    with pytest.raises(ValueError, match="granularity must be one of"):
        views.bptt_graph(loss, lstm, granularity="gates")


@pytest.mark.parametrize("impl", ["stepwise", "composed"])
def test_twin_same_weights_same_numbers_other_graph(impl):
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, num_layers=2, bidirectional=True)
    copy = views.twin(lstm, impl)
    assert lstm.impl == "fused" and copy.impl == impl
    for (name, p), (name2, q) in zip(lstm.named_parameters(), copy.named_parameters(),
                                     strict=True):
        assert name == name2 and p is not q
        np.testing.assert_array_equal(p.data, q.data)
    x = mg.randn(5, 2, 3)
    np.testing.assert_allclose(copy(x)[0].data, lstm(x)[0].data, rtol=1e-5, atol=1e-6)
    assert views.granularity_of(copy(x)[0].sum()) == impl


def test_twin_of_a_model_switches_every_recurrent_layer():
    model = mg.nn.Sequential()
    model.rec = rnn.GRU(3, 4)
    model.cell = rnn.LSTMCell(3, 4)
    copy = views.twin(model, "composed")
    assert copy.rec.impl == "composed" and copy.cell.impl == "composed"
    assert model.rec.impl == "fused"
    with pytest.raises(ValueError, match="impl must be one of"):
        views.twin(model, "fast")


# ---------------------------------------------------------------- truncation cuts
def test_detach_state_cut_is_a_broken_edge_between_chunks():
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, impl="stepwise")
    x = mg.randn(6, 2, 3)
    with mg.scope("chunk 1"):
        out1, state = lstm(x[:3])
    out1[-1].sum().backward()
    carried = rnn.detach_state(state)
    with mg.scope("chunk 2"):
        out2, _ = lstm(x[3:], carried)
    loss = out2[-1].sum()
    source = views.bptt_graph([loss, *state], lstm, cuts=carried).source
    labels = node_labels(source)
    cuts = [(s, d, a) for s, d, a in edges(source)
            if f'color="{CUT}"' in a and labels[d].startswith("\u2702")]
    assert sorted(re.search(r'label="([^"]*)"', a).group(1) for _, _, a in cuts) == \
        ["\u2702 detach_state: c", "\u2702 detach_state: h"]
    scopes = node_scopes(source)
    for src, dst, attrs in cuts:
        assert "style=dashed" in attrs
        assert labels[src].startswith("stack") and scopes[src] == "chunk 1"
        assert labels[dst].startswith("\u2702 detach_state")
        assert scopes[dst] == "chunk 2/l0/t=0"  # the cut state enters the first step
    assert "truncation" in source  # the legend


def test_cuts_accept_a_mapping_and_reject_other_things():
    mg.manual_seed(0)
    layer = rnn.GRU(3, 4, impl="composed")
    h = mg.randn(1, 2, 4)
    output, _ = layer(mg.randn(3, 2, 3), h)
    source = views.bptt_graph(output.sum(), layer, cuts={h: "previous chunk"}).source
    assert "\u2702 previous chunk" in source
    with pytest.raises(TypeError, match="cuts must be"):
        views.bptt_graph(output.sum(), layer, cuts=[h, 3])


# ---------------------------------------------------------------- gradient colours
@pytest.mark.parametrize("impl", ["stepwise", "composed"])
def test_step_fill_follows_recorded_gradient_norms(impl):
    lstm, loss, flow = bidirectional_lstm(impl, flow=True)
    source = views.bptt_graph(loss, lstm, flow=flow).source
    found = clusters(source)
    expected, (lo, hi) = views.step_colors(flow)
    for key, norms in flow.state_grad_norms.items():
        assert len(norms) == 5
        for t in range(5):
            assert found[f"{key}/t={t}"]["fillcolor"].strip('"') == expected[f"{key}/t={t}"]
    positive = np.concatenate(list(flow.state_grad_norms.values()))
    positive = positive[positive > 0]
    assert lo == pytest.approx(positive.min()) and hi == pytest.approx(positive.max())
    assert f"{lo:.2g}" in source and f"{hi:.2g}" in source  # the legend gives the range


def test_larger_norm_gets_higher_colour_and_order_is_kept():
    norms = {"l0": np.array([1e-6, 1e-3, 1e-4, 0.5]), "l1": np.array([0.0, 1e-5, 2.0, 0.5])}
    colors, (lo, hi) = views.step_colors(norms, alpha=None)
    assert (lo, hi) == (1e-6, 2.0)
    pairs = [(v, colors[f"{k}/t={t}"]) for k, a in norms.items() for t, v in enumerate(a)]
    pairs.sort()
    luminance = [relative_luminance(c) for _, c in pairs]  # viridis: lighter = larger
    assert all(a <= b for a, b in zip(luminance, luminance[1:], strict=False))
    assert colors["l0/t=3"] == colors["l1/t=3"]  # equal norms, equal colours
    assert colors["l1/t=0"] == colors["l0/t=0"]  # 0 (underflow): the lowest colour
    assert colors["l1/t=2"] == "#fde725" and colors["l0/t=0"] == "#440154"


def test_memory_horizon():
    assert views.memory_horizon([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]) == 4
    assert views.memory_horizon([0.5, 0.8, 1.0]) is None
    assert views.memory_horizon([1.0, 0.0]) is None


# ---------------------------------------------------------------- long sequences, rendering
def test_500_step_lstm_renders_without_recursion():
    mg.manual_seed(0)
    lstm = rnn.LSTM(2, 3, impl="composed")
    with rnn.GradientFlow() as flow:
        output, _ = lstm(mg.randn(500, 1, 2))
        loss = output[-1].sum()
        loss.backward()
    with recursion_limit(300):  # a recursive walk of the ~10,000 ops would fail here
        full = views.bptt_graph(loss, lstm, flow=flow).source
        folded = views.bptt_graph(loss, lstm, flow=flow, max_nodes=150).source
    assert full.count("subgraph cluster_") == 501
    assert "steps folded" in folded and folded.count("subgraph cluster_") == 7
    assert re.search(r'fold0 -> \w+ \[label="h"', folded)  # h and c still named at the fold
    assert re.search(r'fold0 -> \w+ \[label="c"', folded)


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_render_bptt_writes_a_real_svg(tmp_path):
    lstm, loss, flow = bidirectional_lstm("stepwise", flow=True)
    path = views.render_bptt(loss, tmp_path / "bptt", lstm, flow=flow)
    assert path.suffix == ".svg"
    text = path.read_text()
    assert "<svg" in text and "lstm_sequence" in text and "l0_reverse/t=4" in text


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_500_step_folded_svg(tmp_path):
    mg.manual_seed(0)
    lstm = rnn.LSTM(2, 3, impl="stepwise")
    output, _ = lstm(mg.randn(500, 1, 2))
    path = views.render_bptt(output[-1].sum(), tmp_path / "long.svg", lstm, max_nodes=60)
    assert "steps folded" in path.read_text()


# ---------------------------------------------------------------- plots
def test_plot_gradient_flow_and_attention_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    flows = {}
    for name, kind in (("RNN", rnn.RNN), ("LSTM", rnn.LSTM)):
        mg.manual_seed(0)
        layer = kind(3, 8)
        with rnn.GradientFlow() as flow:
            output, _ = layer(mg.randn(30, 2, 3))
            output[-1].sum().backward()
        flows[name] = flow
    flows["given"] = np.geomspace(1e-4, 1.0, 30)
    path = views.plot_gradient_flow(flows, tmp_path / "flow.png", relative=True, ratio=1e-3,
                                    title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    weights = np.random.default_rng(0).dirichlet(np.ones(5), size=4)
    path = views.plot_attention(weights, list("abcde"), ["w", "x", "y", "z"],
                                tmp_path / "attention.png", title="attention")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="T_tgt, T_src"):
        views.plot_attention(np.ones(3), ["a"], ["b"], tmp_path / "x.png")


def test_inputs_name_each_step_slice():
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, impl="stepwise")
    x = mg.randn(5, 2, 3)
    output, _ = lstm(x)
    source = views.bptt_graph(output[-1].sum(), lstm, inputs={"x": x}).source
    labels, scopes = node_labels(source), node_scopes(source)
    named = {scopes[i]: label.split("\\n")[0] for i, label in labels.items()
             if label.startswith("x[")}
    assert named == {f"l0/t={t}": f"x[{t}]" for t in range(5)}
    assert "weight_hh_l0\\n" in source  # the model's names are kept
    with pytest.raises(TypeError, match="must be a Tensor"):
        views.bptt_graph(output.sum(), lstm, inputs={"x": x.data})
