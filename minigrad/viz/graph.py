"""The drawing's model: which boxes, which arrows, which scope each box sits in; and folding.

``build`` walks the autograd graph from the roots (iteratively: an unrolled 500-step LSTM has
tens of thousands of nodes) and returns ``Item``s (boxes) and ``Edge``s (arrows), both in a
deterministic order, with ids that do not depend on memory addresses or on the process-wide
creation counter:

- op nodes are sorted by creation number (``Function.seq``) and called ``op0, op1, ...``;
- leaf tensors are called ``leaf0, leaf1, ...`` in the order the ops (in that order) use them;
- roots are ``root0, root1, ...``; folded runs of clusters ``fold0, fold1, ...``.

Placement. An op sits in the cluster of its scope label (``"l0/t=3"`` -> cluster ``t=3``
inside cluster ``l0``). A leaf sits in the deepest scope that contains *all* the ops using it:
a weight used by every step of ``l0`` is drawn once, in ``l0`` but outside every ``t=`` box,
with an arrow into each step; a constant used by one step only sits in that step's box. Roots
are drawn at the top level.

Folding (``fold``) is documented on the function.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from minigrad.tensor import Tensor

Path = tuple[str, ...]


@dataclass
class Item:
    """One box of the drawing."""

    id: str
    kind: str  # "op", "leaf" (requires grad), "const", "cut", "root" or "fold"
    path: Path  # the cluster it is drawn in; () is the top level
    node: Any = None  # ops: the Function
    tensor: Tensor | None = None  # leaves and roots: the tensor
    outputs: dict[int, Tensor] = field(default_factory=dict)  # ops: output tensors seen
    name: str = ""  # leaves and roots: the label's name; cut leaves: the cut's label
    is_root: bool = False  # a leaf that is also a root is highlighted like a root
    folded: tuple[str, ...] = ()  # fold boxes: the labels of the clusters they replace
    folded_nodes: int = 0  # fold boxes: how many boxes they replace

    @property
    def cluster(self) -> Path:
        """The scope this box counts as for ``recurrent_edges``: a fold box stands for sibling
        clusters, so it counts as one more sibling."""
        return self.path + (f"{self.folded[0]}...",) if self.kind == "fold" else self.path


@dataclass
class Edge:
    """An arrow from the box that made a tensor to the box that uses it."""

    src: str
    dst: str
    label: str = ""  # "[i]" when the source op has several outputs
    kind: str = "data"  # "data", or "cut" (from a tensor to its detached copy)
    count: int = 1  # arrows merged into this one (into and out of fold boxes)


@dataclass
class Graph:
    items: list[Item]
    edges: list[Edge]


def scope_path(scope: str | None) -> Path:
    return tuple(scope.split("/")) if scope else ()


def _common(a: Path, b: Path) -> Path:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def build(roots: list[Tensor], names: dict[int, str], cuts: dict[int, str]) -> Graph:
    """The boxes and arrows of the graph that produced ``roots``.

    Args:
        roots: the tensors to draw back from (distinct objects).
        names: ``id(tensor) -> name`` for parameters.
        cuts: ``id(tensor) -> label`` for leaves made by ``detach()``.
    """
    found: dict[int, Any] = {}
    stack = []
    for root in roots:
        if root.grad_fn is not None and id(root.grad_fn) not in found:
            found[id(root.grad_fn)] = root.grad_fn
            stack.append(root.grad_fn)
    while stack:  # iterative: no recursion limit on long chains
        node = stack.pop()
        for tensor in node.inputs:
            producer = tensor.grad_fn
            if producer is not None and id(producer) not in found:
                found[id(producer)] = producer
                stack.append(producer)
    ops = sorted(found.values(), key=attrgetter("seq"))
    op_items = {id(node): Item(f"op{i}", "op", scope_path(node.scope), node=node)
                for i, node in enumerate(ops)}

    items: list[Item] = []
    edges: list[Edge] = []
    leaves: dict[int, Item] = {}

    def leaf_item(tensor: Tensor, path: Path) -> Item:
        item = leaves.get(id(tensor))
        if item is None:
            if id(tensor) in cuts:
                kind = "cut"
            else:
                kind = "leaf" if tensor.requires_grad else "const"
            name = names.get(id(tensor)) or tensor.name or (
                "input" if tensor.requires_grad else "tensor")
            item = Item(f"leaf{len(leaves)}", kind, path, tensor=tensor, name=name)
            leaves[id(tensor)] = item
            items.append(item)
        else:
            item.path = _common(item.path, path)
        return item

    for node in ops:
        item = op_items[id(node)]
        for tensor in node.inputs:
            producer = tensor.grad_fn
            if producer is None:
                edges.append(Edge(leaf_item(tensor, item.path).id, item.id))
            else:
                source = op_items[id(producer)]
                index = tensor._output_index
                source.outputs.setdefault(index, tensor)
                edges.append(Edge(source.id, item.id, _port(producer, index)))
        items.append(item)

    unnamed = sum(1 for root in roots if not root.name and root.grad_fn is not None)
    for k, root in enumerate(roots):
        if root.grad_fn is None:
            leaf_item(root, ()).is_root = True
            continue
        name = root.name or ("output" if unnamed == 1 else f"output {k}")
        item = Item(f"root{k}", "root", (), tensor=root, name=name)
        op_items[id(root.grad_fn)].outputs.setdefault(root._output_index, root)
        items.append(item)
        edges.append(Edge(op_items[id(root.grad_fn)].id, item.id,
                          _port(root.grad_fn, root._output_index)))

    edges.extend(_cut_edges(items, op_items, leaves, cuts))
    return Graph(items, edges)


def _port(node: Any, index: int) -> str:
    return f"[{index}]" if node.n_outputs > 1 else ""


def _cut_edges(items: list[Item], op_items: dict[int, Item], leaves: dict[int, Item],
               cuts: dict[int, str]) -> list[Edge]:
    """A dashed arrow from a tensor to its detached copy, when both are in the drawing.

    ``detach()`` shares the array, so the original is the drawn tensor holding the same
    ``ndarray`` object (an op's output seen as some op's input or as a root, or a leaf)."""
    owners: dict[int, tuple[str, str]] = {}
    for item in items:
        if item.kind == "op":
            for index, tensor in sorted(item.outputs.items()):
                if tensor.data is not None:  # None: freed by backward, nothing to match
                    owners.setdefault(id(tensor.data), (item.id, _port(item.node, index)))
        elif item.kind != "cut" and item.tensor is not None and item.tensor.grad_fn is None:
            owners.setdefault(id(item.tensor.data), (item.id, ""))
    result = []
    for key, item in leaves.items():
        if item.kind == "cut" and id(item.tensor.data) in owners:
            source, port = owners[id(item.tensor.data)]
            label = " ".join(part for part in (port, "\u2702", cuts[key]) if part)
            result.append(Edge(source, item.id, label, kind="cut"))
    return result


# ====================================================================== recurrent edges
def siblings(a: Path, b: Path) -> bool:
    """Two different clusters with the same parent scope (``l0/t=2`` and ``l0/t=3``)."""
    return len(a) == len(b) > 0 and a[:-1] == b[:-1] and a[-1] != b[-1]


def recurrent_edges(graph: Graph) -> list[bool]:
    """Which arrows are recurrent edges, one flag per edge of ``graph``.

    The rule: an arrow is recurrent when it joins two *sibling* clusters (same parent scope,
    e.g. ``l0/t=2 -> l0/t=3``) that share an input from outside both, a weight used by both,
    or anything else computed before them. That is what unrolling a loop over the same
    weights produces, and it tells steps from stacked layers: ``l0 -> l1`` joins siblings too,
    but each layer has its own weights. Arrows between clusters of different parents
    (``l0/t=9 -> l1/t=0``, ``l0 -> l0/t=3``) are never recurrent. A loop that uses nothing
    from outside (``h = h.tanh()`` repeated) has no recurrent edges.
    """
    by_id = {item.id: item for item in graph.items}
    feeds: dict[Path, set[str]] = {}  # scope -> boxes outside it that feed ops inside it
    for edge in graph.edges:
        if edge.kind != "data":
            continue
        src, dst = by_id[edge.src].cluster, by_id[edge.dst].cluster
        for depth in range(1, len(dst) + 1):
            if src[:depth] != dst[:depth]:
                feeds.setdefault(dst[:depth], set()).add(edge.src)
    flags = []
    for edge in graph.edges:
        src, dst = by_id[edge.src].cluster, by_id[edge.dst].cluster
        flags.append(edge.kind == "data" and siblings(src, dst)
                     and not feeds.get(src, set()).isdisjoint(feeds.get(dst, ())))
    return flags


# ====================================================================== folding
KEEP = (3, 2, 1)


def family(label: str) -> str:
    """Sibling clusters whose labels differ only in their numbers form a run: ``t=0 .. t=499``
    are all ``t=#``; ``l0`` and ``l1`` are ``l#``; ``l0_reverse`` is ``l#_reverse``."""
    return re.sub(r"\d+", "#", label)


