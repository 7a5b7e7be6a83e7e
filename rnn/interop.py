"""Weights to and from PyTorch's ``nn.RNN / LSTM / GRU`` (and cells), without importing torch.

PyTorch keeps two biases per gate (``bias_ih``, ``bias_hh``); the seed's math has one, so
importing sums them (their sum is all the forward ever uses) and exporting puts the whole
bias in ``bias_ih`` and zeros in ``bias_hh``.

PyTorch's GRU is the reset-after form, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
whose ``b_hn`` sits inside the reset gate and cannot be folded: it becomes our ``bias_hn``
(``GRU(..., reset_after=True)``). Its update gate also has the opposite sense:
``h' = (1 - z) * n + z * h`` where ours is ``h' = (1 - z) * h + z * n``; so our z is
``1 - z_torch = sigmoid(-(...))``, and the z rows of both weights and the bias change sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def _z_rows(hidden: int) -> slice:
    return slice(hidden, 2 * hidden)


def from_torch(mode: str, torch_params: Mapping[str, Any], hidden: int, *, has_bias: bool,
               reset_after: bool) -> dict[str, np.ndarray]:
    """One direction's PyTorch tensors (``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``) as our parameters (``weight_ih``, ``weight_hh``, ``bias``, ``bias_hn``)."""
    if mode == "GRU" and not reset_after:
        raise ValueError("PyTorch's GRU applies the reset gate after the recurrent matmul; "
                         "build the layer with reset_after=True to import its weights")
    params = {"weight_ih": np.array(torch_params["weight_ih"], copy=True),
              "weight_hh": np.array(torch_params["weight_hh"], copy=True)}
    if has_bias:
        bias_ih = np.asarray(torch_params["bias_ih"])
        bias_hh = np.asarray(torch_params["bias_hh"])
        if mode == "GRU":
            candidate = slice(2 * hidden, 3 * hidden)
            bias = bias_ih + bias_hh
            bias[candidate] = bias_ih[candidate]
            params["bias"] = bias
            params["bias_hn"] = np.array(bias_hh[candidate], copy=True)
        else:
            params["bias"] = bias_ih + bias_hh
    if mode == "GRU":
        z = _z_rows(hidden)
        params["weight_ih"][z] *= -1
        params["weight_hh"][z] *= -1
        if has_bias:
            params["bias"][z] *= -1
    return params


def to_torch(mode: str, params: Mapping[str, np.ndarray], hidden: int, *,
             has_bias: bool, reset_after: bool = True) -> dict[str, np.ndarray]:
    """The inverse of ``from_torch``: our parameters as PyTorch's four tensors."""
    if mode == "GRU" and not reset_after:
        raise ValueError("the seed's GRU (reset gate before the recurrent matmul) has no "
                         "PyTorch equivalent; only a GRU built with reset_after=True can be "
                         "exported to PyTorch")
    weight_ih = np.array(params["weight_ih"], copy=True)
    weight_hh = np.array(params["weight_hh"], copy=True)
    out = {"weight_ih": weight_ih, "weight_hh": weight_hh}
    if has_bias:
        bias_ih = np.array(params["bias"], copy=True)
        bias_hh = np.zeros_like(bias_ih)
        if mode == "GRU":
            bias_hh[2 * hidden:] = params["bias_hn"]
        out["bias_ih"], out["bias_hh"] = bias_ih, bias_hh
    if mode == "GRU":
        z = _z_rows(hidden)
        weight_ih[z] *= -1
        weight_hh[z] *= -1
        if has_bias:
            out["bias_ih"][z] *= -1
    return out


def check_known_keys(torch_state: Mapping[str, Any], expected: set[str], owner: str) -> None:
    """Refuses PyTorch keys we cannot map (e.g. LSTM ``proj_size`` weights), or missing ones."""
    keys = set(torch_state)
    unknown = sorted(keys - expected)
    missing = sorted(expected - keys)
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unknown:
            parts.append(f"keys that cannot be mapped {unknown}")
        raise ValueError(f"{owner}.load_torch_state_dict: " + "; ".join(parts) +
                         " (is the PyTorch module built with the same num_layers, "
                         "bidirectional, bias, and without proj_size?)")
