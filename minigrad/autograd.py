"""Reverse-mode automatic differentiation: graph nodes and the backward engine.

Every primitive op is a subclass of ``Function`` with ``forward`` and ``backward`` side by side:

    class Mul(Function):
        def forward(self, a, b):        # numpy arrays in, numpy array out
            self.save(a, b)             # what backward will need
            return a * b

        def backward(self, grad):       # d loss / d output  ->  d loss / d each input
            a, b = self.saved
            return grad * b, grad * a

``Mul.apply(x, y)`` runs ``forward`` on the tensors' arrays and, when gradients are wanted,
makes the instance a graph node: it keeps its inputs, the current scope label and the saved
arrays. ``backward()`` visits the nodes in reverse topological order. Three things happen in
the engine, once, for every op:

- gradients are *reduced back to each input's shape* where the forward broadcast it
  (so no op's backward has to think about broadcasting);
- gradients of a tensor used several times are *accumulated* (summed);
- saved buffers are *freed* after the pass unless ``retain_graph=True``.
"""

from __future__ import annotations

import itertools
import traceback
from operator import attrgetter
from typing import Any

import numpy as np

from minigrad.modes import STATE
from minigrad.tensor import Tensor

#: Every primitive op by name; the tests iterate it (each op must have a gradcheck case).
REGISTRY: dict[str, type[Function]] = {}

_creation_order = itertools.count(1)


class HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks = hooks
        self._hook = hook
        hooks.append(hook)

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class FreedTensor:
    """What a graph keeps of an intermediate tensor once backward has freed it: where it came
    from, its shape and dtype (enough to draw the graph), but not its values."""

    __slots__ = ("grad_fn", "_output_index", "requires_grad", "shape", "dtype", "name")
    data = None
    grad = None

    def __init__(self, tensor: Tensor) -> None:
        data = tensor.data
        self.grad_fn, self._output_index = tensor.grad_fn, tensor._output_index
        self.requires_grad, self.name = tensor.requires_grad, tensor.name
        self.shape, self.dtype = data.shape, data.dtype


