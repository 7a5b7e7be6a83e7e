"""Attention over encoder outputs: Bahdanau (additive) and Luong (dot, general, concat).

At each decoder step a *query* q (the decoder's hidden state) scores every encoder output
k_j (the *keys*, which are also the values); the scores become weights by a softmax over the
source positions, and the *context* is the weighted sum of the encoder outputs::

    score_j = score(q, k_j)                       for j = 0 .. L_src-1
    a = softmax(score)        with score_j = -inf at padded positions, so a_j = 0 there
    context = sum_j a_j k_j

The score functions:

    ========================  =====================================  ===================
    module                    score(q, k)                            paper
    ========================  =====================================  ===================
    BahdanauAttention         v^T tanh(W_q q + W_k k)                Bahdanau et al. 2015
    LuongAttention("dot")     k^T q          (needs H_q == H_enc)    Luong et al. 2015
    LuongAttention("general") k^T W_a q                              Luong et al. 2015
    LuongAttention("concat")  v^T tanh(W_a [q; k])                   Luong et al. 2015
    ========================  =====================================  ===================

Which query a decoder uses is the module's ``query_time`` attribute: Bahdanau attends with the
*previous* hidden state h_{t-1} before the recurrent step (the context is part of the step's
input); Luong with the *current* one h_t after it (the context shapes the output).

Shape legend: N batch, L_src source length, H_q query size, H_enc encoder output size (D * H of
a bidirectional encoder), A the attention's own hidden size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor, nn

__all__ = ["BahdanauAttention", "LuongAttention", "lengths_to_mask"]

LUONG_SCORES = ("dot", "general", "concat")


def lengths_to_mask(lengths: Any, max_len: int | None = None) -> np.ndarray:
    """The source mask: True at real tokens, False at padding.

    Args:
        lengths: (N,) each sequence's length (list, numpy array or Tensor).
        max_len: L_src, the padded length (default: the longest length).

    Shape:
        - Output: (N, L_src) bool numpy array.

    Example:
        >>> lengths_to_mask([3, 1])
        array([[ True,  True,  True],
               [ True, False, False]])
    """
    lengths = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths,
                         dtype=np.int64)
    if max_len is None:
        max_len = int(lengths.max()) if lengths.size else 0
    return np.arange(max_len)[None, :] < lengths[:, None]


class _Attention(nn.Module):
    """Shared part of the attention modules: checks, masking, softmax and context."""

    #: "previous": the decoder queries with h_{t-1} before its recurrent step (Bahdanau);
    #: "current": with h_t after it (Luong).
    query_time = "previous"

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, "
                                 f"got {value!r}")
        self.query_size, self.key_size = int(query_size), int(key_size)

    def project_keys(self, keys: Tensor) -> Tensor | None:
        """The part of the score that depends on the keys alone, or None if there is none.

        A decoder computes it once per source batch (``Decoder.init_state``) and passes it to
        every step as ``projected_keys``, instead of recomputing it at each target token.

        Shape:
            - keys: (N, L_src, H_enc)
            - Output: (N, L_src, ·), e.g. W_k k (N, L_src, A) for Bahdanau
        """
        return None

    def score(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None
              ) -> Tensor:
        """Unnormalised scores (N, L_src) of the query (N, H_q) against keys (N, L_src, H_enc);
        ``projected_keys`` is ``project_keys(keys)`` when the caller has it."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, mask: Any = None,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Attends to ``keys`` (the encoder outputs, also used as values) with ``query``.

        Args:
            query: the decoder state asking.
            keys: the encoder outputs, batch first.
            mask: True at real source tokens, False at padding (bool numpy array or Tensor);
                None means no padding. Every row needs at least one True.
            projected_keys: ``project_keys(keys)``, computed once for the batch (optional:
                the same numbers, less work per step).

        Shape:
            - query: (N, H_q)
            - keys: (N, L_src, H_enc)
            - mask: (N, L_src)
            - projected_keys: (N, L_src, ·)
            - Output: ``(context, weights)``, context (N, H_enc) and weights (N, L_src); each
              row of weights sums to 1 over the real tokens and is exactly 0 at padding.
        """
        name = type(self).__name__
        if query.ndim != 2 or query.shape[1] != self.query_size:
            raise ValueError(f"{name}: query has shape {query.shape}, expected "
                             f"(N, {self.query_size})")
        if keys.ndim != 3 or keys.shape[0] != query.shape[0] or keys.shape[2] != self.key_size:
            raise ValueError(f"{name}: keys have shape {keys.shape}, expected "
                             f"({query.shape[0]}, L_src, {self.key_size}) (batch first)")
        if projected_keys is not None and (projected_keys.ndim != 3
                                           or projected_keys.shape[:2] != keys.shape[:2]):
            raise ValueError(f"{name}: projected_keys have shape {projected_keys.shape}, "
                             f"expected ({keys.shape[0]}, {keys.shape[1]}, ·) like keys "
                             "(N, L_src): were they projected from another batch?")
        if projected_keys is None:  # (a subclass's score may predate projected_keys)
            scores = self.score(query, keys)
        else:
            scores = self.score(query, keys, projected_keys)
        if mask is not None:
            mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
            if mask.shape != scores.shape:
                raise ValueError(f"{name}: mask has shape {mask.shape}, expected "
                                 f"{scores.shape} (N, L_src)")
            if not mask.any(axis=1).all():
                row = int(np.flatnonzero(~mask.any(axis=1))[0])
                raise ValueError(f"{name}: row {row} of the mask has no real token; every "
                                 "source sentence needs at least one")
            # -inf before the softmax: exp(-inf) = 0, so padding gets weight (and gradient) 0.
            scores = scores.masked_fill(~mask, -np.inf)
        weights = scores.softmax(-1)
        context = (weights.unsqueeze(1) @ keys).squeeze(1)  # (N, 1, L) @ (N, L, H) -> (N, H)
        return context, weights


class BahdanauAttention(_Attention):
    """Additive attention (Bahdanau et al. 2015): ``score(q, k) = v^T tanh(W_q q + W_k k)``.

    Used with the *previous* decoder state h_{t-1} as query (``query_time = "previous"``).

    Args:
        query_size: H_q. key_size: H_enc.
        hidden_size: A, the size of the hidden layer of the score (default: ``query_size``).
        dtype: parameter dtype (float32 by default).

    Shape:
        - query: (N, H_q), keys: (N, L_src, H_enc), mask: (N, L_src) bool
        - Output: context (N, H_enc), weights (N, L_src)

    Attributes:
        query_proj.weight: W_q (A, H_q). key_proj.weight: W_k (A, H_enc). v.weight: (1, A).

    Example:
        >>> attention = BahdanauAttention(8, 6)
        >>> context, weights = attention(mg.randn(2, 8), mg.randn(2, 5, 6),
        ...                              lengths_to_mask([5, 3]))   # (2, 6), (2, 5)
    """

    query_time = "previous"

    def __init__(self, query_size: int, key_size: int, hidden_size: int | None = None, *,
                 dtype: Any = None) -> None:
        super().__init__(query_size, key_size)
        self.hidden_size = query_size if hidden_size is None else int(hidden_size)
        self.query_proj = nn.Linear(query_size, self.hidden_size, bias=False, dtype=dtype)
        self.key_proj = nn.Linear(key_size, self.hidden_size, bias=False, dtype=dtype)
        self.v = nn.Linear(self.hidden_size, 1, bias=False, dtype=dtype)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)                          # W_k k: (N, L, A)

    def score(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None
              ) -> Tensor:
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        # (N, 1, A) + (N, L, A) broadcast over the source positions.
        hidden = (self.query_proj(query).unsqueeze(1) + projected_keys).tanh()
        return self.v(hidden).squeeze(-1)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, " \
               f"hidden_size={self.hidden_size}"


class LuongAttention(_Attention):
    """Multiplicative attention (Luong et al. 2015), with one of three score functions.

    - ``"dot"``: ``k^T q``; no parameters; needs ``query_size == key_size``.
    - ``"general"``: ``k^T W_a q`` with W_a (H_enc, H_q).
    - ``"concat"``: ``v^T tanh(W_a [q; k])`` with W_a (A, H_q + H_enc), v (1, A).

    Used with the *current* decoder state h_t as query (``query_time = "current"``).

    Args:
        query_size: H_q. key_size: H_enc.
        score: "dot", "general" or "concat".
        hidden_size: A for "concat" (default: ``query_size``); ignored otherwise.
        dtype: parameter dtype (float32 by default).

    Shape:
        - query: (N, H_q), keys: (N, L_src, H_enc), mask: (N, L_src) bool
        - Output: context (N, H_enc), weights (N, L_src)

    Example:
        >>> attention = LuongAttention(8, 8, score="dot")
        >>> context, weights = attention(mg.randn(2, 8), mg.randn(2, 5, 8))
    """

    query_time = "current"

    def __init__(self, query_size: int, key_size: int, score: str = "general",
                 hidden_size: int | None = None, *, dtype: Any = None) -> None:
        super().__init__(query_size, key_size)
        if score not in LUONG_SCORES:
            raise ValueError(f"LuongAttention: score must be one of {LUONG_SCORES}, "
                             f"got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"LuongAttention: the 'dot' score needs query_size == key_size, "
                             f"got {query_size} and {key_size} (a bidirectional encoder "
                             "doubles H_enc); use score='general' or 'concat'")
        self.score_name = score
        self.hidden_size = None
        if score == "general":
            self.weight = nn.Linear(query_size, key_size, bias=False, dtype=dtype)
        elif score == "concat":
            self.hidden_size = query_size if hidden_size is None else int(hidden_size)
            self.weight = nn.Linear(query_size + key_size, self.hidden_size, bias=False,
                                    dtype=dtype)
            self.v = nn.Linear(self.hidden_size, 1, bias=False, dtype=dtype)

    def score(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None
              ) -> Tensor:
        if self.score_name == "concat":
            n, length, _ = keys.shape
            expanded = query.unsqueeze(1).expand(n, length, self.query_size)
            hidden = self.weight(mg.cat([expanded, keys], dim=-1)).tanh()
            return self.v(hidden).squeeze(-1)
        if self.score_name == "general":
            query = self.weight(query)                      # (N, H_enc)
        return (keys @ query.unsqueeze(-1)).squeeze(-1)     # (N, L, H) @ (N, H, 1)

    def extra_repr(self) -> str:
        text = f"query_size={self.query_size}, key_size={self.key_size}, " \
               f"score={self.score_name!r}"
        return text + (f", hidden_size={self.hidden_size}" if self.hidden_size else "")
