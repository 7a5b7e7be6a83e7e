"""Differentiable operations on tensors.

Primitives (one graph node each, forward and backward side by side) live in one module per
family; everything else is composed from them. ``minigrad.autograd.REGISTRY`` lists every
primitive by name, and ``NON_DIFFERENTIABLE`` the functions that deliberately have no gradient.
"""

from minigrad.ops.compare import (
    NON_DIFFERENTIABLE,
    eq,
    ge,
    gt,
    le,
    logical_and,
    logical_not,
    logical_or,
    lt,
    ne,
)
from minigrad.ops.elementwise import (
    abs,
    add,
    astype,
    clamp,
    div,
    exp,
    log,
    masked_fill,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from minigrad.ops.linalg import matmul
from minigrad.ops.nn import cross_entropy_rows, embedding, linear, log_softmax, softmax
from minigrad.ops.reduce import (
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    sum,
    var,
)
from minigrad.ops.shape import (
    cat,
    chunk,
    expand,
    flatten,
    flip,
    getitem,
    pad,
    permute,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)

__all__ = [
    "NON_DIFFERENTIABLE", "abs", "add", "argmax", "argmin", "astype", "cat", "chunk", "clamp",
    "cross_entropy_rows", "div", "embedding", "eq", "exp", "expand", "flatten", "flip", "ge",
    "getitem", "gt", "le", "linear", "log", "log_softmax", "logical_and", "logical_not",
    "logical_or", "logsumexp", "lt", "masked_fill", "matmul", "max", "maximum", "mean", "min",
    "minimum", "mul", "ne", "neg", "norm", "pad", "permute", "pow", "relu", "reshape",
    "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack", "sub", "sum", "tanh",
    "transpose", "unsqueeze", "var", "where",
]
