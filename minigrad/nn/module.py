"""``Module``, the base of every layer, and ``Parameter``, the tensors a module learns.

A module finds its parameters and sub-modules by watching attribute assignment: ``self.fc =
Linear(2, 3)`` registers a child, ``self.weight = Parameter(...)`` a parameter. Everything else
(``parameters()``, ``state_dict()``, ``train()``, the nested ``repr``) walks those registries in
assignment order, so names and orders are the same on every run.

    >>> class MLP(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = Linear(2, 8)
    ...         self.fc2 = Linear(8, 1)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> [name for name, _ in MLP().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from minigrad.nn.utils import zero_grad_
from minigrad.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a ``Module`` registers as learnable (``requires_grad=True``).

    Args:
        data: the initial values; a numpy array or Tensor is shared, not copied (like
            PyTorch). Default: an empty float32 tensor.
        requires_grad: whether optimizers should update it.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of all layers and models: subclass it, assign parts in ``__init__``, and
    write ``forward``. Calling the module calls ``forward``.

    Attributes:
        training: True in training mode (the default), False after ``eval()``. Layers such
            as ``Dropout`` behave differently in the two modes.
    """

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these registries to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        registries = self.__dict__.get("_parameters")
        if registries is None:
            raise AttributeError(f"cannot assign '{name}' before Module.__init__() is called; "
                                 f"call super().__init__() first in {type(self).__name__}")
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif name in self._parameters and value is not None:
            raise TypeError(f"cannot assign a {type(value).__name__} to parameter '{name}' of "
                            f"{type(self).__name__}: expected a Parameter or None")
        elif name in self._modules and value is not None:
            raise TypeError(f"cannot assign a {type(value).__name__} to sub-module '{name}' of "
                            f"{type(self).__name__}: expected a Module or None")
        elif name in self._buffers:
            self._buffers[name] = _as_buffer(value, name)
        else:
            self._unregister(name)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered names live in the registries.
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if not self._unregister(name):
            object.__delattr__(self, name)

    def _unregister(self, name: str) -> bool:
        self._non_persistent.discard(name)
        found = False
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                found = True
        return found

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Registers ``param`` under ``name`` (``self.name = param`` does the same).

        ``None`` unregisters the name and leaves the attribute set to None (e.g. no bias)."""
        _check_name(name, self)
        self._unregister(name)
        if param is None:
            object.__setattr__(self, name, None)
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Registers a tensor that is state but not learned (e.g. running statistics).

        Buffers follow ``to(dtype)`` (when floating) and, if ``persistent``, appear in
        ``state_dict()``. A numpy array is wrapped in a Tensor without copying."""
        _check_name(name, self)
        self._unregister(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = _as_buffer(tensor, name)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Registers a child module (``self.name = module`` does the same)."""
        _check_name(name, self)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module, got "
                            f"{type(module).__name__}")
        self._unregister(name)
        self.__dict__.pop(name, None)
        if module is None:
            object.__setattr__(self, name, None)
        else:
            self._modules[name] = module

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, each once (``""`` names self)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules, in assignment order."""
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each parameter once even when shared."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def _named_members(self, registry: str, prefix: str, recurse: bool
                       ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def num_parameters(self, only_trainable: bool = False) -> int:
        """The number of scalars in all (distinct) parameters."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------- state
    def _state_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every parameter and persistent buffer by full name, shared ones under each name
        (as in PyTorch, so that a checkpoint loads whichever way the model ties weights)."""
        yield from ((prefix + n, p) for n, p in self._parameters.items())
        yield from ((prefix + n, b) for n, b in self._buffers.items()
                    if b is not None and n not in self._non_persistent)
        for name, child in self._modules.items():
            yield from child._state_tensors(f"{prefix}{name}.")

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter and persistent buffer as ``{dotted name: np.ndarray}``."""
        return {name: tensor.data.copy() for name, tensor in self._state_tensors()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True
                        ) -> IncompatibleKeys:
        """Copies values from ``state_dict`` into the parameters and buffers, in place.

        Every entry is checked before anything is written, so on an error the module is left
        unchanged. Values may be numpy arrays or Tensors; a floating value is converted to the
        precision of the parameter (float64 into float32 is fine, integers into floats are not).

        Args:
            state_dict: ``{dotted name: array}``, as from ``state_dict()``.
            strict: require exactly the module's keys. If False, missing and unexpected keys
                are skipped and returned; shape and dtype mismatches are errors either way.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: listing every missing or unexpected key (strict) and every shape or
                dtype mismatch.
        """
        targets = dict(self._state_tensors())
        missing = [name for name in targets if name not in state_dict]
        unexpected = [name for name in state_dict if name not in targets]
        errors = []
        if strict and missing:
            errors.append(f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            errors.append(f"unexpected key(s): {', '.join(unexpected)}")
        updates = []
        for name, target in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.data if isinstance(value, Tensor) else np.asarray(value)
            if value.shape != target.shape:
                errors.append(f"'{name}' has shape {value.shape} in the state dict but "
                              f"{target.shape} in the module")
            elif not _same_kind(value.dtype, target.dtype):
                errors.append(f"'{name}' has dtype {value.dtype} in the state dict but "
                              f"{target.dtype} in the module")
            else:
                updates.append((target, value))
        if errors:
            raise RuntimeError(f"error(s) loading the state dict into {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        for target, value in updates:
            if target.data.flags.writeable:
                target.data[...] = value  # in place: the Parameter objects (and views) stay
            else:
                target.data = value.astype(target.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------- modes, grads, dtype
    def train(self, mode: bool = True) -> Module:
        """Sets training mode on this module and every sub-module; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (``train(False)``): dropout off. Returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freezes (False) or unfreezes every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears every parameter's gradient: to None (default), or to zeros in place."""
        zero_grad_(self.parameters(), set_to_none)

    def to(self, dtype: Any) -> Module:
        """Converts every parameter (and its gradient) and every floating buffer to ``dtype``.

        The conversion replaces each tensor's ``data`` but keeps the Parameter objects, so an
        optimizer made earlier still updates them (its state, e.g. Adam's moments, keeps the
        old dtype until loaded again: convert before making the optimizer). Returns self.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: expected a floating-point dtype, got {dtype}")
        for param in self.parameters():
            param.data = param.data.astype(dtype, copy=False)
            if param.grad is not None:
                param.grad.data = param.grad.data.astype(dtype, copy=False)
        for buffer in self.buffers():
            if buffer.dtype.kind == "f":
                buffer.data = buffer.data.astype(dtype, copy=False)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Calls ``fn`` on every sub-module (children first) and then on self; returns self.

        Typical use: custom initialisation, ``model.apply(init_weights)``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr line; override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, child in self._modules.items():
            lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        if not self._modules:
            return f"{type(self).__name__}({''.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_name(name: str, module: Module) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{type(module).__name__}: attribute name must be a non-empty string "
                       f"without '.', got {name!r}")
    if hasattr(type(module), name):
        raise KeyError(f"{type(module).__name__}: cannot register '{name}': the class already "
                       "has an attribute of that name")


def _as_buffer(value: Any, name: str) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(f"buffer '{name}' must be a Tensor, a numpy array or None, got "
                    f"{type(value).__name__}")


def _same_kind(source: np.dtype, target: np.dtype) -> bool:
    """Floats load into floats, integers into integers, booleans into booleans."""
    kinds = {"f": "f", "i": "i", "u": "i", "b": "b", "c": "c"}
    return kinds.get(source.kind, "?") == kinds.get(target.kind, "!")
