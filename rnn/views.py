"""Views of a recurrent network: the unrolled BPTT graph, gradient flow through time, attention.

The unrolled back-propagation-through-time graph falls out of the generic renderer
(``minigrad.viz``): layers run in scope ``l<k>`` (``l<k>_reverse``) and, with
``impl="stepwise"`` or ``impl="composed"``, each step in scope ``t=<t>``, so every step of every
layer and direction is a box, the weights shared by the steps are drawn once, and the arrows
from one step to the next are the recurrent edges. ``bptt_graph`` adds what is specific to
recurrent networks: which recurrent arrow carries h and which carries the LSTM's cell state c,
each step's box filled by ``||dL/dh_t||`` (recorded by ``rnn.GradientFlow``), a legend, and
truncation cuts (``detach_state``) drawn as broken arrows.

    lstm = rnn.LSTM(8, 16, impl="stepwise")            # or views.twin(trained_lstm, "stepwise")
    with rnn.GradientFlow() as flow:
        output, _ = lstm(x)
        loss = loss_fn(output[-1])
        loss.backward()
    views.render_bptt(loss, "bptt.svg", lstm, flow=flow)

Granularity is the layer's ``impl``: ``"composed"`` shows every gate op inside each step,
``"stepwise"`` one box per step (the fused kernels run one step at a time), and the default
``"fused"`` one box per layer and direction for the whole sequence (fast to train, but there
are no steps to draw). ``twin(model, impl)`` copies a model with another ``impl``.

Plots (matplotlib, imported only when called): ``plot_gradient_flow`` (log-scale ||dL/dh_t||
against the distance from the loss, one line per cell or layer) and ``plot_attention``.
"""

from __future__ import annotations

import copy
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import graphviz
import numpy as np

from minigrad import Tensor, viz
from minigrad.viz import color_scale, to_dot
from minigrad.viz.dot import CUT, RECURRENT
from minigrad.viz.graph import Graph, build, fold, recurrent_edges
from rnn.cells import check_impl
from rnn.gradflow import GradientFlow

#: Colour of the recurrent arrows that carry the LSTM cell state c (h keeps ``RECURRENT``).
CELL_STATE = "#e7298a"
GRANULARITIES = ("fused", "stepwise", "composed")
_STEP = re.compile(r"t=\d+")
_EDGE = re.compile(r"^\t(\S+) -> (\S+)(?: \[(.*)\])?\n?$")


def twin(module: Any, impl: str) -> Any:
    """An independent copy of ``module`` whose recurrent layers and cells use ``impl``.

    The copy has the same weights (``state_dict`` equal) and computes the same numbers; only the
    graph differs. Use it to draw a model trained with the fast default ``impl="fused"``:
    ``twin(model, "stepwise")`` (one box per step) or ``twin(model, "composed")`` (every gate).

    Example:
        >>> lstm = rnn.LSTM(8, 16)                       # doctest: +SKIP
        >>> steps = twin(lstm, "composed")               # doctest: +SKIP
    """
    impl = check_impl(impl)
    copied = copy.deepcopy(module)
    modules = copied.modules() if hasattr(copied, "modules") else [copied]
    for m in modules:
        if hasattr(m, "impl") and getattr(m, "mode", None) in ("RNN", "LSTM", "GRU"):
            m.impl = impl
    return copied


# ====================================================================== colours
def _norms_of(flow: GradientFlow | Mapping[str, Any]) -> dict[str, np.ndarray]:
    norms = flow.state_grad_norms if isinstance(flow, GradientFlow) else flow
    return {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in norms.items()}


