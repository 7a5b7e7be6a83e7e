"""Drawing computation graphs: the ops and tensors behind a result, grouped by scope.

The renderer is generic: it knows nothing of recurrent networks. Code labels its ops with
``minigrad.scope(...)``; each scope becomes a box, nested scopes nested boxes, and arrows
between sibling boxes (``t=2 -> t=3``) are drawn as recurrent edges. That is how the unrolled
back-propagation-through-time graph of an RNN falls out: ``rnn`` puts each layer in ``l<k>``
and each step in ``t=<t>``.

    >>> import minigrad as mg
    >>> from minigrad import viz
    >>> w = mg.tensor([0.5, -0.25], requires_grad=True)
    >>> h = mg.tensor([1.0, 1.0])
    >>> for t in range(3):
    ...     with mg.scope(f"t={t}"):
    ...         h = (w * h).tanh()
    >>> graph = viz.to_dot(h.sum(), {"w": w})
    >>> graph.source.count("subgraph cluster_")          # one box per step
    3
    >>> viz.render(h.sum(), "/tmp/chain.svg", params={"w": w})  # doctest: +SKIP

- ``to_dot(root, params=None, ...) -> graphviz.Digraph``: the graph; ``.source`` is DOT text.
- ``render(root, path, format=None, ...) -> pathlib.Path``: SVG/PNG/PDF through Graphviz ``dot``.
- ``color_scale(values, log=True) -> list[str]``: colours for numbers, e.g. per-step gradient
  norms to pass as ``node_colors``.
"""

from minigrad.viz.colors import color_scale
from minigrad.viz.dot import to_dot
from minigrad.viz.render import render, write

__all__ = ["color_scale", "render", "to_dot", "write"]
