"""Tests of rnn.attention: scores against numpy formulas, masking of padded source positions,
shapes, float64 gradchecks (inputs and parameters) for every attention type."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from rnn.attention import BahdanauAttention, LuongAttention, lengths_to_mask

N, L, HQ, HK = 3, 5, 4, 6
LENGTHS = [5, 3, 1]

KINDS = {
    "bahdanau": lambda hq, hk: BahdanauAttention(hq, hk, hidden_size=7),
    "luong-dot": lambda hq, hk: LuongAttention(hq, hq, score="dot"),
    "luong-general": lambda hq, hk: LuongAttention(hq, hk, score="general"),
    "luong-concat": lambda hq, hk: LuongAttention(hq, hk, score="concat", hidden_size=7),
}


def make(kind: str, dtype=np.float32, seed: int = 0):
    """An attention module and inputs (query, keys, mask) of the right sizes for it."""
    mg.manual_seed(seed)
    module = KINDS[kind](HQ, HK)
    if dtype == np.float64:
        module.double()
    rng = np.random.default_rng(seed)
    key_size = module.key_size
    query = mg.tensor(rng.standard_normal((N, HQ)), dtype=dtype)
    keys = mg.tensor(rng.standard_normal((N, L, key_size)), dtype=dtype)
    return module, query, keys, lengths_to_mask(LENGTHS, L)


def reference_scores(module, q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The paper formulas written directly in numpy: (N, L) scores."""
    if isinstance(module, BahdanauAttention):
        w_q, w_k = module.query_proj.weight.data, module.key_proj.weight.data
        v = module.v.weight.data[0]
        return np.tanh(q[:, None, :] @ w_q.T + k @ w_k.T) @ v
    if module.score_name == "dot":
        return np.einsum("nlh,nh->nl", k, q)
    if module.score_name == "general":
        return np.einsum("nlh,hq,nq->nl", k, module.weight.weight.data, q)
    joined = np.concatenate([np.broadcast_to(q[:, None, :], (*k.shape[:2], q.shape[1])), k], -1)
    return np.tanh(joined @ module.weight.weight.data.T) @ module.v.weight.data[0]