def step_colors(flow: GradientFlow | Mapping[str, Any], *, alpha: float | None = 0.75,
                vmin: float | None = None, vmax: float | None = None
                ) -> tuple[dict[str, str], tuple[float, float]]:
    """Fill colours of the step boxes from ``||dL/dh_t||``, on one log scale for all layers.

    Args:
        flow: a ``GradientFlow`` after ``backward()``, or ``{scope: (L,) norms}``.
        alpha: opacity of the fills (arrows stay visible in the darkest boxes).
        vmin, vmax: the norms given the lowest and highest colour (default: the smallest
            positive and the largest recorded norm); give both to compare pictures.

    Returns:
        ``({"l0/t=3": "#rrggbbaa", ...}, (vmin, vmax))``, ready for ``to_dot(node_colors=...)``.
        A norm of exactly 0 (the gradient underflowed) gets the lowest colour.
    """
    norms = _norms_of(flow)
    labels = [f"{key}/t={t}" for key, v in norms.items() for t in range(len(v))]
    values = np.concatenate(list(norms.values())) if norms else np.zeros(0)
    finite = values[np.isfinite(values) & (values > 0)]
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 1.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    colors = color_scale(values, log=True, vmin=lo, vmax=hi, alpha=alpha)
    return dict(zip(labels, colors, strict=True)), (lo, hi)


# ====================================================================== the BPTT graph
def bptt_graph(loss: Tensor | list[Tensor], model: Any = None, *,
               flow: GradientFlow | Mapping[str, Any] | None = None, cuts: Any = None,
               granularity: str | None = None, max_nodes: int | None = None,
               inputs: Mapping[str, Tensor] | None = None,
               legend: bool = True, alpha: float = 0.75, vmin: float | None = None,
               vmax: float | None = None, **to_dot_kwargs: Any) -> graphviz.Digraph:
    """The unrolled back-propagation-through-time graph behind ``loss``.

    One box per time step per layer and direction (``l0/t=3``, ``l0_reverse/t=3``), the
    weights shared by all steps drawn once outside the step boxes with an arrow into each,
    and the recurrent arrows bold: orange and labelled ``h`` for ``h_{t-1} -> h_t``, magenta
    and labelled ``c`` for the LSTM's ``c_{t-1} -> c_t``. (A recurrent tensor that also
    leaves the step, towards the layer's output, is h; one that only feeds the next step is c.)

    Args:
        loss: the tensor to draw back from, or a list of tensors (e.g. the loss and the
            previous chunk's final state, so that a cut is drawn between them).
        model: names for the weights (a ``Module`` or anything ``to_dot(params=)`` takes).
        flow: a ``GradientFlow`` that recorded the forward and ``backward()`` of ``loss`` (or
            ``{scope: (L,) norms}``): each step's box is filled by its ``||dL/dh_t||`` on a log
            scale (viridis: dark = small, yellow = large), with a legend giving the range.
        cuts: detached states drawn as cuts (dashed red, ``✂``): a mapping
            ``{tensor: label}``, or the state itself as returned by ``detach_state`` (a
            tensor, an LSTM's ``(h, c)``, or tuples / lists / dicts of tensors). A layer
            indexes the state per layer; those views are drawn as the cut. Wrap each chunk's
            forward in its own ``minigrad.scope`` (``"chunk 1"``, ``"chunk 2"``), else both
            chunks' steps share the boxes ``l0/t=0 ...``, and pass the previous chunk's
            (undetached) state as extra roots to see the broken arrow joining the chunks.
        granularity: check that the graph is drawn at this granularity: ``"composed"``,
            ``"stepwise"`` or ``"fused"`` (the ``impl`` the layers ran with); a mismatch raises
            ``ValueError`` explaining how to get the other one (``twin``). None: no check.
        inputs: names for input tensors that need no gradient, e.g. ``{"x": x}``. A layer
            slices its input per step, and a slice of a tensor without gradient is a new
            constant: the slices are named after their tensor and rows (``x[3]``).
        max_nodes: fold long runs of steps (``t=3 ... t=496``) when the drawing has more boxes
            (see ``minigrad.viz.to_dot``); a 500-step LSTM then renders in well under a second.
        legend: add a legend (colour range, kinds of arrows) at the bottom of the drawing.
        alpha: opacity of the step colours.
        vmin, vmax: the norms given the lowest and highest colour (default: the smallest
            positive and the largest recorded); give the same to several pictures to compare.
        **to_dot_kwargs: ``show_grads``, ``show_values``, ``rankdir``, ``node_colors`` (these
            win over the gradient colours) ... of ``minigrad.viz.to_dot``.

    Returns:
        A ``graphviz.Digraph``: ``.source`` is DOT text; ``render_bptt`` writes SVG/PNG/PDF.

    Example:
        >>> lstm = rnn.LSTM(3, 4, num_layers=2, bidirectional=True, impl="stepwise")
        >>> with rnn.GradientFlow() as flow:
        ...     output, _ = lstm(mg.randn(5, 2, 3))
        ...     loss = output[-1].sum()
        ...     loss.backward()
        >>> graph = bptt_graph(loss, lstm, flow=flow)
        >>> graph.source.count("subgraph cluster_")    # 4 layer-directions, 5 steps each
        24
    """
    roots = [loss] if isinstance(loss, Tensor) else list(loss)
    plain = build(roots, {}, {})
    if granularity is not None:
        _check_granularity(_granularity(plain), granularity)
    cut_labels, view_cuts = _find_cuts(plain, _cut_labels(cuts))
    colors: dict[str, str] = {}
    scale = None
    if flow is not None:
        colors, scale = step_colors(flow, alpha=alpha, vmin=vmin, vmax=vmax)
    colors.update(to_dot_kwargs.pop("node_colors", None) or {})
    names = _input_names(plain, inputs or {})
    if names:
        names.update({name: p for name, p in _named(model)})
    dot = to_dot(roots, names or model, max_nodes=max_nodes, node_colors=colors,
                 cuts=cut_labels, **to_dot_kwargs)
    graph = fold(build(roots, {}, {id(t): s for t, s in cut_labels.items()}), max_nodes)
    kinds = _restyle(dot, graph, _granularity(graph) == "composed")
    _add_view_cut_edges(dot, graph, view_cuts, cut_labels)
    if legend:
        norms = None if flow is None else _norms_of(flow)
        has_cut = any(item.kind == "cut" for item in graph.items)
        text = _legend(scale, norms, kinds, has_cut, alpha)
        if text:
            dot.attr(label=text, labelloc="b", labeljust="l")
    return dot


