"""``render``: draw a graph to an SVG, PNG or PDF file with the Graphviz ``dot`` program."""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

import graphviz

from minigrad.viz.dot import to_dot

NO_DOT = (
    "minigrad.viz.render needs the Graphviz 'dot' program, which was not found on PATH. "
    "Install Graphviz: 'apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' "
    "(macOS), or see https://graphviz.org/download/. Without it, to_dot(...).source still "
    "gives the DOT text, which any Graphviz viewer can open.")


def render(root: Any, path: str | pathlib.Path, format: str | None = None,
           **to_dot_kwargs: Any) -> pathlib.Path:
    """Draws the graph behind ``root`` to a file and returns the file's path.

    Args:
        root: a tensor or a list of tensors, as for ``to_dot``.
        path: the file to write. A missing suffix is added from ``format``.
        format: ``"svg"``, ``"png"``, ``"pdf"`` (or any other format of Graphviz). Default: the
            suffix of ``path`` when it names a format, else ``"svg"``.
        **to_dot_kwargs: ``params``, ``show_values``, ``max_nodes``, ... of ``to_dot``.

    Raises:
        RuntimeError: the Graphviz ``dot`` program is not installed (the message says how to
            install it).

    Example:
        >>> loss = (w * x).sum()                       # doctest: +SKIP
        >>> render(loss, "/tmp/graph.png", params=model)  # doctest: +SKIP
        PosixPath('/tmp/graph.png')
    """
    return write(to_dot(root, **to_dot_kwargs), path, format)


def write(graph: graphviz.Digraph, path: str | pathlib.Path,
          format: str | None = None) -> pathlib.Path:
    """Writes an already built graph (e.g. from ``to_dot``) to ``path`` with ``dot``;
    ``path`` and ``format`` as in ``render``. Returns the file's path."""
    path = pathlib.Path(path)
    suffix = path.suffix[1:].lower()
    if format is None:
        format = suffix if suffix in graphviz.FORMATS else "svg"
    if format not in graphviz.FORMATS:
        raise ValueError(f"render: unknown format {format!r}; use 'svg', 'png' or 'pdf'")
    if not path.suffix:
        path = path.with_suffix(f".{format}")
    if shutil.which("dot") is None:
        raise RuntimeError(NO_DOT)
    try:
        data = graph.pipe(format=format)
    except graphviz.ExecutableNotFound as err:
        raise RuntimeError(NO_DOT) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