def test_lengths_to_mask():
    np.testing.assert_array_equal(lengths_to_mask([3, 1]), [[True, True, True],
                                                             [True, False, False]])
    assert lengths_to_mask(mg.tensor([2, 2]), 4).shape == (2, 4)
    assert lengths_to_mask(np.array([1]), 3).tolist() == [[True, False, False]]


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_masking(kind):
    module, query, keys, mask = make(kind)
    context, weights = module(query, keys, mask)
    assert context.shape == (N, module.key_size) and weights.shape == (N, L)
    assert context.dtype == np.float32 and weights.dtype == np.float32
    w = weights.data
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(w[~mask] == 0.0)            # exactly 0 at padding, not just small
    assert np.all(w[mask] > 0.0)
    # The context is the weighted sum of the keys (values = keys).
    np.testing.assert_allclose(context.data, np.einsum("nl,nlh->nh", w, keys.data),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_scores_match_the_formulas(kind):
    module, query, keys, mask = make(kind, dtype=np.float64)
    scores = reference_scores(module, query.data, keys.data)
    expected = np.where(mask, np.exp(scores - scores.max(1, keepdims=True)), 0.0)
    expected /= expected.sum(1, keepdims=True)
    _, weights = module(query, keys, mask)
    np.testing.assert_allclose(weights.data, expected, rtol=1e-12, atol=1e-14)
    # Without a mask every position takes part.
    _, weights = module(query, keys)
    full = np.exp(scores - scores.max(1, keepdims=True))
    np.testing.assert_allclose(weights.data, full / full.sum(1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_is_invisible(kind):
    """Whatever sits at padded positions changes nothing and gets no gradient."""
    module, query, keys, mask = make(kind, dtype=np.float64)
    keys.requires_grad_()
    context, weights = module(query, keys, mask)
    (context.sum() + (weights * weights).sum()).backward()
    assert np.all(keys.grad.data[~mask] == 0.0)
    noisy = keys.data.copy()
    noisy[~mask] = 1e3
    context2, weights2 = module(query, mg.tensor(noisy), mask)
    np.testing.assert_array_equal(weights2.data, weights.data)
    np.testing.assert_allclose(context2.data, context.data, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_inputs(kind):
    module, query, keys, mask = make(kind, dtype=np.float64)
    mg.gradcheck(lambda q, k: module(q, k, mask), [query.requires_grad_(),
                                                  keys.requires_grad_()])


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "luong-dot"])
def test_gradcheck_parameters(kind):
    """Central differences on every parameter element against backward."""
    module, query, keys, mask = make(kind, dtype=np.float64)
    rng = np.random.default_rng(1)
    r_context, r_weights = rng.standard_normal((N, module.key_size)), rng.standard_normal((N, L))

    def loss() -> mg.Tensor:
        context, weights = module(query, keys, mask)
        return (context * mg.tensor(r_context)).sum() + (weights * mg.tensor(r_weights)).sum()

    module.zero_grad()
    loss().backward()
    eps = 1e-6
    for name, param in module.named_parameters():
        numeric = np.zeros_like(param.data)
        flat = param.data.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            with mg.no_grad():
                plus = loss().item()
            flat[i] = original - eps
            with mg.no_grad():
                minus = loss().item()
            flat[i] = original
            numeric.reshape(-1)[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(param.grad.data, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_query_time():
    assert BahdanauAttention(4, 4).query_time == "previous"
    assert LuongAttention(4, 4).query_time == "current"


def test_parameter_counts():
    assert BahdanauAttention(4, 6, hidden_size=7).num_parameters() == 7 * 4 + 7 * 6 + 7
    assert LuongAttention(4, 4, score="dot").num_parameters() == 0
    assert LuongAttention(4, 6, score="general").num_parameters() == 6 * 4
    assert LuongAttention(4, 6, score="concat", hidden_size=5).num_parameters() == 5 * 10 + 5


def test_errors():
    with pytest.raises(ValueError, match="needs query_size == key_size"):
        LuongAttention(4, 8, score="dot")
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention(4, 4, score="cosine")
    with pytest.raises(ValueError, match="positive int"):
        BahdanauAttention(0, 4)
    module, query, keys, mask = make("bahdanau")
    with pytest.raises(ValueError, match="query has shape"):
        module(keys, keys, mask)
    with pytest.raises(ValueError, match=r"keys have shape .* \(batch first\)"):
        module(query, keys.transpose(0, 1), mask)
    with pytest.raises(ValueError, match="mask has shape"):
        module(query, keys, mask.T)
    empty = mask.copy()
    empty[1] = False
    with pytest.raises(ValueError, match="row 1 of the mask has no real token"):
        module(query, keys, empty)


def test_projected_keys_give_the_same_numbers():
    """Bahdanau's W_k k, projected once for a batch and passed to every step, gives the
    numbers of the projection done inside each call; Luong's scores have no key-only part."""
    results = []
    for projected in (False, True):
        module, query, keys, mask = make("bahdanau", np.float64)
        keys.requires_grad = True
        extra = {"projected_keys": module.project_keys(keys)} if projected else {}
        context, weights = module(query, keys, mask, **extra)
        (context.sum() + (weights * weights).sum()).backward()
        results.append([context.data, weights.data, keys.grad.data]
                       + [p.grad.data for p in module.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for kind in ("luong-dot", "luong-general", "luong-concat"):
        module, _, keys, _ = make(kind)
        assert module.project_keys(keys) is None


def test_projected_keys_of_another_batch_are_refused():
    module, query, keys, mask = make("bahdanau")
    stale = module.project_keys(keys[:, :2])
    with pytest.raises(ValueError, match=r"projected_keys have shape .* another batch"):
        module(query, keys, mask, projected_keys=stale)
