"""Checkpoints: ``save(obj, path)`` and ``load(path)``, as ``.npz`` files without pickle.

A checkpoint is a tree of dicts (and lists) whose leaves are arrays or small JSON values:

    >>> minigrad.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
    ...                "meta": {"epoch": 3, "vocab": ["<pad>", "a", "b"]}}, "ckpt.npz")
    >>> checkpoint = minigrad.load("ckpt.npz")
    >>> model.load_state_dict(checkpoint["model"])

File layout: an ordinary ``.npz`` (a zip of ``.npy`` files) that ``numpy.load`` can open. Each
array is stored under its path in the tree joined with ``/`` (``model/fc.weight``). One more
entry, ``__minigrad__``, is a unicode string holding JSON: a format marker, a version and the
tree itself, with every array replaced by ``{"__ndarray__": "<its entry name>"}``. That keeps
nesting, empty dicts and non-array values (numbers, strings, lists) without pickling
anything; the loader never unpickles (``allow_pickle=False``).

What comes back: numpy arrays where Tensors or arrays went in; tuples come back as lists and
numpy scalars as Python numbers (they travel as JSON).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

__all__ = ["load", "save"]

FORMAT_KEY = "__minigrad__"
FORMAT_NAME = "minigrad.checkpoint"
FORMAT_VERSION = 1
_ARRAY_TAG = "__ndarray__"


def save(obj: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Writes ``obj``, a dict of arrays/Tensors, JSON values and nested dicts or lists, to
    ``path`` as an ``.npz`` file (exactly that name: no suffix is added).

    The file is written next to ``path`` under a temporary name and then renamed, so an
    interrupted save never leaves a half-written checkpoint in place of a good one.

    Raises:
        TypeError: a key is not a string, or a value is neither an array, a Tensor, a
            container nor a JSON value (None, bool, int, float, str); the error names its path.
        ValueError: an array of Python objects, or two entries that map to the same name.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"minigrad.save: expected a dict (a state dict), got "
                        f"{type(obj).__name__}")
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, (), arrays)
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree}
    arrays[FORMAT_KEY] = np.array(json.dumps(header))  # a unicode array: no pickle needed
    path = os.fspath(path)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in arrays.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, array, allow_pickle=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a checkpoint written by ``save`` and rebuilds its nesting.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        ValueError: the file is not a zip/npz archive, is truncated or corrupt, or is an
            ``.npz`` not written by ``minigrad.save`` (no format marker); the message names
            the path and what was wrong.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"minigrad.load: no such checkpoint file: '{path}'")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"minigrad.load: '{path}' is not a readable .npz checkpoint: the "
                         f"file is truncated, corrupt or of another format ({err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"minigrad.load: '{path}' holds a single .npy array, not a "
                         "checkpoint written by minigrad.save (an .npz archive)")
    with archive:
        if FORMAT_KEY not in archive.files:
            shown = ", ".join(archive.files[:5]) + (", ..." if len(archive.files) > 5 else "")
            raise ValueError(f"minigrad.load: '{path}' is an .npz file but was not written by "
                             f"minigrad.save (it has no '{FORMAT_KEY}' format marker); its "
                             f"entries are [{shown}]. Read it with numpy.load instead.")
        try:
            header = json.loads(str(archive[FORMAT_KEY][()]))
            arrays = {name: archive[name] for name in archive.files if name != FORMAT_KEY}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"minigrad.load: '{path}' is corrupt: an entry cannot be read "
                             f"({err})") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"minigrad.load: '{path}' has a '{FORMAT_KEY}' entry that is not a "
                         "minigrad format marker")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"minigrad.load: '{path}' uses checkpoint format version "
                         f"{header.get('version')}; this minigrad reads version "
                         f"{FORMAT_VERSION}")
    return _decode(header.get("tree"), arrays, path)


def _encode(value: Any, path: tuple[str, ...], arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as a JSON tree; arrays go into ``arrays`` under their joined path."""
    where = "/".join(path) or "the top level"
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise ValueError(f"minigrad.save: the array at '{where}' holds Python objects, "
                             "which cannot be stored without pickle")
        name = "/".join(path)
        if name in arrays or name == FORMAT_KEY:
            raise ValueError(f"minigrad.save: two entries map to the name '{name}' (keys may "
                             "not contain '/', nor be named '__minigrad__')")
        arrays[name] = value
        return {_ARRAY_TAG: name}
    if isinstance(value, Mapping):
        tree = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"minigrad.save: keys must be strings, got {key!r} "
                                f"({type(key).__name__}) at '{where}'")
            if key == _ARRAY_TAG:
                raise ValueError(f"minigrad.save: the key '{_ARRAY_TAG}' is reserved")
            tree[key] = _encode(item, (*path, key), arrays)
        return tree
    if isinstance(value, (list, tuple)):
        return [_encode(item, (*path, str(i)), arrays) for i, item in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"minigrad.save: cannot store a value of type {type(value).__name__} at "
                    f"'{where}'; expected arrays, Tensors, dicts, lists or JSON values")


def _decode(node: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if isinstance(node, dict):
        if set(node) == {_ARRAY_TAG}:
            name = node[_ARRAY_TAG]
            if name not in arrays:
                raise ValueError(f"minigrad.load: '{path}' is corrupt: the array '{name}' is "
                                 "missing")
            return arrays[name]
        return {key: _decode(item, arrays, path) for key, item in node.items()}
    if isinstance(node, list):
        return [_decode(item, arrays, path) for item in node]
    return node
