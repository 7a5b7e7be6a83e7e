"""Layers: ``Linear``, ``Embedding``, ``Dropout``, activations, and the containers
``Sequential`` and ``ModuleList``.

Shape legend: N batch, * any number of extra dimensions, H_in / H_out feature sizes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.tensor import DEFAULT_DTYPE, Tensor, _to_array

__all__ = ["Dropout", "Embedding", "Linear", "ModuleList", "ReLU", "Sequential", "Sigmoid",
           "Tanh"]


def _empty(*shape: int, dtype: Any) -> Parameter:
    return Parameter(np.zeros(shape, dtype=DEFAULT_DTYPE if dtype is None else dtype))


class Linear(Module):
    """An affine map ``y = x @ weight.T + bias``.

    Both ``weight`` and ``bias`` start as U(-k, k) with ``k = 1 / sqrt(in_features)``, as in
    PyTorch.

    Args:
        in_features: H_in, the size of each input vector.
        out_features: H_out, the size of each output vector.
        bias: learn an additive bias (else ``self.bias`` is None).
        dtype: parameter dtype (float32 by default; float64 for gradcheck).

    Shape:
        - Input: (*, H_in)
        - Output: (*, H_out)

    Attributes:
        weight: (H_out, H_in). bias: (H_out,).

    Example:
        >>> fc = Linear(20, 30)
        >>> fc(minigrad.randn(128, 20)).shape
        (128, 30)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty(out_features, in_features, dtype=dtype)
        self.bias = _empty(out_features, dtype=dtype) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` is the vector of token ``i``.

    The table starts as N(0, 1). Row ``padding_idx``, if given, starts at zero and gets no
    gradient, so it stays whatever it is set to (zero unless you change it).

    Args:
        num_embeddings: V, the vocabulary size.
        embedding_dim: D, the size of each vector.
        padding_idx: a row that is not learned (negative values count from the end).
        dtype: parameter dtype (float32 by default).

    Shape:
        - Input: (*), integer indices in [0, V)
        - Output: (*, D)

    Attributes:
        weight: (V, D).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, *, dtype: Any = None,
                 _weight: np.ndarray | None = None) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = _empty(num_embeddings, embedding_dim, dtype=dtype)
            self.reset_parameters()
        else:  # from_pretrained: the given table, and no random draws
            self.weight = Parameter(_weight)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (V, D); frozen unless
        ``freeze=False``. The padding row is kept as given.

        A Tensor or numpy array keeps its dtype; nested lists of floats become float32, as
        with ``minigrad.tensor``. The global random generator is not used."""
        table = np.array(_to_array(embeddings), copy=True)
        if table.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a (V, D) table, got shape "
                             f"{table.shape}")
        module = cls(*table.shape, padding_idx=padding_idx, _weight=table)
        module.weight.requires_grad_(not freeze)
        return module

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None
                       else "")


class Dropout(Module):
    """In training mode, zeroes each element with probability ``p`` and scales the rest by
    ``1 / (1 - p)``; in evaluation mode (``eval()``), the identity.

    Shape:
        - Input: (*)
        - Output: (*), same as the input
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ReLU(Module):
    """``max(x, 0)`` elementwise, as a module (for ``Sequential``)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)


class Tanh(Module):
    """``tanh(x)`` elementwise, as a module."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` elementwise, as a module."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class _Sequence(Module):
    """What ``Sequential`` and ``ModuleList`` share: children in order, ``len``, iteration,
    indexing (negative indices count from the end; a slice gives a new container of the
    same type) and ``append``, which names the new child by its position."""

    def append(self, module: Module) -> _Sequence:
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self._slice(list(self._modules.items())[index])
        items = list(self._modules.values())
        return items[_position(index, len(items), type(self).__name__)]

    def _slice(self, items: list[tuple[str, Module]]) -> _Sequence:
        raise NotImplementedError


class Sequential(_Sequence):
    """Runs its modules one after the other: ``Sequential(a, b)(x) == b(a(x))``.

    Children are named ``"0"``, ``"1"``, ... (or by the keys of a single dict argument).
    A slice keeps the children's names.

    Example:
        >>> net = Sequential(Linear(2, 8), ReLU(), Linear(8, 1))
        >>> [name for name, _ in net.named_parameters()]
        ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *modules: Module | dict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for module in modules:
                self.append(module)

    def _slice(self, items: list[tuple[str, Module]]) -> Sequential:
        return Sequential(dict(items))

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(_Sequence):
    """A list of modules whose parameters the parent module can see (a plain Python list
    would hide them). It has no ``forward``: iterate over it in yours. Children are always
    named by their position, renumbered after ``insert`` and ``del``.

    Example:
        >>> layers = ModuleList(Linear(4, 4) for _ in range(3))
        >>> layers.append(Linear(4, 2))
        >>> len(layers), [n for n, _ in layers.named_parameters()][-1]
        (4, '3.bias')
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        _check_item(module)  # before anything changes: a failed insert keeps the list
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def _slice(self, items: list[tuple[str, Module]]) -> ModuleList:
        return ModuleList(module for _, module in items)

    def __setitem__(self, index: int, module: Module) -> None:
        _check_item(module)
        self._modules[str(_position(index, len(self), "ModuleList"))] = module  # keeps order

    def __delitem__(self, index: int | slice) -> None:
        items = list(self._modules.values())
        del items[index if isinstance(index, slice) else _position(index, len(items),
                                                                    "ModuleList")]
        self._renumber(items)

    def _renumber(self, items: list[Module]) -> None:
        self._modules.clear()
        self.extend(items)


def _check_item(module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"ModuleList items must be Modules, got {type(module).__name__}")


def _position(index: int, length: int, owner: str) -> int:
    if not isinstance(index, (int, np.integer)):
        raise TypeError(f"{owner} indices must be integers or slices, got "
                        f"{type(index).__name__}")
    if not -length <= index < length:
        raise IndexError(f"{owner} index {index} is out of range for length {length}")
    return int(index) % length
