"""The graph renderer: golden DOT text, clusters per scope, folding, colours, cuts, rendering.

Golden files live in tests/data/viz/. After a deliberate change of the drawing, review the
new pictures and rewrite them with ``MINIGRAD_UPDATE_GOLDEN=1 pytest tests/test_viz.py``.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil

import numpy as np
import pytest
from helpers import recursion_limit

import minigrad as mg
from minigrad import nn, viz
from minigrad.autograd import REGISTRY, Function
from minigrad.viz.colors import NON_FINITE, relative_luminance
from minigrad.viz.graph import family, siblings

GOLDEN = pathlib.Path(__file__).parent / "data" / "viz"
HAS_DOT = shutil.which("dot") is not None


def assert_golden(name: str, source: str) -> None:
    path = GOLDEN / f"{name}.dot"
    if os.environ.get("MINIGRAD_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert source == expected, f"DOT text differs from {path}"


def statements(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines()]


def node_line(source: str, node_id: str) -> str:
    found = [s for s in statements(source) if s.startswith(f"{node_id} [")]
    assert len(found) == 1, (node_id, found)
    return found[0]


def edge_lines(source: str) -> list[str]:
    return [s for s in statements(source) if " -> " in s]


def edge(source: str, src: str, dst: str) -> str:
    found = [s for s in edge_lines(source) if s.startswith(f"{src} -> {dst}")]
    assert len(found) == 1, (src, dst, found)
    return found[0]


def node_ids(source: str) -> list[str]:
    return [s.split(" ")[0] for s in statements(source)
            if re.match(r"^(op|leaf|root|fold)\d+ \[", s)]


def label_of(source: str, node_id: str) -> str:
    return re.search(r'label="((?:[^"\\]|\\.)*)"', node_line(source, node_id)).group(1)


def find_node(source: str, first_line: str) -> str:
    """The id of the one node whose label starts with ``first_line``."""
    ids = [i for i in node_ids(source) if label_of(source, i).split("\\n")[0] == first_line]
    assert len(ids) == 1, (first_line, ids)
    return ids[0]


# ---------------------------------------------------------------- small graphs, golden text
def small_expression():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    c = mg.tensor([0.5, 0.5], requires_grad=True)
    return (a * b + c).tanh().sum(), {"a": a, "b": b, "c": c}


def test_golden_small_expression():
    y, params = small_expression()
    source = viz.to_dot(y, params).source
    assert_golden("small_expression", source)
    # the essentials, spelled out
    assert statements(source)[0] == "digraph minigrad {"
    assert [label_of(source, f"op{i}").split("\\n")[0] for i in range(4)] == \
        ["mul", "add", "tanh", "sum"]
    assert label_of(source, "leaf0") == "a\\n(2,) float32"
    assert label_of(source, "op0") == "mul\\n(2,) float32"
    assert label_of(source, "root0") == "output\\n() float32"
    assert 'style="filled,bold"' in node_line(source, "root0")  # the root stands out
    assert edge_lines(source) == ["leaf0 -> op0", "leaf1 -> op0", "op0 -> op1",
                                  "leaf2 -> op1", "op1 -> op2", "op2 -> op3", "op3 -> root0"]
    assert "subgraph" not in source  # no scopes, no clusters


def nested_scopes():
    w = mg.tensor([0.5, -0.5], requires_grad=True, name="w")
    x = mg.tensor([1.0, 2.0])
    with mg.scope("enc"):
        h = x * w
        for t in range(2):
            with mg.scope(f"t={t}"):
                h = (h * w).tanh()
    with mg.scope("dec"):
        y = (h + 1.0).sum()
    return y


def test_golden_scopes_and_nested_scopes():
    source = viz.to_dot(nested_scopes()).source
    assert_golden("nested_scopes", source)
    lines = statements(source)
    # cluster enc holds w (used in enc, enc/t=0, enc/t=1) and the clusters t=0, t=1
    enc = lines.index("subgraph cluster_0 {")
    assert "label=enc" in lines[enc + 1]
    assert lines[enc + 2].startswith('leaf0 [label="tensor\\n(2,) float32"')  # x: enc only
    assert lines[enc + 3].startswith('leaf1 [label="w\\n(2,) float32"')
    assert "label=\"t=0\"" in lines[lines.index("subgraph cluster_1 {") + 1]
    assert "label=\"t=1\"" in lines[lines.index("subgraph cluster_2 {") + 1]
    assert "label=dec" in lines[lines.index("subgraph cluster_3 {") + 1]
    # t=1 and then enc close before dec opens: t=0, t=1 are nested in enc, dec is its sibling
    assert lines[lines.index("subgraph cluster_3 {") - 2:][:2] == ["}", "}"]
    # ops by creation: op0 mul (enc), op1 mul, op2 tanh (enc/t=0), op3 mul, op4 tanh (enc/t=1),
    # op5 add, op6 sum (dec). The recurrent edge t=0 -> t=1 is bold orange; t=1 -> dec is not.
    assert [label_of(source, f"op{i}").split("\\n")[0] for i in range(7)] == \
        ["mul", "mul", "tanh", "mul", "tanh", "add", "sum"]
    assert "penwidth=2" in edge(source, "op2", "op3")
    assert "penwidth" not in edge(source, "op4", "op5")
    # the constant 1.0 sits in dec, dashed and grey, with its value
    assert label_of(source, "leaf2") == "tensor\\n() float32 = 1"
    assert 'style="dashed,filled"' in node_line(source, "leaf2")
    assert node_line(source, "leaf2").endswith("tooltip=dec]")
    assert 'tooltip="enc/t=0"' in node_line(source, "op1")


@pytest.fixture
def two_halves():
    """A test-only op with two outputs, removed from the registry afterwards (the registry
    test of test_ops.py must never see it)."""

    class TwoHalves(Function):
        name = "test_viz_two_halves"
        n_outputs = 2

        def forward(self, a):
            self.half = a.shape[0] // 2
            return a[:self.half] * 2, a[self.half:] * 3

        def backward(self, grad_first, grad_second):
            raise NotImplementedError  # never called: these tests only draw

    yield TwoHalves
    REGISTRY.pop("test_viz_two_halves")


def test_golden_multi_output_op(two_halves):
    x = mg.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float64, requires_grad=True, name="x")
    first, second = two_halves.apply(x)
    y = first.sum() + (second * 2.0).sum()
    source = viz.to_dot(y).source
    assert_golden("multi_output", source)
    assert label_of(source, "op0") == \
        "test_viz_two_halves\\n[0] (2,) float64\\n[1] (3,) float64"
    assert 'label="[0]"' in edge(source, "op0", "op1")  # first -> sum
    assert 'label="[1]"' in edge(source, "op0", "op2")  # second -> mul
    # only the outputs that are used are known to the drawing; a root can be output [1]
    source = viz.to_dot(two_halves.apply(x)[1]).source
    assert label_of(source, "op0") == "test_viz_two_halves\\n[1] (3,) float64"
    assert 'label="[1]"' in edge(source, "op0", "root0")


def test_same_graph_gives_byte_identical_dot():
    first = viz.to_dot(nested_scopes(), show_values=True, show_saved=True).source
    second = viz.to_dot(nested_scopes(), show_values=True, show_saved=True).source
    assert first == second  # although every node has another creation number and id()
    assert not re.search(r"\d{9,}", first)  # no memory addresses


# ---------------------------------------------------------------- long chains and folding
def chain(steps: int, layer: str | None = None):
    w = mg.tensor(0.5, requires_grad=True, name="w")
    h = mg.tensor([1.0, 2.0])
    for t in range(steps):
        with mg.scope(f"t={t}"):
            h = (h * w).tanh()
    return h.sum(), w


def test_500_step_chain_renders_without_recursion():
    y, _ = chain(500)
    with recursion_limit(250):  # a recursive walk of 1000 ops would fail here
        source = viz.to_dot(y).source
    assert source.count("subgraph cluster_") == 500
    assert len(node_ids(source)) == 1000 + 4  # ops, w, h0, sum, root
    assert sum("penwidth=2" in e for e in edge_lines(source)) == 499  # t -> t+1


def test_500_step_chain_folds_to_max_nodes():
    y, _ = chain(500)
    with recursion_limit(250):
        source = viz.to_dot(y, max_nodes=200).source
    ids = node_ids(source)
    assert len(ids) <= 200
    assert source.count("subgraph cluster_") == 6
    clusters = re.findall(r'label="(t=\d+)"', source)
    assert clusters == ["t=0", "t=1", "t=2", "t=497", "t=498", "t=499"]
    assert label_of(source, "fold0") == "t=3 ... t=496\\n(494 steps folded, 988 nodes)"
    # into and out of the box: the recurrent edge from t=2 and to t=497 ...
    into = [e for e in edge_lines(source) if e.endswith("fold0") or "-> fold0 " in e]
    out = [e for e in edge_lines(source) if e.startswith("fold0 ->")]
    assert any("penwidth=2" in e for e in into) and len(out) == 1 and "penwidth=2" in out[0]
    # ... and the shared weight, one arrow for 494 uses
    w = find_node(source, "w")
    assert "\u00d7494" in edge(source, w, "fold0")
    # determinism holds for folded drawings too
    assert viz.to_dot(chain(500)[0], max_nodes=200).source == source


def test_folding_keeps_fewer_clusters_when_needed_and_nothing_under_budget():
    y, _ = chain(50)
    assert viz.to_dot(y, max_nodes=104).source == viz.to_dot(y).source  # 104 nodes: fits
    source = viz.to_dot(y, max_nodes=12).source
    assert re.findall(r'label="(t=\d+)"', source) == ["t=0", "t=49"]
    assert len(node_ids(source)) <= 12
    assert label_of(source, "fold0").startswith("t=1 ... t=48\\n(48 steps folded")


def test_nested_runs_and_layer_to_layer_edges_are_not_recurrent():
    w = mg.tensor(0.5, requires_grad=True, name="w")
    h = mg.tensor([1.0, 2.0])
    for layer in range(2):
        with mg.scope(f"l{layer}"):
            for t in range(20):
                with mg.scope(f"t={t}"):
                    h = (h * w).tanh()
    source = viz.to_dot(h.sum(), max_nodes=40).source
    assert re.findall(r'label="?(l\d|t=\d+)"? labeljust', source) == \
        ["l0", "t=0", "t=1", "t=2", "t=17", "t=18", "t=19",
         "l1", "t=0", "t=1", "t=2", "t=17", "t=18", "t=19"]
    assert {label_of(source, i) for i in ("fold0", "fold1")} == \
        {"t=3 ... t=16\\n(14 steps folded, 28 nodes)"}
    # w is shared by both layers: it sits at the top level, outside l0 and l1
    assert statements(source).index(node_line(source, find_node(source, "w"))) < \
        statements(source).index("subgraph cluster_0 {")
    # l0/t=19 -> l1/t=0 (op39 tanh -> op40 mul): different parents, not a recurrent edge
    assert edge(source, "op39", "op40") == "op39 -> op40"
    assert "penwidth=2" in edge(source, "op37", "op38")  # l0/t=18 -> l0/t=19
    assert siblings(("l0", "t=19"), ("l0", "t=20"))
    assert not siblings(("l0", "t=19"), ("l1", "t=0")) and not siblings(("l0",), ("l0", "t=0"))
    assert family("t=12") == family("t=3") == "t=#" and family("l0_reverse") == "l#_reverse"


def test_sibling_clusters_are_recurrent_only_when_they_share_weights():
    x = mg.tensor([1.0, 2.0])
    w0 = mg.tensor(0.5, requires_grad=True, name="w0")
    w1 = mg.tensor(0.25, requires_grad=True, name="w1")

    def layers(first, second):
        with mg.scope("l0"):
            h = (x * first).tanh()
        with mg.scope("l1"):
            return (h * second).tanh().sum()

    # stacked layers, each with its own weights (e.g. the fused LSTM): a plain arrow
    source = viz.to_dot(layers(w0, w1)).source
    assert edge(source, "op1", "op2") == "op1 -> op2"
    # the same weights applied again: a recurrence, whatever the labels say
    source = viz.to_dot(layers(w0, w0)).source
    assert "penwidth=2" in edge(source, "op1", "op2")
    # a loop that uses nothing from outside has no recurrent edges
    h = x
    for t in range(3):
        with mg.scope(f"t={t}"):
            h = (h * 2.0).tanh()
    assert "penwidth" not in viz.to_dot(h).source


# ---------------------------------------------------------------- summaries
def test_show_values_scalars_in_full_and_summaries_otherwise():
    y, params = small_expression()
    source = viz.to_dot(y, params, show_values=True).source
    assert label_of(source, "leaf0") == \
        "a\\n(2,) float32\\nmean 1.5  norm 2.236\\nmin 1  max 2"
    expected = float(np.tanh([3.5, 8.5]).sum())
    assert label_of(source, "root0") == f"output\\n() float32\\n= {expected:.4g}"


def test_show_grads_after_backward_shows_norms_and_retained_grads():
    y, params = small_expression()
    assert "\\ngrad " not in viz.to_dot(y, params, show_grads=True).source
    y.backward()
    source = viz.to_dot(y, params, show_grads=True).source
    a, b = params["a"], params["b"]
    assert np.allclose(a.grad.data, b.data * (1 - np.tanh(a.data * b.data + 0.5) ** 2))
    norm = float(np.linalg.norm(a.grad.data))
    assert f"grad mean {float(a.grad.data.mean()):.4g}  norm {norm:.4g}" in label_of(source,
                                                                                     "leaf0")
    # an intermediate tensor that retains its grad shows it on the op that made it
    x = mg.tensor([1.0, -2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    source = viz.to_dot((h * h).sum(), show_grads=True).source
    assert "grad mean -3  norm 13.42" in label_of(source, "op0")  # d/dh = 2h = (6, -12)


def test_show_saved_counts_buffers_then_freed():
    y, params = small_expression()
    source = viz.to_dot(y, params, show_saved=True).source
    assert label_of(source, "op0").endswith("saved: 2 arrays, 16 B")  # mul saves a and b
    assert label_of(source, "op1").endswith("saved: nothing")  # add needs nothing
    y.backward()
    source = viz.to_dot(y, params, show_saved=True).source
    assert all(label_of(source, f"op{i}").endswith("saved: freed") for i in range(4))


# ---------------------------------------------------------------- names, leaves, roots
def test_leaf_names_from_module_then_tensor_name_then_defaults():
    mg.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = mg.randn(4, 3, requires_grad=True)
    y = (layer(x) * mg.tensor(2.0)).sum()
    source = viz.to_dot(y, layer).source
    labels = {label_of(source, i).split("\\n")[0] for i in node_ids(source)}
    assert {"weight", "bias", "input", "tensor"} <= labels
    layer.weight.name = "ignored: params win"
    x.name = "x"
    source = viz.to_dot(y, list(layer.named_parameters())).source
    labels = {label_of(source, i).split("\\n")[0] for i in node_ids(source)}
    assert {"weight", "x"} <= labels and "ignored: params win" not in labels
    param_style = node_line(source, find_node(source, "weight"))
    assert "dashed" not in param_style and 'fillcolor="#fff2c2"' in param_style


def test_roots_leaf_root_several_roots_and_bad_arguments():
    x = mg.tensor([1.0], requires_grad=True, name="x")
    source = viz.to_dot(x).source
    assert node_ids(source) == ["leaf0"] and "bold" in node_line(source, "leaf0")
    a, b = x * 2.0, (x * 3.0).exp()
    source = viz.to_dot([a, b, a]).source  # a repeated root is drawn once
    assert [label_of(source, r).split("\\n")[0] for r in ("root0", "root1")] == \
        ["output 0", "output 1"]
    assert 'rankdir=TB' in viz.to_dot(a, rankdir="TB").source
    with pytest.raises(TypeError, match="root must be a Tensor"):
        viz.to_dot(np.ones(2))
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(a, rankdir="sideways")
    with pytest.raises(ValueError, match="max_nodes"):
        viz.to_dot(a, max_nodes=0)
    with pytest.raises(TypeError, match="params"):
        viz.to_dot(a, {"x": np.ones(1)})


def test_user_text_is_escaped():
    x = mg.tensor([1.0], requires_grad=True, name="<b>back\\slash \"q\"</b>")
    with mg.scope("<i>"):
        y = x * 2.0
    source = viz.to_dot(y).source
    assert 'label="<b>back\\\\slash \\"q\\"</b>\\n(1,) float32"' in source
    assert 'label="<i>"' in source  # a quoted string, not an HTML label


# ---------------------------------------------------------------- colours
def test_node_colors_fill_their_clusters():
    y, _ = chain(4)
    dark, light = viz.color_scale([1e-4, 1.0])
    source = viz.to_dot(y, node_colors={"t=1": dark, "t=2": light, "t=9": "red"}).source
    lines = statements(source)
    attrs = {re.search(r'label="(t=\d)"', s).group(1): s for s in lines if "label=\"t=" in s}
    assert f'fillcolor="{dark}"' in attrs["t=1"] and 'fontcolor="#ffffff"' in attrs["t=1"]
    assert f'fillcolor="{light}"' in attrs["t=2"] and 'fontcolor="#000000"' in attrs["t=2"]
    assert "fillcolor" not in attrs["t=0"] and "fillcolor" not in attrs["t=3"]


def test_color_scale_is_monotonic_and_handles_edge_cases():
    values = np.logspace(-6, 3, 60)
    colors = viz.color_scale(values)
    luminance = [relative_luminance(c) for c in colors]
    assert all(b >= a for a, b in zip(luminance, luminance[1:], strict=False))
    assert colors[0] == "#440154" and colors[-1] == "#fde725"
    assert viz.color_scale(values[::-1]) == colors[::-1]
    linear = viz.color_scale(np.linspace(0, 1, 30), log=False)
    lum = [relative_luminance(c) for c in linear]
    assert all(b >= a for a, b in zip(lum, lum[1:], strict=False))
    assert viz.color_scale([]) == []
    assert viz.color_scale([2.0, 2.0]) == [viz.color_scale([1, 2, 4])[1]] * 2  # the middle
    assert viz.color_scale([0.0, 1e-3, 1.0])[0] == "#440154"  # zero: lowest on a log scale
    assert viz.color_scale([1.0, float("nan"), float("inf")])[1:] == [NON_FINITE] * 2
    clipped = viz.color_scale([1e-9, 1.0, 1e9], vmin=1e-3, vmax=1e3)
    assert clipped == ["#440154", viz.color_scale([1e-3, 1.0, 1e3])[1], "#fde725"]
    assert viz.color_scale([1.0, 10.0], alpha=0.6) == ["#44015499", "#fde72599"]
    with pytest.raises(ValueError, match="alpha"):
        viz.color_scale([1.0], alpha=2)


# ---------------------------------------------------------------- cuts
def test_cut_leaves_are_drawn_as_cuts_and_joined_to_their_origin():
    w = mg.tensor([0.5, 0.25], requires_grad=True, name="w")
    h = mg.tensor([1.0, 1.0])
    with mg.scope("chunk0"):
        h = (h * w).tanh()
    carried = h.detach()
    with mg.scope("chunk1"):
        loss = (carried * w).tanh().sum()
    source = viz.to_dot(loss, cuts={carried: "chunk boundary"}).source
    cut = find_node(source, "\u2702 chunk boundary")
    assert label_of(source, cut) == "\u2702 chunk boundary\\ntensor\\n(2,) float32"
    assert 'style="dashed,filled"' in node_line(source, cut)
    assert all("style=dashed" in e for e in edge_lines(source) if e.startswith(f"{cut} ->"))
    # the chunk before is in the drawing too: a dashed arrow from h to its detached copy
    source = viz.to_dot([loss, h], cuts={carried: "chunk boundary"}).source
    cut = find_node(source, "\u2702 chunk boundary")
    arrow = [e for e in edge_lines(source) if e.split(" [")[0].endswith(f"-> {cut}")]
    assert len(arrow) == 1 and "\u2702 chunk boundary" in arrow[0] and "dashed" in arrow[0]
    source_op = arrow[0].split(" ->")[0]
    assert label_of(source, source_op).startswith("tanh") and \
        'tooltip=chunk0' in node_line(source, source_op)


# ---------------------------------------------------------------- a real RNN
def test_unrolled_lstm_has_a_cluster_per_step_and_recurrent_edges():
    rnn = pytest.importorskip("rnn")
    mg.manual_seed(0)
    lstm = rnn.LSTM(3, 4, bidirectional=True, impl="composed")
    output, _ = lstm(mg.randn(3, 2, 3))
    source = viz.to_dot(output.sum(), lstm).source
    labels = re.findall(r'label="?(l0(?:_reverse)?|t=\d)"? labeljust', source)
    assert labels == ["l0", "t=0", "t=1", "t=2", "l0_reverse", "t=2", "t=1", "t=0"]
    recurrent = [e for e in edge_lines(source) if "penwidth=2" in e]
    assert len(recurrent) >= 2 * 2 * 2  # h and c, 2 transitions, 2 directions
    weight = find_node(source, "weight_hh_l0")
    lines = statements(source)
    # the weight sits in l0, before the first step's cluster opens
    assert lines.index("subgraph cluster_0 {") < lines.index(node_line(source, weight)) < \
        lines.index("subgraph cluster_1 {")
    # the fused path (one node per layer): the arrow from l0 into l1 is not recurrent
    fused = rnn.LSTM(3, 4, num_layers=2)
    output, _ = fused(mg.randn(3, 2, 3))
    source = viz.to_dot(output.sum(), fused).source
    assert re.findall(r'label="?(l\d)"? labeljust', source) == ["l0", "l1"]
    assert "penwidth" not in source and 'label="[0]"' in source


# ---------------------------------------------------------------- rendering with dot
@pytest.mark.skipif(not HAS_DOT, reason="Graphviz 'dot' is not installed")
def test_render_svg_png_and_pdf(tmp_path):
    y, params = small_expression()
    svg = viz.render(y, tmp_path / "graph.svg", params=params, show_values=True)
    assert svg == tmp_path / "graph.svg"
    text = svg.read_text(encoding="utf-8")
    prolog = r"^(?:\s|<\?xml[^>]*>|<!DOCTYPE[^>]*>|<!--.*?-->)*"  # Graphviz writes these first
    assert re.sub(prolog, "", text, flags=re.S).startswith("<svg") and "tanh" in text
    png = viz.render(y, tmp_path / "graph", format="png", params=params)
    assert png.suffix == ".png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = viz.render(y, tmp_path / "sub" / "graph.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_render_without_dot_says_how_to_install_it(tmp_path, monkeypatch):
    y, _ = small_expression()
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    with pytest.raises(RuntimeError) as info:
        viz.render(y, tmp_path / "graph.svg")
    message = str(info.value)
    for hint in ("apt-get install graphviz", "brew install graphviz",
                 "https://graphviz.org/download/", "to_dot(...).source"):
        assert hint in message
    assert not (tmp_path / "graph.svg").exists()
    # dot vanished between the check and the call: graphviz's own error is translated
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: "/usr/bin/dot")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.render(y, tmp_path / "graph.svg")
    assert "digraph" in viz.to_dot(y).source  # the text needs no program