def fold(graph: Graph, max_nodes: int | None) -> Graph:
    """Folds runs of sibling clusters so that the drawing has at most ``max_nodes`` boxes.

    The rule: nothing changes when the graph has at most ``max_nodes`` boxes. Otherwise the
    sibling clusters of each parent are grouped into runs (same ``family``: labels equal up to
    their numbers, in order of creation), and in *every* run of at least ``2 K + 2`` clusters
    all but the first ``K`` and the last ``K`` are replaced by one box, labelled e.g.
    ``"t=3 ... t=496 (494 steps folded, 2964 nodes)"``. ``K`` is the largest of 3, 2, 1 that
    brings the drawing within ``max_nodes`` (1 if none does: the budget is a target, not a
    guarantee). Outer runs fold first, so a run inside a folded cluster disappears with it.

    Arrows into and out of the folded clusters are attached to the box (several arrows between
    the same two boxes become one, labelled ``xN``); arrows inside it are dropped. A weight used
    by every step keeps one arrow into the box.
    """
    if max_nodes is None or len(graph.items) <= max_nodes:
        return graph
    counts: Counter[Path] = Counter()
    children: dict[Path, list[str]] = {}
    for item in graph.items:
        for depth in range(1, len(item.path) + 1):
            prefix = item.path[:depth]
            if prefix not in counts:
                children.setdefault(prefix[:-1], []).append(prefix[-1])
            counts[prefix] += 1
    runs: list[tuple[Path, list[str]]] = []
    for parent, labels in children.items():
        families: dict[str, list[str]] = {}
        for label in labels:
            families.setdefault(family(label), []).append(label)
        runs.extend((parent, members) for members in families.values() if len(members) >= 4)
    runs.sort(key=lambda run: len(run[0]))  # outer first; stable, so still deterministic

    plan: dict[Path, int] = {}
    groups: list[tuple[Path, list[str]]] = []
    for keep in KEEP:
        plan, groups, total = {}, [], len(graph.items)
        for parent, members in runs:
            if len(members) < 2 * keep + 2 or any(
                    parent[:d] in plan for d in range(1, len(parent) + 1)):
                continue
            middle = members[keep:-keep]
            total -= sum(counts[parent + (m,)] for m in middle) - 1
            for m in middle:
                plan[parent + (m,)] = len(groups)
            groups.append((parent, middle))
        if total <= max_nodes:
            break
    return _apply(graph, plan, groups, counts) if groups else graph