class Function:
    """One primitive op; an instance is one node of the computation graph.

    Subclasses implement ``forward(*arrays, **options) -> array`` (or a tuple of arrays when
    ``n_outputs > 1``) and ``backward(grad) -> one gradient per input`` (``None`` where an input
    has no gradient; a single array may be returned for a one-input op). Arrays needed by the
    backward go through ``self.save(...)`` so that they can be freed; small metadata (axes,
    shapes) may be kept as plain attributes.

    Attributes (of a node):
        name: the op's name, e.g. ``"mul"`` (shown in graphs and error messages).
        inputs: the input tensors, in order.
        needs_grad: per input, whether it requires a gradient (backward may skip the others).
        scope: the scope label active when the node was made, or None.
    """

    name = ""
    n_outputs = 1
    differentiable = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:  # a subclass gets its own name, not its parent's
            cls.name = cls.__name__.lower()
        if cls.name in REGISTRY:
            raise RuntimeError(f"two ops are registered under the name {cls.name!r}")
        REGISTRY[cls.name] = cls

    # Set on nodes only (ops run under no_grad never get them).
    inputs: tuple[Tensor, ...] = ()
    needs_grad: tuple[bool, ...] = ()
    seq = 0  # creation order: a node's inputs always come from nodes with smaller seq
    scope: str | None = None
    saved: tuple | None = ()
    observed = False  # True once a hook or retain_grad() watches one of its outputs
    created_at: list | None = None
    _output_hooks: dict[int, list] | None = None
    _retained: dict[int, Any] | None = None

    def forward(self, *arrays: np.ndarray, **options: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> Any:
        raise NotImplementedError(f"op '{self.name}' has no backward")

    def save(self, *arrays: Any) -> None:
        """Keeps what backward needs; freed after backward unless ``retain_graph=True``."""
        self.saved = arrays

    def release(self) -> None:
        """Frees the node's arrays after backward: the saved ones (``saved = None`` marks a
        freed node), and those of its non-leaf inputs, which become ``FreedTensor`` stand-ins.
        Otherwise a loss kept alive, e.g. until the next iteration's forward replaces it,
        would keep every activation of its graph in memory."""
        self.saved = None
        self.inputs = tuple([t if t.grad_fn is None else FreedTensor(t) for t in self.inputs])

    @classmethod
    def apply(cls, *inputs: Tensor, **options: Any) -> Any:
        """Runs the op on tensors; records a graph node when any input requires grad."""
        node = cls()
        try:
            out = node.forward(*[t.data for t in inputs], **options)
        except (ValueError, IndexError) as err:  # numpy's message, with the op and shapes
            shapes = ", ".join(str(t.shape) for t in inputs)
            raise type(err)(f"{cls.name} failed on inputs of shapes ({shapes}): {err}") \
                from None
        record = False
        if STATE.grad_enabled and cls.differentiable:
            needs_grad = tuple([t.requires_grad for t in inputs])
            if True in needs_grad:
                record = True
                node.inputs = inputs
                node.needs_grad = needs_grad
                node.seq = next(_creation_order)
                node.scope = STATE.scope
                if STATE.anomaly:
                    node.created_at = traceback.format_stack()[:-1]
        if cls.n_outputs == 1:
            if type(out) is not np.ndarray:
                out = np.asarray(out)
            return Tensor._make(out, node) if record else Tensor._make(out)
        outs = [o if type(o) is np.ndarray else np.asarray(o) for o in out]
        if not record:
            return tuple(Tensor._make(o) for o in outs)
        return tuple(Tensor._make(o, node, i) for i, o in enumerate(outs))

    # ------------------------------------------------------------ hooks on outputs
    def add_output_hook(self, index: int, hook: Any) -> HookHandle:
        if self._output_hooks is None:
            self._output_hooks = {}
        self.observed = True
        return HookHandle(self._output_hooks.setdefault(index, []), hook)

    def retain_output(self, index: int, tensor: Tensor) -> None:
        if self._retained is None:
            self._retained = {}
        self.observed = True
        self._retained[index] = tensor

    def describe(self) -> str:
        """``'mul'`` or ``'mul' (scope 'lstm/t=3')``: how error messages name this node."""
        return f"'{self.name}'" + (f" (scope '{self.scope}')" if self.scope else "")

    def __repr__(self) -> str:
        return f"<{self.name}{' @ ' + self.scope if self.scope else ''}>"


# ====================================================================== the engine
def backward(root: Tensor, gradient: Any = None, retain_graph: bool = False) -> None:
    """Back-propagates from ``root``; see ``Tensor.backward``."""
    if not root.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of the computation "
            "had requires_grad=True, or it ran under no_grad()")
    grad = _initial_gradient(root, gradient)
    if root.grad_fn is None:
        _accumulate_into_leaf(root, grad)
        return

    order = topological_order(root.grad_fn)
    pending: dict[Function, Any] = {root.grad_fn: _seed_buffer(root, grad)}
    leaf_grads: dict[int, list] = {}  # id(leaf) -> [leaf, summed gradient]
    anomaly = STATE.anomaly

    for node in order:
        buffered = pending.pop(node, None)
        if buffered is None:  # no gradient reached this node (e.g. every path was zeroed)
            continue
        if node.observed:
            buffered = _run_output_hooks(node, buffered)
        if node.n_outputs == 1:
            input_grads = node.backward(buffered)
        else:
            input_grads = node.backward(*buffered)  # None for outputs that got no gradient
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        for tensor, grad_in in zip(node.inputs, input_grads, strict=True):
            if grad_in is None or not tensor.requires_grad:
                continue
            data = tensor.data
            # ``is not``: builtin dtypes are singletons, and this check runs for every edge
            if grad_in.shape != data.shape or grad_in.dtype is not data.dtype:
                grad_in = _fit_to_input(node, data, grad_in)
            if anomaly:
                _check_finite(node, tensor, grad_in)
            producer = tensor.grad_fn
            if producer is None:
                entry = leaf_grads.get(id(tensor))
                if entry is None:
                    leaf_grads[id(tensor)] = [tensor, grad_in]
                else:
                    entry[1] = entry[1] + grad_in
            elif producer.n_outputs == 1:
                previous = pending.get(producer)
                pending[producer] = grad_in if previous is None else previous + grad_in
            else:
                slots = pending.setdefault(producer, [None] * producer.n_outputs)
                i = tensor._output_index
                slots[i] = grad_in if slots[i] is None else slots[i] + grad_in
        if not retain_graph:
            node.release()

    for leaf, grad_in in leaf_grads.values():
        _accumulate_into_leaf(leaf, grad_in)


def topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each before the nodes that made its inputs.

    Nodes are numbered as they are created, and an op's inputs exist before the op runs, so
    sorting by creation number, newest first, is a valid order; it is also the same on every
    run. The search is iterative (a 100,000-step graph must not hit Python's recursion
    limit) and refuses a graph whose buffers were freed before any work is done, so a failed
    backward changes nothing.
    """
    found = {root}  # nodes hash by identity
    stack = [root]
    while stack:
        node = stack.pop()
        if node.saved is None:
            raise _freed_graph_error(node)
        for tensor in node.inputs:
            producer = tensor.grad_fn
            if producer is not None and producer not in found:
                found.add(producer)
                stack.append(producer)
    return sorted(found, key=_by_creation, reverse=True)


_by_creation = attrgetter("seq")


def _freed_graph_error(node: Function) -> RuntimeError:
    return RuntimeError(
        f"trying to backward through the graph a second time: the saved buffers of op "
        f"{node.describe()} were freed by an earlier backward(). Pass retain_graph=True to the "
        "first backward() if you really need two passes; if you carry a recurrent state from "
        "one batch or chunk to the next, detach it first (h = h.detach(), or "
        "rnn.detach_state(state)) so that backward stops at the chunk boundary.")


def _initial_gradient(root: Tensor, gradient: Any) -> np.ndarray:
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() needs a `gradient` argument for a non-scalar tensor of shape "
                f"{root.shape}; pass d(loss)/d(this tensor), or reduce it first (e.g. .sum())")
        return np.ones(root.data.shape, root.data.dtype)  # (np.ones_like is 3x slower)
    grad = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
    if grad.shape != root.shape:
        raise RuntimeError(
            f"backward(): gradient has shape {grad.shape} but the tensor has shape {root.shape}")
    return grad.astype(root.dtype, copy=False)


def _seed_buffer(root: Tensor, grad: np.ndarray) -> Any:
    if root.grad_fn.n_outputs == 1:
        return grad
    slots = [None] * root.grad_fn.n_outputs
    slots[root._output_index] = grad
    return slots


def _fit_to_input(node: Function, data: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Sums a gradient over the axes the forward broadcast, and matches the input's dtype."""
    if grad.shape != data.shape:
        grad = unbroadcast(grad, data.shape)
        if grad.shape != data.shape:
            raise RuntimeError(
                f"internal error in the backward of op {node.describe()}: gradient of shape "
                f"{grad.shape} for an input of shape {data.shape}")
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    return grad


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reduces ``grad`` to ``shape`` by summing over the axes that broadcasting added or
    stretched (leading axes, and axes where ``shape`` has size 1)."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    elif extra < 0:
        return grad  # cannot be a broadcast; the caller reports the mismatch
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _run_output_hooks(node: Function, buffered: Any) -> Any:
    """Applies user hooks and ``retain_grad`` to the gradients of a node's outputs."""
    slots = [buffered] if node.n_outputs == 1 else list(buffered)
    for index, grad in enumerate(slots):
        if grad is None:
            continue
        for hook in (node._output_hooks or {}).get(index, ()):
            grad = _call_hook(hook, grad, node.describe())
        retained = (node._retained or {}).get(index)
        if retained is not None:
            retained.grad = Tensor._make(grad.copy()) if retained.grad is None \
                else Tensor._make(retained.grad.data + grad)
        slots[index] = grad
    return slots[0] if node.n_outputs == 1 else slots


def _call_hook(hook: Any, grad: np.ndarray, where: str) -> np.ndarray:
    result = hook(Tensor._make(grad))
    if result is None:
        return grad
    new = result.data if isinstance(result, Tensor) else np.asarray(result)
    if new.shape != grad.shape:
        raise RuntimeError(
            f"a hook on the output of {where} returned a gradient of shape {new.shape}, "
            f"expected {grad.shape}")
    return new


def _accumulate_into_leaf(leaf: Tensor, grad: np.ndarray) -> None:
    if leaf._hooks:
        for hook in list(leaf._hooks):
            grad = _call_hook(hook, grad, "a leaf tensor")
    if leaf.grad is None:
        # A copy, never a view: the same array may be the gradient of another tensor too
        # (e.g. both inputs of an add), and optimizers update .grad in place.
        leaf.grad = Tensor._make(np.array(grad, dtype=leaf.data.dtype, copy=True, order="C"))
    else:
        leaf.grad.data = leaf.grad.data + grad


def _check_finite(node: Function, tensor: Tensor, grad: np.ndarray) -> None:
    if not np.all(np.isfinite(grad)):
        position = next(i for i, t in enumerate(node.inputs) if t is tensor)
        where = "".join(node.created_at[-3:]) if node.created_at else ""
        raise FloatingPointError(
            f"anomaly: the backward of op {node.describe()} produced a non-finite gradient "
            f"(nan or inf) for its input {position} of shape {grad.shape}."
            + (f"\nThe op was created at:\n{where}" if where else ""))