def render_bptt(loss: Tensor | list[Tensor], path: str | pathlib.Path, model: Any = None, *,
                format: str | None = None, **kwargs: Any) -> pathlib.Path:
    """``bptt_graph(loss, model, **kwargs)`` written to ``path`` (SVG, PNG, PDF, ...) by the
    Graphviz ``dot`` program; returns the path. The format defaults to the suffix of
    ``path`` (else SVG)."""
    return viz.write(bptt_graph(loss, model, **kwargs), path, format)


def _cut_labels(cuts: Any) -> dict[Tensor, str]:
    if cuts is None:
        return {}
    if isinstance(cuts, Mapping) and all(isinstance(k, Tensor) for k in cuts):
        return {k: str(v) for k, v in cuts.items()}
    found: list[Tensor] = []

    def walk(state: Any) -> None:
        if isinstance(state, Tensor):
            found.append(state)
        elif isinstance(state, Mapping):
            for value in state.values():
                walk(value)
        elif isinstance(state, (tuple, list)):
            for value in state:
                walk(value)
        elif state is not None:
            raise TypeError(f"bptt_graph: cuts must be {{tensor: label}} or a detached state "
                            f"(tensors in tuples, lists, dicts), found a {type(state).__name__}")

    walk(cuts)
    if len(found) == 2 and isinstance(cuts, tuple):  # an LSTM state (h, c)
        return {found[0]: "detach_state: h", found[1]: "detach_state: c"}
    return {t: "detach_state" if len(found) == 1 else f"detach_state [{i}]"
            for i, t in enumerate(found)}