def _apply(graph: Graph, plan: dict[Path, int], groups: list[tuple[Path, list[str]]],
           counts: Counter[Path]) -> Graph:
    boxes = [Item(f"fold{g}", "fold", parent, folded=tuple(middle),
                  folded_nodes=sum(counts[parent + (m,)] for m in middle))
             for g, (parent, middle) in enumerate(groups)]
    items: list[Item] = []
    alias: dict[str, str] = {}
    placed: set[int] = set()
    for item in graph.items:
        group = next((plan[item.path[:d]] for d in range(1, len(item.path) + 1)
                      if item.path[:d] in plan), None)
        if group is None:
            items.append(item)
            continue
        alias[item.id] = boxes[group].id
        if group not in placed:  # the box takes the place of the first box it swallows
            placed.add(group)
            items.append(boxes[group])
    edges: list[Edge] = []
    merged: dict[tuple[str, str, str, str], Edge] = {}
    for edge in graph.edges:
        src, dst = alias.get(edge.src, edge.src), alias.get(edge.dst, edge.dst)
        if src == edge.src and dst == edge.dst:
            edges.append(edge)
            continue
        if src == dst:
            continue  # inside a fold box
        key = (src, dst, edge.label, edge.kind)
        if key in merged:
            merged[key].count += 1
        else:
            merged[key] = Edge(src, dst, edge.label, edge.kind)
            edges.append(merged[key])
    return Graph(items, edges)
