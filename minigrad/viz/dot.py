"""``to_dot``: the computation graph behind a tensor as Graphviz DOT.

What each box shows and how it looks:

=============  ==============================================  ==============================
box            label                                           style
=============  ==============================================  ==============================
op             op name; output shape and dtype (one line per   rounded, light blue
               output, ``[i] ...``, for a multi-output op)
parameter,     its name in ``params``, else ``tensor.name``,   light yellow
input          else ``"input"``; shape and dtype
constant       ``tensor.name`` or ``"tensor"``; shape, dtype,   dashed, grey
               and its value when it has one element
cut leaf       ``"✂ <label>"``, name, shape and dtype          dashed, red; dashed red arrows
root           ``tensor.name`` or ``"output"``; shape, dtype   bold, green
fold           ``"t=3 ... t=496 (494 steps folded, N nodes)"``  box3d, dashed
=============  ==============================================  ==============================

Arrows go forward, from the box that made a tensor to the box that uses it (so leaves are on
the left and the root on the right with ``rankdir="LR"``). An arrow out of a multi-output op
is labelled with the output index ``[i]``. Recurrent edges, drawn bold and orange, join two
sibling clusters that share weights (``l0/t=2 -> l0/t=3``; see ``graph.recurrent_edges``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import graphviz
import numpy as np

from minigrad.tensor import Tensor
from minigrad.viz.colors import text_color
from minigrad.viz.graph import Graph, Item, Path, build, fold, recurrent_edges

FONT = "Helvetica"
RECURRENT = "#e6550d"
CUT = "#cb181d"
STYLES: dict[str, dict[str, str]] = {
    "op": {"style": "rounded,filled", "fillcolor": "#deebf7", "color": "#4f6f9f"},
    "leaf": {"style": "filled", "fillcolor": "#fff2c2", "color": "#a88b2c"},
    "const": {"style": "dashed,filled", "fillcolor": "#f2f2f2", "color": "#999999",
              "fontcolor": "#666666"},
    "cut": {"style": "dashed,filled", "fillcolor": "#fde0dd", "color": CUT,
            "fontcolor": "#a50f15"},
    "root": {"style": "filled,bold", "fillcolor": "#c7e9c0", "color": "#238b45"},
    "fold": {"shape": "box3d", "style": "dashed,filled", "fillcolor": "#eeeeee",
             "color": "#737373"},
}
RANKDIRS = ("LR", "RL", "TB", "BT")


def to_dot(root: Tensor | Iterable[Tensor], params: Any = None, *, show_values: bool = False,
           show_grads: bool = False, show_saved: bool = False, rankdir: str = "LR",
           max_nodes: int | None = None, node_colors: Mapping[str, str] | None = None,
           cuts: Mapping[Tensor, str] | None = None) -> graphviz.Digraph:
    """The graph of ops and tensors that produced ``root``, as a ``graphviz.Digraph``.

    Ops made inside ``minigrad.scope(label)`` are drawn inside a box (a DOT ``subgraph
    cluster_*``) per scope; nested scopes give nested boxes. A leaf used in several scopes is
    drawn once, in the innermost scope holding all its uses (a shared weight sits outside the
    per-step boxes and feeds each of them). Arrows between sibling boxes that share weights
    (``t=2 -> t=3``) are recurrent edges, drawn bold and orange. Output is deterministic: the
    same graph gives the same DOT text, byte for byte, in every run.

    Args:
        root: a tensor, or a list of tensors (several roots, e.g. the loss and a final state).
        params: names for leaves: a dict ``name -> tensor``, pairs ``(name, tensor)``, or an
            object with ``named_parameters()`` such as an ``nn.Module``.
        show_values: add a summary of each tensor: the value itself for one element, else mean,
            norm, min and max. Op boxes summarise their outputs.
        show_grads: the same for ``.grad`` where it is set (leaves after ``backward()``, and
            tensors that called ``retain_grad()``).
        show_saved: on op boxes, how many arrays the op saved for backward and their size, or
            ``"freed"`` once a backward has released them.
        rankdir: the direction of the flow: ``"LR"`` (left to right), ``"TB"``, ``"RL"``, ``"BT"``.
        max_nodes: fold runs of sibling clusters (``t=0 .. t=499``) when the graph has more
            boxes than this, keeping the first and last few (see ``minigrad.viz.graph.fold``).
        node_colors: ``scope label -> fill colour`` of that cluster, e.g.
            ``{"l0/t=3": "#31688e"}`` (see ``color_scale``). Unknown labels are ignored.
        cuts: ``detached tensor -> label``: leaves made by ``detach()`` (which cannot be traced
            back) drawn as cuts: dashed red with ``"✂ label"``. If the original tensor is in
            the drawing too (e.g. pass the previous chunk's final state as a second root), a
            dashed ``✂`` arrow joins it to its detached copy.

    Returns:
        A ``graphviz.Digraph``; ``.source`` is the DOT text (no Graphviz program needed),
        ``minigrad.viz.render`` writes SVG/PNG/PDF.

    Example:
        >>> import minigrad as mg
        >>> from minigrad.viz import to_dot
        >>> w = mg.tensor([[0.5, -1.0]], requires_grad=True)
        >>> x = mg.tensor([[1.0], [2.0]])
        >>> with mg.scope("layer"):
        ...     y = (w @ x).tanh().sum()
        >>> graph = to_dot(y, {"w": w})
        >>> [line.strip() for line in graph.source.splitlines() if "->" in line]
        ['leaf0 -> op0', 'leaf1 -> op0', 'op0 -> op1', 'op1 -> op2', 'op2 -> root0']
        >>> lines = [line.strip() for line in graph.source.splitlines()]
        >>> lines[lines.index("subgraph cluster_0 {") + 1].split(" labeljust")[0]
        'color="#a0a0a0" fontcolor="#555555" fontsize=10 label=layer'
        >>> next(line for line in lines if line.startswith("leaf0")).split(" color")[0]
        'leaf0 [label="w\\\\n(1, 2) float32"'
    """
    roots = _roots(root)
    if rankdir not in RANKDIRS:
        raise ValueError(f"to_dot: rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if max_nodes is not None and (not isinstance(max_nodes, (int, np.integer)) or max_nodes < 1):
        raise ValueError(f"to_dot: max_nodes must be a positive int or None, got {max_nodes!r}")
    names = _param_names(params)
    cut_labels = {}
    for tensor, label in (cuts or {}).items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"to_dot: cuts keys must be tensors, got {type(tensor).__name__}")
        cut_labels[id(tensor)] = str(label)
    graph = fold(build(roots, names, cut_labels), max_nodes)
    options = {"values": show_values, "grads": show_grads, "saved": show_saved}
    return _emit(graph, rankdir, dict(node_colors or {}), cut_labels, options)


# ------------------------------------------------------------------ arguments
def _roots(root: Any) -> list[Tensor]:
    candidates = [root] if isinstance(root, Tensor) else list(root)
    roots: list[Tensor] = []
    for tensor in candidates:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"to_dot: root must be a Tensor or a list of Tensors, got "
                            f"{type(tensor).__name__}")
        if all(tensor is not seen for seen in roots):
            roots.append(tensor)
    if not roots:
        raise ValueError("to_dot: no root tensor given")
    return roots


def _param_names(params: Any) -> dict[int, str]:
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs = params.named_parameters()
    elif isinstance(params, Mapping):
        pairs = params.items()
    else:
        pairs = params
    names: dict[int, str] = {}
    for name, tensor in pairs:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"to_dot: params[{name!r}] is a {type(tensor).__name__}, "
                            "not a Tensor")
        names.setdefault(id(tensor), str(name))
    return names


# ------------------------------------------------------------------ labels
def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _shape(tensor: Tensor) -> str:
    return f"{tuple(tensor.shape)} {tensor.dtype}"


def summary(array: np.ndarray, prefix: str = "") -> list[str]:
    """One line for a single element (its value), else two: mean and norm; min and max."""
    if array.size == 0:
        return [f"{prefix}empty"]
    if array.size == 1:
        return [f"{prefix}{'= ' if not prefix else ''}{_fmt(array.item())}"]
    x = np.asarray(array, dtype=np.float64)
    return [f"{prefix}mean {_fmt(x.mean())}  norm {_fmt(float(np.sqrt((x * x).sum())))}",
            f"{prefix}min {_fmt(x.min())}  max {_fmt(x.max())}"]


def _nbytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # unreachable


def _tensor_lines(tensor: Tensor, options: dict[str, bool], head: str = "") -> list[str]:
    lines = [head + _shape(tensor)]
    if options["values"]:
        # An intermediate whose graph backward has freed keeps no values (FreedTensor).
        lines += ["values freed"] if tensor.data is None else summary(tensor.data)
    if options["grads"] and tensor.grad is not None:
        lines += summary(tensor.grad.data, "grad ")
    return lines


def _saved(node: Any) -> str:
    """What the op keeps for its backward: ``saved is None`` marks buffers freed by backward."""
    if node.saved is None:
        return "saved: freed"
    arrays = [a for a in node.saved if isinstance(a, np.ndarray)]
    if not arrays:
        return "saved: nothing"
    plural = "s" if len(arrays) != 1 else ""
    return f"saved: {len(arrays)} array{plural}, {_nbytes(sum(a.nbytes for a in arrays))}"


def _label(item: Item, options: dict[str, bool], cut_label: str) -> list[str]:
    if item.kind == "op":
        node = item.node
        lines = [node.name]
        for index, tensor in sorted(item.outputs.items()):
            lines += _tensor_lines(tensor, options, f"[{index}] " if node.n_outputs > 1 else "")
        if options["saved"]:
            lines.append(_saved(node))
        return lines
    if item.kind == "fold":
        first, last = item.folded[0], item.folded[-1]
        return [f"{first} ... {last}",
                f"({len(item.folded)} steps folded, {item.folded_nodes} nodes)"]
    tensor = item.tensor
    lines = [f"\u2702 {cut_label}"] if item.kind == "cut" else []
    lines += [item.name] + _tensor_lines(tensor, options)
    if item.kind == "const" and tensor.data.size == 1 and not options["values"]:
        lines[-1] += f" = {_fmt(tensor.data.item())}"
    return lines


def _text(lines: list[str]) -> str:
    """DOT label text: user strings keep their backslashes; never read as an HTML label."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


# ------------------------------------------------------------------ emission
def _emit(graph: Graph, rankdir: str, node_colors: dict[str, str], cut_labels: dict[int, str],
          options: dict[str, bool]) -> graphviz.Digraph:
    dot = graphviz.Digraph(
        name="minigrad",
        graph_attr={"rankdir": rankdir, "fontname": FONT, "fontsize": "10",
                    "nodesep": "0.15", "ranksep": "0.3", "newrank": "true"},
        node_attr={"shape": "box", "fontname": FONT, "fontsize": "10", "height": "0.3",
                   "margin": "0.08,0.04"},
        edge_attr={"fontname": FONT, "fontsize": "9", "arrowsize": "0.6", "color": "#555555"})

    at: dict[Path, list[Item]] = {}
    children: dict[Path, list[Path]] = {}
    for item in graph.items:
        at.setdefault(item.path, []).append(item)
        for depth in range(1, len(item.path) + 1):
            prefix = item.path[:depth]
            if prefix not in children:
                children[prefix] = []
                children.setdefault(prefix[:-1], []).append(prefix)
    clusters = iter(range(len(children) + 1))

    def add(target: graphviz.Digraph, path: Path) -> None:
        for item in at.get(path, ()):
            cut = cut_labels.get(id(item.tensor), "") if item.kind == "cut" else ""
            attrs = dict(STYLES[item.kind if not item.is_root else "root"])
            if item.is_root and item.kind == "cut":
                attrs["style"] = "dashed,filled,bold"
            if item.path:  # SVG viewers show it on hover
                attrs["tooltip"] = _text(["/".join(item.path)])
            target.node(item.id, _text(_label(item, options, cut)), **attrs)
        for child in children.get(path, ()):  # depth is the scope depth: a few levels
            with target.subgraph(name=f"cluster_{next(clusters)}") as sub:
                scope = "/".join(child)
                attrs = {"style": "rounded", "color": "#a0a0a0", "fontcolor": "#555555"}
                if scope in node_colors:
                    fill = str(node_colors[scope])
                    attrs.update(style="rounded,filled", fillcolor=fill,
                                 fontcolor=text_color(fill))
                sub.attr(label=_text([child[-1]]), tooltip=_text([scope]), labeljust="l",
                         fontsize="10", **attrs)
                add(sub, child)

    add(dot, ())
    by_id = {item.id: item for item in graph.items}
    for edge, recurrent in zip(graph.edges, recurrent_edges(graph), strict=True):
        attrs: dict[str, str] = {}
        label = edge.label + (f" \u00d7{edge.count}" if edge.count > 1 else "")
        if label:
            attrs["label"] = _text([label.strip()])
        if edge.kind == "cut" or by_id[edge.src].kind == "cut":
            attrs.update(style="dashed", color=CUT, fontcolor=CUT)
        elif recurrent:
            attrs.update(color=RECURRENT, penwidth="2", style="bold")
        dot.edge(edge.src, edge.dst, **attrs)
    return dot