def granularity_of(roots: Tensor | list[Tensor]) -> str | None:
    """How the recurrent layers behind ``roots`` were run: ``"composed"`` (gate ops inside
    ``t=`` scopes), ``"stepwise"`` (one ``*_sequence`` op per ``t=`` scope), ``"fused"``
    (``*_sequence`` ops outside any step scope), or None (no recurrent layer found)."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    return _granularity(build(roots, {}, {}))


def _granularity(graph: Graph) -> str | None:
    ops = [item for item in graph.items if item.kind == "op"]
    stepped = {item.path for item in ops if item.path and _STEP.fullmatch(item.path[-1])}
    fused = {item.path for item in ops if item.node.name.endswith("_sequence")}
    if stepped:
        return "stepwise" if stepped <= fused else "composed"
    return "fused" if fused else None


def _check_granularity(found: str | None, granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"bptt_graph: granularity must be one of {GRANULARITIES}, got "
                         f"{granularity!r}")
    if found is None or found == granularity:
        return
    raise ValueError(
        f"bptt_graph: the graph was built with impl={found!r}, not {granularity!r}: the "
        "granularity is fixed when the forward runs. Run the forward again with a layer built "
        f"with impl={granularity!r}, e.g. model = rnn.views.twin(model, {granularity!r}) (same "
        "weights, same numbers).")


def _named(params: Any) -> list[tuple[str, Tensor]]:
    if params is None:
        return []
    if hasattr(params, "named_parameters"):
        return list(params.named_parameters())
    return list(params.items() if isinstance(params, Mapping) else params)


def _input_names(graph: Graph, inputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``{name: tensor}`` for the given inputs and the constants that are views of them, for
    ``to_dot(params=...)``. A view that is row ``i`` of the input (a step ``x_t`` of a
    time-major input) is named ``x[i]``, rows ``i:j`` ``x[i:j]``."""
    names: dict[str, Tensor] = {}
    for name, tensor in inputs.items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"bptt_graph: inputs[{name!r}] must be a Tensor, got "
                            f"{type(tensor).__name__}")
        names[name] = tensor
        for item in graph.items:
            if item.kind == "const" and item.tensor is not tensor and \
                    np.shares_memory(item.tensor.data, tensor.data):
                label = _view_name(name, item.tensor.data, tensor.data)
                while label in names:
                    label += "'"
                names[label] = item.tensor
    return names


def _view_name(name: str, view: np.ndarray, base: np.ndarray) -> str:
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if base.ndim == 0 or view.size == base.size or not base.flags.c_contiguous:
        return name
    row = base.strides[0]
    rows, rest = divmod(view.size * view.itemsize, row)
    if offset % row or rest:
        return f"{name} (view)"
    start = offset // row
    return f"{name}[{start}]" if rows == 1 else f"{name}[{start}:{start + rows}]"


def _find_cuts(graph: Graph, given: dict[Tensor, str]
               ) -> tuple[dict[Tensor, str], dict[int, Tensor]]:
    """The cut leaves to draw: the detached tensors themselves, and constants that are views
    of them (a layer indexes the detached ``(num_layers * D, N, H)`` state per layer, and
    indexing a tensor without gradient gives a plain constant). Returns the labels to pass
    to ``to_dot`` and ``{id(view): detached tensor}`` for the views."""
    labels = dict(given)
    views: dict[int, Tensor] = {}
    for item in graph.items:
        if item.kind != "const" or any(item.tensor is t for t in given):
            continue
        for detached, label in given.items():
            if np.shares_memory(item.tensor.data, detached.data):
                labels[item.tensor] = label
                views[id(item.tensor)] = detached
                break
    return labels, views


def _add_view_cut_edges(dot: graphviz.Digraph, graph: Graph, views: dict[int, Tensor],
                        labels: dict[Tensor, str]) -> None:
    """Dashed ``✂`` arrows from the op that made a state to the views of its detached copy
    (``to_dot`` joins a tensor to its detached copy only when the copy itself is drawn)."""
    owners: dict[int, tuple[str, str]] = {}
    for item in graph.items:
        if item.kind == "op":
            for index, tensor in sorted(item.outputs.items()):
                port = f"[{index}] " if item.node.n_outputs > 1 else ""
                owners.setdefault(id(tensor.data), (item.id, port))
    names = {id(t): label for t, label in labels.items()}
    for item in graph.items:
        detached = views.get(id(item.tensor)) if item.kind == "cut" else None
        if detached is None or id(detached.data) not in owners:
            continue
        source, port = owners[id(detached.data)]
        label = f"{port}\u2702 {names[id(item.tensor)]}"
        dot.edge(source, item.id, label=label, style="dashed", color=CUT, fontcolor=CUT)


