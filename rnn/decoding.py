"""Decoding a trained model: greedy search, sampling and beam search.

Two levels:

- ``greedy_decode``, ``sample`` and ``beam_search`` take a ``Seq2Seq`` model (anything with
  ``encode(src, src_lengths) -> state`` and ``decoder(tokens, state) -> (logits, state)``), run
  under ``minigrad.no_grad()``, and return tokens, scores and attention weights. Call
  ``model.eval()`` first, or dropout stays on.
- ``greedy_core``, ``sample_core`` and ``beam_search_core`` hold the search itself and only see
  a *step function*::

      step(tokens, state) -> (log_probs, state)     tokens (B,) int, log_probs (B, V)

  so tests can plug in a fake model whose log-probabilities come from a hand-made table.

Conventions: a hypothesis's ``tokens`` exclude <bos> and end with <eos> when the model
produced it (a hypothesis cut off at ``max_len`` tokens has none); ``|Y|`` below counts the
tokens including <eos>. Scores are sums of natural-log probabilities.

Length penalties (beam search ranks finished hypotheses by ``log P(Y) / lp(|Y|)``)::

    none    lp = 1                            raw log-probability: favours short outputs
    avg     lp = |Y|                          average log-probability per token
    wu      lp = ((5 + |Y|) / 6) ** alpha     GNMT (Wu et al. 2016), alpha in [0, 1]

Shape legend: N sentences, K beam size, B = N * K decoder rows, V vocabulary, L_src source
length, T decoding steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

import minigrad as mg
from rnn.seq2seq import reorder_state

__all__ = ["LENGTH_PENALTIES", "Decoded", "Hypothesis", "beam_search", "beam_search_core",
           "greedy_core", "greedy_decode", "model_step", "sample", "sample_core"]

StepFn = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]
AttentionFn = Callable[[Any], "np.ndarray | None"]

#: The length penalties lp(|Y|, alpha) of beam search, by name (see the module docstring).
LENGTH_PENALTIES: dict[str, Callable[[int, float], float]] = {
    "none": lambda length, alpha: 1.0,
    "avg": lambda length, alpha: float(length),
    "wu": lambda length, alpha: ((5.0 + length) / 6.0) ** alpha,
}


@dataclass
class Hypothesis:
    """One finished (or cut-off) output of beam search.

    Attributes:
        tokens: the generated ids, without <bos>, ending with <eos> unless cut off at max_len.
        score: ``log_prob / lp(len(tokens))``, what beam search ranks by.
        log_prob: the sum of the tokens' log-probabilities.
        attention: (len(tokens), L_src) the attention weights of each step (trimmed to the
            sentence's own source length by ``beam_search``), or None without attention.
    """

    tokens: list[int]
    score: float
    log_prob: float
    attention: np.ndarray | None = None


class Decoded(NamedTuple):
    """What greedy decoding and sampling return (unpacks as ``tokens, scores, attention``).

    Attributes:
        tokens: N lists of ids, without <bos>, each ending at its first <eos> (included), or
            after max_len tokens.
        scores: (N,) float64, the log-probability of each output under the model.
        attention: (N, T, L_src) the weights of each step (zero after a sentence ended), or
            None without attention; T = the number of steps run (<= max_len).
    """

    tokens: list[list[int]]
    scores: np.ndarray
    attention: np.ndarray | None


def _check_common(max_len: int, bos: int, eos: int) -> None:
    if not isinstance(max_len, (int, np.integer)) or max_len < 1:
        raise ValueError(f"decoding: max_len must be an int >= 1, got {max_len!r}")
    if bos is None or eos is None:
        raise ValueError("decoding: bos and eos token ids are required")


# ---------------------------------------------------------------------------------------------
# Model adapters.


def model_step(model: Any) -> tuple[StepFn, AttentionFn]:
    """The step function of a ``Seq2Seq`` model, and a function reading a state's attention.

    Shape:
        - step: tokens (B,) int, state for B rows -> log_probs (B, V) float64, new state.
        - attention_of: state -> (B, L_src) numpy weights of the last step, or None.
    """
    def step(tokens: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        logits, state = model.decoder(tokens, state)
        return logits.log_softmax(-1).data.astype(np.float64), state

    def attention_of(state: Any) -> np.ndarray | None:
        weights = getattr(state, "attention", None)
        return None if weights is None else weights.data

    return step, attention_of


def _encode(model: Any, src: Any, src_lengths: Any) -> tuple[Any, int, np.ndarray]:
    state = model.encode(src, src_lengths)
    src = np.asarray(src.data if isinstance(src, mg.Tensor) else src)
    lengths = np.full(src.shape[1], src.shape[0]) if src_lengths is None else \
        np.asarray(src_lengths.data if isinstance(src_lengths, mg.Tensor) else src_lengths)
    return state, src.shape[1], lengths


# ---------------------------------------------------------------------------------------------
# Greedy search and sampling: one token per sentence per step.


def _sequential_core(step: StepFn, state: Any, batch_size: int, choose: Callable, *,
                     max_len: int, bos: int, eos: int,
                     attention_of: AttentionFn | None) -> Decoded:
    """Runs ``step`` on N rows, picking each next token with ``choose(log_probs (N, V))``."""
    _check_common(max_len, bos, eos)
    tokens = np.full(batch_size, bos, dtype=np.int64)   # (N,) the last token of each row
    done = np.zeros(batch_size, dtype=bool)             # (N,) row has produced <eos>
    scores = np.zeros(batch_size)                       # (N,) log-prob so far
    outputs: list[list[int]] = [[] for _ in range(batch_size)]
    weights: list[np.ndarray] = []                      # T x (N, L_src)
    for _ in range(max_len):
        log_probs, state = step(tokens, state)
        tokens = np.asarray(choose(log_probs), dtype=np.int64)
        picked = log_probs[np.arange(batch_size), tokens]
        scores += np.where(done, 0.0, picked)
        attention = None if attention_of is None else attention_of(state)
        if attention is not None:
            weights.append(np.where(done[:, None], 0.0, attention))
        for i in np.flatnonzero(~done):
            outputs[i].append(int(tokens[i]))
        done |= tokens == eos
        if done.all():
            break
    attention = np.stack(weights, axis=1) if weights else None
    return Decoded(outputs, scores, attention)


def greedy_core(step: StepFn, state: Any, batch_size: int, *, max_len: int, bos: int,
                eos: int, attention_of: AttentionFn | None = None) -> Decoded:
    """Greedy search on a step function: the most probable token at every step.

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state)``.
        state: the initial state for ``batch_size`` rows.
        attention_of: reads the last step's (N, L_src) weights from a state (optional).
    """
    return _sequential_core(step, state, batch_size, lambda lp: lp.argmax(-1), max_len=max_len,
                            bos=bos, eos=eos, attention_of=attention_of)


def sample_core(step: StepFn, state: Any, batch_size: int, *, max_len: int, bos: int,
                eos: int, temperature: float = 1.0, top_k: int | None = None,
                generator: np.random.Generator | None = None,
                attention_of: AttentionFn | None = None) -> Decoded:
    """Ancestral sampling on a step function: each token drawn from ``softmax(logits / T)``,
    restricted to the ``top_k`` most probable tokens when given. Scores are the model's own
    log-probabilities of the drawn tokens (temperature 1, no top-k)."""
    if not temperature > 0:
        raise ValueError(f"sample: temperature must be > 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"sample: top_k must be >= 1 or None, got {top_k}")
    rng = mg.random.generator() if generator is None else generator

    def choose(log_probs: np.ndarray) -> np.ndarray:
        scaled = log_probs / temperature
        if top_k is not None and top_k < scaled.shape[1]:
            kth = np.sort(scaled, axis=1)[:, -top_k][:, None]
            scaled = np.where(scaled >= kth, scaled, -np.inf)
        probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        cdf = np.cumsum(probs, axis=1)
        draws = rng.random(len(cdf))[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= draws).sum(axis=1), cdf.shape[1] - 1)  # inverse CDF

    return _sequential_core(step, state, batch_size, choose, max_len=max_len, bos=bos,
                            eos=eos, attention_of=attention_of)


def greedy_decode(model: Any, src: Any, src_lengths: Any = None, *, max_len: int, bos: int,
                  eos: int) -> Decoded:
    """Greedy decoding of a batch of source sentences.

    Shape:
        - src: (L_src, N) int (time-major); src_lengths: (N,) or None.
        - Output: ``Decoded(tokens, scores, attention)``: N token lists (<= max_len each),
          scores (N,), attention (N, T, L_src) or None.

    Example:
        >>> tokens, scores, attention = greedy_decode(model, src, lengths, max_len=20,
        ...                                           bos=1, eos=2)
    """
    with mg.no_grad():
        state, batch, _ = _encode(model, src, src_lengths)
        step, attention_of = model_step(model)
        return greedy_core(step, state, batch, max_len=max_len, bos=bos, eos=eos,
                           attention_of=attention_of)


def sample(model: Any, src: Any, src_lengths: Any = None, *, max_len: int, bos: int, eos: int,
           temperature: float = 1.0, top_k: int | None = None,
           generator: np.random.Generator | None = None) -> Decoded:
    """Samples one output per source sentence (see ``sample_core``).

    Args:
        temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
        top_k: sample among the k most probable tokens only (None: all).
        generator: a ``numpy.random.Generator`` (default: ``minigrad.random.generator()``).

    Shape: as ``greedy_decode``.
    """
    with mg.no_grad():
        state, batch, _ = _encode(model, src, src_lengths)
        step, attention_of = model_step(model)
        return sample_core(step, state, batch, max_len=max_len, bos=bos, eos=eos,
                           temperature=temperature, top_k=top_k, generator=generator,
                           attention_of=attention_of)


# ---------------------------------------------------------------------------------------------
# Beam search.


def beam_search_core(step: StepFn, state: Any, batch_size: int, *, beam_size: int = 5,
                     max_len: int, bos: int, eos: int, min_len: int = 0,
                     length_penalty: str = "none", alpha: float = 0.6, n_best: int = 1,
                     attention_of: AttentionFn | None = None) -> list[list[Hypothesis]]:
    """Beam search on a step function, for N sentences at once.

    Each sentence keeps K live hypotheses; the decoder runs on all N * K rows together, row
    ``i * K + k`` holding beam k of sentence i. At each step every live hypothesis is extended
    by every token, and of the K * V candidates of a sentence the best 2K are looked at in
    order: an <eos> among the first K *finishes* a hypothesis (kept aside, scored with the
    length penalty), and the first K others become the new beams (there are always K: each
    beam adds at most one <eos>). The state rows are then reordered to follow their beams
    (``reorder_state``). Step one starts from a single live hypothesis (scores
    ``[0, -inf, ...]``), so it does not produce K copies of the same token.

    A sentence stops once it has ``n_best`` finished hypotheses and no live one can still beat
    them: a live hypothesis with log-prob s <= 0 can at best score ``s / lp(max_len)`` (s only
    falls, and lp grows with length). Its rows are then dropped from the batch. Hypotheses
    still live after ``max_len`` steps are added as they are (cut off, no <eos>).

    Args:
        step: ``step(tokens (B,), state) -> (log_probs (B, V), state)``.
        state: the initial state for ``batch_size`` rows (repeated here K times each).
        beam_size: K. max_len: at most this many tokens per hypothesis (<eos> included).
        min_len: <eos> is forbidden (log-prob -inf) until this many tokens precede it.
        length_penalty: "none", "avg" or "wu" (``LENGTH_PENALTIES``). alpha: for "wu" (>= 0).
        n_best: how many hypotheses to return per sentence (<= K).
        attention_of: reads the last step's (B, L_src) weights from a state (optional).

    Returns:
        N lists of ``n_best`` ``Hypothesis``, best first (fewer only if the search ran out of
        finite-probability candidates).

    Decoding state arrays (n = sentences still searching):
        scores: (n, K) log-prob of each live hypothesis; -inf for empty beams.
        history: (n, K, t) the tokens of each live hypothesis after t steps.
        weights: (n, K, t, L_src) their attention weights (when ``attention_of`` gives any).
        active: (n,) the sentence index of each searching row block.
    """
    _check_common(max_len, bos, eos)
    if length_penalty not in LENGTH_PENALTIES:
        raise ValueError(f"beam_search: length_penalty must be one of "
                         f"{tuple(LENGTH_PENALTIES)}, got {length_penalty!r}")
    if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(f"beam_search: beam_size must be an int >= 1, got {beam_size!r}")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"beam_search: n_best must be in [1, beam_size={beam_size}], "
                         f"got {n_best}")
    if alpha < 0:
        raise ValueError(f"beam_search: alpha must be >= 0, got {alpha}")
    penalty = LENGTH_PENALTIES[length_penalty]
    K = beam_size

    state = reorder_state(state, np.repeat(np.arange(batch_size), K))
    scores = np.full((batch_size, K), -np.inf)
    scores[:, 0] = 0.0
    history = np.zeros((batch_size, K, 0), dtype=np.int64)
    weights: np.ndarray | None = None
    active = np.arange(batch_size)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]

    def hypothesis(tokens: np.ndarray, log_prob: float, attention: Any) -> Hypothesis:
        return Hypothesis([int(x) for x in tokens], float(log_prob / penalty(len(tokens), alpha)),
                          float(log_prob), None if attention is None else attention.copy())

    for t in range(max_len):
        n = len(active)
        last = history[:, :, -1].reshape(-1) if t else np.full(n * K, bos, dtype=np.int64)
        log_probs, state = step(last, state)
        log_probs = np.array(log_probs, dtype=np.float64).reshape(n, K, -1)
        vocab = log_probs.shape[2]
        if t < min_len:
            log_probs[:, :, eos] = -np.inf
        step_weights = None if attention_of is None else attention_of(state)

        candidates = (scores[:, :, None] + log_probs).reshape(n, K * vocab)
        top = np.argsort(-candidates, axis=1, kind="stable")[:, :2 * K]       # (n, 2K)
        top_scores = np.take_along_axis(candidates, top, axis=1)
        beam, token = top // vocab, top % vocab
        is_eos = token == eos

        # Finished: <eos> candidates ranked within the first K, with a finite score.
        for i, r in zip(*np.nonzero(is_eos[:, :K] & np.isfinite(top_scores[:, :K])),
                        strict=True):
            b = beam[i, r]
            attn = None
            if step_weights is not None:
                row = step_weights[i * K + b][None]
                attn = row if weights is None else np.concatenate([weights[i, b], row])
            finished[active[i]].append(
                hypothesis(np.append(history[i, b], eos), top_scores[i, r], attn))

        # Live: the first K candidates that are not <eos> (exactly K per sentence).
        keep = ~is_eos & (np.cumsum(~is_eos, axis=1) <= K)
        beam = beam[keep].reshape(n, K)
        token = token[keep].reshape(n, K)
        scores = top_scores[keep].reshape(n, K)
        rows = (np.arange(n)[:, None] * K + beam).reshape(-1)                 # (n * K,)
        history = np.concatenate([history[np.arange(n)[:, None], beam], token[:, :, None]],
                                 axis=2)
        if step_weights is not None:
            new = step_weights[rows].reshape(n, K, 1, -1)
            weights = new if weights is None else np.concatenate(
                [weights[np.arange(n)[:, None], beam], new], axis=2)
        state = reorder_state(state, rows)

        # Sentences whose n_best finished hypotheses no live one can beat stop searching.
        if t == max_len - 1:
            break
        best_live = scores[:, 0] / penalty(max_len, alpha)
        searching = np.ones(n, dtype=bool)
        for i in range(n):
            done = sorted((h.score for h in finished[active[i]]), reverse=True)
            if len(done) >= n_best and best_live[i] <= done[n_best - 1]:
                searching[i] = False
        if not searching.all():
            if not searching.any():
                active = active[:0]
                break
            keep_rows = (np.flatnonzero(searching)[:, None] * K + np.arange(K)).reshape(-1)
            state = reorder_state(state, keep_rows)
            active, scores = active[searching], scores[searching]
            history = history[searching]
            weights = None if weights is None else weights[searching]

    # Cut off at max_len: live hypotheses count as they are.
    for i, sentence in enumerate(active):
        for k in range(K):
            if np.isfinite(scores[i, k]):
                finished[sentence].append(hypothesis(
                    history[i, k], scores[i, k], None if weights is None else weights[i, k]))

    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in finished]


def beam_search(model: Any, src: Any, src_lengths: Any = None, *, beam_size: int = 5,
                max_len: int, min_len: int = 0, length_penalty: str = "none",
                alpha: float = 0.6, n_best: int = 1, bos: int,
                eos: int) -> list[list[Hypothesis]]:
    """Beam search for a batch of source sentences (see ``beam_search_core``).

    The decoder runs on N * beam_size rows; ``beam_size=1`` with ``length_penalty="none"``
    gives exactly ``greedy_decode``'s outputs and scores.

    Shape:
        - src: (L_src, N) int (time-major); src_lengths: (N,) or None.
        - Output: N lists of ``n_best`` ``Hypothesis`` (tokens, score, log_prob, attention
          (len(tokens), src_length)), best first.

    Example:
        >>> best = beam_search(model, src, lengths, beam_size=5, max_len=30, bos=1, eos=2,
        ...                    length_penalty="wu", alpha=0.6)
        >>> best[0][0].tokens
    """
    with mg.no_grad():
        state, batch, lengths = _encode(model, src, src_lengths)
        step, attention_of = model_step(model)
        results = beam_search_core(step, state, batch, beam_size=beam_size, max_len=max_len,
                                   bos=bos, eos=eos, min_len=min_len,
                                   length_penalty=length_penalty, alpha=alpha, n_best=n_best,
                                   attention_of=attention_of)
    for hyps, length in zip(results, lengths, strict=True):
        for h in hyps:
            if h.attention is not None:
                h.attention = h.attention[:, :int(length)]
    return results
