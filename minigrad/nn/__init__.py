"""Neural-network building blocks: ``Module``, ``Parameter``, layers, ``init`` and ``utils``.

    >>> from minigrad import nn
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    >>> model.num_parameters()
    33
"""

from minigrad.nn import init, utils
from minigrad.nn.layers import (
    Dropout,
    Embedding,
    Linear,
    ModuleList,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from minigrad.nn.module import IncompatibleKeys, Module, Parameter

__all__ = ["Dropout", "Embedding", "IncompatibleKeys", "Linear", "Module", "ModuleList",
           "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh", "init", "utils"]