def _state_names(graph: Graph, flags: list[bool]) -> list[str | None]:
    """Per edge of ``graph``: ``"h"`` or ``"c"`` when it carries a recurrent state, else None.

    The tensors on the recurrent arrows out of a step box are the states. A state that also
    leaves the step towards something other than the next step (the layer's output) is h; one
    that only feeds the next step is the LSTM's cell state c. A multi-output op (a stepwise
    step) names its output ports after them, so the last step's h and c are named too."""
    by_id = {item.id: item for item in graph.items}

    def carried(edge: Any) -> Tensor | None:
        source = by_id[edge.src]
        if source.kind != "op" or edge.kind != "data":
            return None
        index = int(edge.label[1:-1]) if edge.label.startswith("[") else 0
        return source.outputs.get(index)

    tensors = [carried(edge) for edge in graph.edges]
    leaves: dict[tuple, dict[int, bool]] = {}  # step box -> {state tensor: leaves the chain}
    for edge, tensor, flag in zip(graph.edges, tensors, flags, strict=True):
        if flag and tensor is not None:
            leaves.setdefault(by_id[edge.src].path, {})[id(tensor)] = False
    for edge, tensor, flag in zip(graph.edges, tensors, flags, strict=True):
        states = leaves.get(by_id[edge.src].path, {})
        if tensor is not None and not flag and id(tensor) in states \
                and by_id[edge.dst].path != by_id[edge.src].path:
            states[id(tensor)] = True
    names: dict[int, str] = {}
    for states in leaves.values():
        if len(states) == 1:
            names[next(iter(states))] = "h"
        elif len(states) == 2 and sum(states.values()) == 1:
            names.update({key: "h" if out else "c" for key, out in states.items()})
    ports = {(by_id[e.src].node.name, e.label): names[id(t)]
             for e, t in zip(graph.edges, tensors, strict=True)
             if e.label.startswith("[") and t is not None and id(t) in names}
    # An arrow out of a fold box has no drawn source op: name it by its port ("[1]"), or by
    # the op that made the state (composed LSTM: h from mul, c from add) when unambiguous.
    by_label: dict[str, set[str]] = {}
    for (_, label), name in ports.items():
        by_label.setdefault(label, set()).add(name)
    by_maker: dict[str, set[str]] = {}
    for tensor in tensors:
        if tensor is not None and id(tensor) in names:
            by_maker.setdefault(tensor.grad_fn.name, set()).add(names[id(tensor)])
    drawn = {id(item.node) for item in graph.items if item.kind == "op"}

    def from_fold(edge: Any) -> str | None:
        port = edge.label.split(" ")[0]
        if port:
            return next(iter(by_label[port])) if len(by_label.get(port, ())) == 1 else None
        dst = by_id[edge.dst]
        if dst.kind != "op":
            return None
        makers = {t.grad_fn.name for t in dst.node.inputs
                  if t.grad_fn is not None and id(t.grad_fn) not in drawn}
        found = set().union(*(by_maker.get(m, {"?"}) for m in makers)) if makers else set()
        return next(iter(found)) if len(found) == 1 and "?" not in found else None

    def name_of(edge: Any, tensor: Tensor | None) -> str | None:
        if tensor is not None:
            return names.get(id(tensor)) or ports.get((by_id[edge.src].node.name, edge.label))
        return from_fold(edge) if by_id[edge.src].kind == "fold" else None

    return [name_of(e, t) for e, t in zip(graph.edges, tensors, strict=True)]


def _restyle(dot: graphviz.Digraph, graph: Graph, composed: bool) -> set[str]:
    """Restyles the renderer's arrows for an unrolled network; returns the kinds of recurrent
    arrows found ({"h", "c"}).

    - arrows carrying h or c are labelled so; recurrent c arrows are magenta, h stay orange;
      recurrent arrows get ``minlen=2``, which lays the steps out side by side;
    - arrows from a weight shared by several boxes are thin and light, so that the chain of
      steps stands out; with composed steps they do not pull the steps' ops towards the
      weight (``constraint=false``), else each step's input path would.

    The renderer emits one line per edge, last and in the order of ``graph.edges``; if the
    text does not line up with the model (another renderer), nothing is changed."""
    flags = recurrent_edges(graph)
    names = _state_names(graph, flags)
    by_id = {item.id: item for item in graph.items}
    targets: dict[str, set] = {}
    for edge, flag in zip(graph.edges, flags, strict=True):
        if not flag and edge.kind == "data":
            targets.setdefault(edge.src, set()).add(by_id[edge.dst].cluster)
    shared = {src for src, paths in targets.items() if len(paths) > 2
              and all(p != by_id[src].cluster for p in paths)}

    lines = [i for i, line in enumerate(dot.body) if _EDGE.match(line)]
    parsed = [_EDGE.match(dot.body[i]).groups() for i in lines]
    if len(lines) != len(graph.edges) or any(
            (src, dst) != (edge.src, edge.dst)
            for (src, dst, _), edge in zip(parsed, graph.edges, strict=True)):
        return set()
    kinds = set()
    for i, (src, dst, attrs), edge, flag, name in zip(lines, parsed, graph.edges, flags, names,
                                                      strict=True):
        attrs = attrs or ""
        if name is not None:
            count = re.search(r"\u00d7\d+", attrs)
            label = name + (f" {count.group(0)}" if count else "")
            attrs = f'label="{label}" ' + re.sub(r'label=("[^"]*"|\S+) ?', "", attrs)
            if flag:
                kinds.add(name)
                color = CELL_STATE if name == "c" else RECURRENT
                attrs = re.sub(r'color="[^"]*"', f'color="{color}"', attrs)
                attrs += f' fontcolor="{color}" minlen=2'
        elif edge.src in shared and edge.kind == "data" and not flag:
            attrs += ' color="#c0c0c0" arrowsize=0.4'
            if composed or by_id[edge.src].kind == "op":
                attrs += " constraint=false"
        else:
            continue
        dot.body[i] = f"\t{src} -> {dst} [{attrs.strip()}]\n"
    return kinds


def _legend(scale: tuple[float, float] | None, norms: dict[str, np.ndarray] | None,
            kinds: set[str], has_cut: bool, alpha: float) -> str:
    """An HTML-like graph label: the colour range of ||dL/dh_t|| and the kinds of arrows."""
    rows = []
    if scale is not None:
        lo, hi = scale
        values = np.geomspace(lo, hi, 7) if 0 < lo < hi else np.full(7, hi)
        swatches = "".join(f'<td bgcolor="{c}" width="20"> </td>'
                           for c in color_scale(values, vmin=lo, vmax=hi, alpha=alpha))
        underflow = norms is not None and any((v == 0).any() for v in norms.values())
        note = "; 0 (underflow) is darkest" if underflow else ""
        rows.append(f'<table border="0" cellspacing="0" cellpadding="2"><tr><td>step fill: '
                    f'||dL/dh<sub>t</sub>|| (log scale{note})  </td><td>{lo:.2g}</td>'
                    f'{swatches}<td>{hi:.2g}</td></tr></table>')
    arrows = {"h": (RECURRENT, "h<sub>t-1</sub> \u2192 h<sub>t</sub> (recurrent edge)"),
              "c": (CELL_STATE, "c<sub>t-1</sub> \u2192 c<sub>t</sub> (LSTM cell state)")}
    for kind in ("h", "c"):
        if kind in kinds:
            color, text = arrows[kind]
            rows.append(f'<font color="{color}"><b>\u2501\u2501\u25b6 {kind}</b>  {text}</font>')
    if has_cut:
        rows.append(f'<font color="{CUT}">- - \u25b6 \u2702  truncation (detach_state): no '
                    'gradient crosses</font>')
    if not rows:
        return ""
    cells = "".join(f'<tr><td align="left">{row}</td></tr>' for row in rows)
    return f'<<table border="0" cellspacing="1" cellpadding="1">{cells}</table>>'


# ====================================================================== numbers and plots
def memory_horizon(norms: Any, ratio: float = 1e-3) -> int | None:
    """Steps back from the loss until ``||dL/dh_t||`` first falls below ``ratio`` times its
    value at the loss (the last step, where a many-to-one loss sits); None if it never does
    within the sequence.

    Example:
        >>> memory_horizon([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])
        4
    """
    x = np.asarray(norms, dtype=np.float64).ravel()
    if x.size == 0 or not x[-1] > 0:
        return None
    below = np.flatnonzero(x[::-1] < ratio * x[-1])
    return int(below[0]) if below.size else None


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # an optional dependency (the "examples" extra)
        raise ImportError("rnn.views plots need matplotlib: pip install matplotlib") from err
    return Figure


def plot_gradient_flow(flows: Mapping[str, GradientFlow | Any],
                       path: str | pathlib.Path | None = None, *, relative: bool = False,
                       ratio: float | None = None, title: str | None = None,
                       colors: Mapping[str, str] | None = None,
                       ax: Any = None) -> pathlib.Path | None:
    """Log-scale ``||dL/dh_t||`` against the distance from the loss, one line per cell/layer.

    Args:
        flows: ``{name: GradientFlow}`` (one line per recorded layer and direction, named
            ``"name l0"`` when a flow recorded several), or ``{name: (L,) norms}``. The loss is
            taken to sit at the last step: distance ``L - 1 - t``.
        path: the PNG (or PDF, SVG) to write; None when drawing into ``ax``.
        relative: divide each line by its value at the loss (distance 0).
        ratio: draw a dashed horizontal line at ``ratio`` (with ``relative=True``), e.g. 1e-3.
        title: the axes' title.
        colors: ``line name -> colour``, e.g. to keep one colour per cell across panels.
        ax: a matplotlib ``Axes`` to draw into (then nothing is saved unless ``path`` is given).

    Returns:
        The path written, or None.

    Norms of exactly 0 (underflow) are left out of the line (log scale).
    """
    lines: list[tuple[str, np.ndarray]] = []
    for name, flow in flows.items():
        if isinstance(flow, GradientFlow) or isinstance(flow, Mapping):
            norms = _norms_of(flow)
            for key, v in norms.items():
                lines.append((name if len(norms) == 1 else f"{name} {key}", v))
        else:
            lines.append((name, np.asarray(flow, dtype=np.float64).ravel()))
    figure = None
    if ax is None:
        figure = _matplotlib()(figsize=(7, 4.2), layout="constrained")
        ax = figure.subplots()
    for name, v in lines:
        y = v[::-1].copy()
        if relative and y.size and y[0] > 0:
            y = y / y[0]
        y[~(y > 0)] = np.nan
        color = (colors or {}).get(name)
        ax.plot(np.arange(y.size), y, label=name, linewidth=1.8, color=color)
    if relative and ratio is not None:
        ax.axhline(ratio, color="#777777", linestyle="--", linewidth=1,
                   label=f"{ratio:g} x the value at the loss")
    ax.set_yscale("log")
    ax.set_xlabel("steps back from the loss  (L - 1 - t)")
    ax.set_ylabel("||dL/dh_t||" + (" / ||dL/dh_L-1||" if relative else ""))
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(frameon=False)
    target = ax.figure if figure is None else figure
    if path is None:
        return None
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target.savefig(path, dpi=120)
    return path


def plot_attention(weights: Any, src_tokens: list[str], tgt_tokens: list[str],
                   path: str | pathlib.Path | None = None, *, title: str | None = None,
                   ax: Any = None) -> pathlib.Path | None:
    """A heatmap of attention weights: one row per target token, one column per source token.

    Shape:
        weights (T_tgt, T_src) (a Tensor or array; rows usually sum to 1). Token lists may be
        shorter than the axes they label (e.g. no token for padding).
    """
    w = np.asarray(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"plot_attention: weights must be (T_tgt, T_src), got shape {w.shape}")
    figure = None
    if ax is None:
        figure = _matplotlib()(figsize=(0.4 * w.shape[1] + 2.5, 0.4 * w.shape[0] + 1.5),
                               layout="constrained")
        ax = figure.subplots()
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-12),
                      aspect="auto")
    ax.set_xticks(range(len(src_tokens)), [str(s) for s in src_tokens], rotation=90)
    ax.set_yticks(range(len(tgt_tokens)), [str(s) for s in tgt_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.05)
    if path is None:
        return None
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (figure or ax.figure).savefig(path, dpi=120)
    return path


__all__ = ["bptt_graph", "granularity_of", "memory_horizon", "plot_attention",
           "plot_gradient_flow", "render_bptt", "step_colors", "twin"]
