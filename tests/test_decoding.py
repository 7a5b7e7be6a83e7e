"""Tests of rnn.decoding: beam search on hand-made log-probability tables (greedy misses the
best sequence, length penalties change the winner, min_len, n_best, a batch of sentences),
beam size 1 = greedy, sampling, and the model-level functions on real Seq2Seq models."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from rnn.decoding import (
    LENGTH_PENALTIES,
    Decoded,
    beam_search,
    beam_search_core,
    greedy_core,
    greedy_decode,
    sample,
    sample_core,
)
from rnn.seq2seq import Decoder, Encoder, Seq2Seq, sequence_loss

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4
V = 5


# ---------------------------------------------------------------------------------- fake model
def table_step(*tables):
    """A fake model: ``tables[i][prefix] = {token: probability}`` for sentence i, the prefix
    being the tokens generated so far (without <bos>). A prefix not in the table ends: <eos>
    with probability 1. Every other token has log-probability -inf.

    The state is an int array (B, 1 + t): the sentence id, then the tokens fed so far, so
    ``reorder_state`` reorders it like any decoder state.
    """
    def step(tokens, state):
        state = np.concatenate([state, tokens[:, None]], axis=1)
        log_probs = np.full((len(tokens), V), -np.inf)
        for r, row in enumerate(state):
            for token, p in tables[row[0]].get(tuple(row[2:]), {EOS: 1.0}).items():
                log_probs[r, token] = math.log(p)
        return log_probs, state

    return step, np.arange(len(tables))[:, None]


def last_token_attention(state):
    """Fake attention: a one-hot weight on 'source position' = the token fed at this step."""
    return np.eye(V)[state[:, -1]]


def beam(tables, **options):
    step, state = table_step(*tables)
    options = {"beam_size": 2, "max_len": 10, "bos": BOS, "eos": EOS} | options
    return beam_search_core(step, state, len(tables), **options)


def greedy(tables, max_len=10):
    step, state = table_step(*tables)
    return greedy_core(step, state, len(tables), max_len=max_len, bos=BOS, eos=EOS)


# Greedy takes A (0.6) and then has to stop at P = 0.6 * 0.4 = 0.24; B, EOS has 0.36.
GREEDY_MISSES = {(): {A: 0.6, B: 0.4}, (A,): {EOS: 0.4, A: 0.35, B: 0.25},
                 (B,): {EOS: 0.9, A: 0.1}}
# Short B, EOS (0.45) beats A, A, EOS (0.4455) on raw probability, not per token.
SHORT_VS_LONG = {(): {A: 0.55, B: 0.45}, (A,): {A: 0.9, EOS: 0.1}, (A, A): {EOS: 0.9, A: 0.1},
                 (B,): {EOS: 1.0}}
# <eos> first is likely; min_len forces one or two tokens before it.
EARLY_EOS = {(): {EOS: 0.9, A: 0.1}, (A,): {EOS: 0.6, B: 0.4}}


# ---------------------------------------------------------------------------------- tables
def test_beam_finds_the_sequence_greedy_misses():
    tokens, scores, _ = greedy([GREEDY_MISSES])
    assert tokens == [[A, EOS]] and scores[0] == pytest.approx(math.log(0.24))
    [[best]] = beam([GREEDY_MISSES], beam_size=2)
    assert best.tokens == [B, EOS]
    assert best.log_prob == pytest.approx(math.log(0.36)) and best.score == best.log_prob
    [[one]] = beam([GREEDY_MISSES], beam_size=1)
    assert one.tokens == [A, EOS] and one.log_prob == scores[0]


@pytest.mark.parametrize("table", [GREEDY_MISSES, SHORT_VS_LONG, EARLY_EOS,
                                   {(): {A: 0.7, EOS: 0.3}, (A,): {A: 0.7, EOS: 0.3},
                                    (A, A): {A: 0.7, EOS: 0.3}}])
@pytest.mark.parametrize("max_len", [1, 2, 3, 10])
def test_beam_size_one_is_greedy_on_tables(table, max_len):
    tokens, scores, _ = greedy([table], max_len=max_len)
    [[one]] = beam([table], beam_size=1, max_len=max_len)
    assert one.tokens == tokens[0] and one.log_prob == scores[0]
    assert len(one.tokens) <= max_len


@pytest.mark.parametrize("penalty, alpha, winner", [
    ("none", 0.6, [B, EOS]),
    ("avg", 0.6, [A, A, EOS]),
    ("wu", 1.0, [A, A, EOS]),
    ("wu", 0.0, [B, EOS]),          # alpha = 0 is no penalty
])
def test_length_penalty_changes_the_winner(penalty, alpha, winner):
    [[best]] = beam([SHORT_VS_LONG], length_penalty=penalty, alpha=alpha)
    assert best.tokens == winner
    lp = LENGTH_PENALTIES[penalty](len(winner), alpha)
    assert best.score == pytest.approx(best.log_prob / lp)
    expected = math.log(0.45) if winner == [B, EOS] else math.log(0.55 * 0.9 * 0.9)
    assert best.log_prob == pytest.approx(expected)


def test_search_goes_on_while_a_live_hypothesis_can_still_win():
    """After step 2, B, EOS (0.6) is finished and A, A (0.4) is behind it even divided by its
    current length; but its sure continuation to length 5 makes it the winner per token."""
    slow_start = {(): {B: 0.6, A: 0.4}, (B,): {EOS: 1.0}, (A,): {A: 1.0}, (A, A): {A: 1.0},
                  (A, A, A): {A: 1.0}}
    [[best]] = beam([slow_start], length_penalty="avg")
    assert best.tokens == [A, A, A, A, EOS]
    assert best.score == pytest.approx(math.log(0.4) / 5)
    [[best]] = beam([slow_start], length_penalty="none")
    assert best.tokens == [B, EOS]


def test_length_penalty_table():
    assert LENGTH_PENALTIES["none"](7, 0.6) == 1.0
    assert LENGTH_PENALTIES["avg"](7, 0.6) == 7.0
    assert LENGTH_PENALTIES["wu"](7, 0.6) == pytest.approx(2.0 ** 0.6)   # ((5 + 7) / 6)^a


@pytest.mark.parametrize("min_len, expected, p", [(0, [EOS], 0.9), (1, [A, EOS], 0.06),
                                                  (2, [A, B, EOS], 0.04)])
def test_min_len(min_len, expected, p):
    hyps = beam([EARLY_EOS], beam_size=3, n_best=2, min_len=min_len)[0]
    assert hyps[0].tokens == expected and hyps[0].log_prob == pytest.approx(math.log(p))
    assert all(len(h.tokens) - 1 >= min_len for h in hyps)


def test_n_best_in_order():
    hyps = beam([GREEDY_MISSES], beam_size=3, n_best=3)[0]
    assert [h.tokens for h in hyps] == [[B, EOS], [A, EOS], [A, A, EOS]]
    np.testing.assert_allclose([h.log_prob for h in hyps], np.log([0.36, 0.24, 0.21]))
    assert hyps[0].score > hyps[1].score > hyps[2].score
    assert [h.tokens for h in beam([GREEDY_MISSES], beam_size=3, n_best=2)[0]] == \
        [[B, EOS], [A, EOS]]


def test_first_step_starts_from_one_hypothesis():
    """Scores start at [0, -inf, ...]: step one does not make K copies of the same prefix."""
    hyps = beam([{(): {A: 1.0}, (A,): {EOS: 0.5, B: 0.5}}], beam_size=3, n_best=3)[0]
    assert [h.tokens for h in hyps] == [[A, EOS], [A, B, EOS]]      # all there is


def test_batch_of_sentences_with_different_answers():
    tables = [EARLY_EOS, GREEDY_MISSES, SHORT_VS_LONG]
    for options in [dict(beam_size=2), dict(beam_size=3, n_best=2, length_penalty="avg"),
                    dict(beam_size=2, min_len=1, length_penalty="wu")]:
        together = beam(tables, **options)
        alone = [beam([t], **options)[0] for t in tables]
        assert [[h.tokens for h in hyps] for hyps in together] == \
            [[h.tokens for h in hyps] for hyps in alone]
        assert [[h.score for h in hyps] for hyps in together] == \
            [[h.score for h in hyps] for hyps in alone]
    best = [hyps[0].tokens for hyps in beam(tables, beam_size=2)]
    assert best == [[EOS], [B, EOS], [B, EOS]]
    best = [hyps[0].tokens for hyps in beam(tables, beam_size=2, length_penalty="avg")]
    assert best == [[EOS], [B, EOS], [A, A, EOS]]


def test_attention_follows_the_beams():
    step, state = table_step(GREEDY_MISSES, SHORT_VS_LONG)
    results = beam_search_core(step, state, 2, beam_size=3, n_best=3, max_len=10, bos=BOS,
                               eos=EOS, attention_of=last_token_attention)
    for hyps in results:
        for h in hyps:
            fed = [BOS, *h.tokens[:-1]]
            np.testing.assert_array_equal(h.attention, np.eye(V)[fed])


def test_cut_off_at_max_len():
    endless = {(): {A: 0.9, EOS: 0.1}, (A,): {A: 0.9, EOS: 0.1}, (A, A): {A: 0.9, EOS: 0.1}}
    hyps = beam([endless], beam_size=2, n_best=2, max_len=3)[0]
    assert [A, A, A] in [h.tokens for h in hyps]                    # no <eos>: cut off
    assert all(len(h.tokens) <= 3 for h in hyps)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("penalty", ["none", "avg", "wu"])
@pytest.mark.parametrize("n_best", [1, 4])
def test_wide_beam_is_exhaustive_search(seed, penalty, n_best):
    """With a beam wide enough to keep every candidate (3 * 2^4 at the last step), beam search
    and its stopping rule must return exactly the best hypotheses of an exhaustive search over
    a random table (peaked distributions: long likely continuations after unlikely starts)."""
    rng = np.random.default_rng(seed)
    max_len, tokens = 5, (A, B)
    prefixes = [()]
    for _ in range(max_len - 1):
        prefixes += [p + (t,) for p in prefixes if len(p) == len(prefixes[-1]) for t in tokens]
    table = {p: dict(zip((EOS, A, B), rng.dirichlet([0.3, 0.3, 0.3]), strict=True))
             for p in prefixes}
    everything = []      # (tokens, log_prob): every way to end, or to be cut off at max_len
    for p in prefixes + [p + (t,) for p in prefixes if len(p) == max_len - 1 for t in tokens]:
        log_prob = sum(math.log(table[p[:i]][p[i]]) for i in range(len(p)))
        if len(p) < max_len:
            everything.append(([*p, EOS], log_prob + math.log(table[p][EOS])))
        else:
            everything.append((list(p), log_prob))
    lp = LENGTH_PENALTIES[penalty]
    everything.sort(key=lambda h: -h[1] / lp(len(h[0]), 0.6))
    hyps = beam([table], beam_size=48, n_best=n_best, max_len=max_len,
                length_penalty=penalty)[0]
    assert [h.tokens for h in hyps] == [t for t, _ in everything[:n_best]]
    np.testing.assert_allclose([h.log_prob for h in hyps], [s for _, s in everything[:n_best]])


def test_errors():
    with pytest.raises(ValueError, match="length_penalty must be one of"):
        beam([EARLY_EOS], length_penalty="gnmt")
    with pytest.raises(ValueError, match="n_best must be in"):
        beam([EARLY_EOS], beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="beam_size must be an int >= 1"):
        beam([EARLY_EOS], beam_size=0)
    with pytest.raises(ValueError, match="max_len must be an int >= 1"):
        greedy([EARLY_EOS], max_len=0)
    step, state = table_step(EARLY_EOS)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample_core(step, state, 1, max_len=3, bos=BOS, eos=EOS, temperature=0.0)


# ---------------------------------------------------------------------------------- sampling
def test_sampling_frequencies_temperature_and_top_k():
    rows = 4000
    step, _ = table_step(*[GREEDY_MISSES] * 1)
    state = np.zeros((rows, 1), dtype=np.int64)                      # 4000 copies of one

    def first_tokens(**options):
        out = sample_core(step, state, rows, max_len=1, bos=BOS, eos=EOS,
                          generator=np.random.default_rng(0), **options)
        return np.array([t[0] for t in out.tokens]), out.scores

    tokens, scores = first_tokens()
    assert abs((tokens == A).mean() - 0.6) < 0.03                    # 4 standard deviations
    np.testing.assert_allclose(scores, np.log(np.where(tokens == A, 0.6, 0.4)))
    tokens, scores = first_tokens(temperature=0.5)                   # p^2 renormalised
    assert abs((tokens == A).mean() - 0.36 / 0.52) < 0.03
    np.testing.assert_allclose(scores, np.log(np.where(tokens == A, 0.6, 0.4)))
    tokens, _ = first_tokens(top_k=1)
    assert np.all(tokens == A)


# ---------------------------------------------------------------------------------- real models
MODEL_CONFIGS = [
    dict(attention=None, cell="gru"),
    dict(attention="bahdanau", cell="lstm", bidirectional=True),
    dict(attention="luong-general", cell="gru", input_feeding=True, num_layers=2),
]


def reversal_batch(seed, n):
    """n random sentences of 2..5 tokens and their reversals: src (L, n), lengths, tgt."""
    rng = np.random.default_rng(seed)
    sources = [list(rng.integers(3, 10, size=k)) for k in rng.integers(2, 6, size=n)]
    lengths = [len(x) for x in sources]
    src = np.zeros((max(lengths), n), dtype=np.int64)
    tgt = np.zeros((max(lengths) + 2, n), dtype=np.int64)
    for i, x in enumerate(sources):
        src[:len(x), i] = x
        tgt[:len(x) + 2, i] = [BOS, *x[::-1], EOS]
    return src, lengths, tgt


SRC, LENGTHS, _ = reversal_batch(1, 6)


def make_model(attention, cell, bidirectional=False, input_feeding=False, num_layers=1):
    """A model trained a little on reversal (20 Adam steps): its outputs end at different
    lengths and are not yet sure of themselves, which is what decoding tests need."""
    mg.manual_seed(0)
    encoder = Encoder(10, 8, 8 if bidirectional else 16, num_layers, cell=cell,
                      bidirectional=bidirectional)
    decoder = Decoder(10, 8, 16, num_layers, cell=cell, attention=attention,
                      encoder_hidden_size=16, input_feeding=input_feeding)
    model = Seq2Seq(encoder, decoder)
    optimizer = mg.optim.Adam(model.parameters(), lr=0.02)
    src, lengths, tgt = reversal_batch(0, 16)
    for _ in range(20):
        optimizer.zero_grad()
        sequence_loss(model(src, lengths, tgt), tgt, PAD).backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module", params=MODEL_CONFIGS, ids=lambda c: str(c["attention"]))
def model(request):
    return make_model(**request.param)


@pytest.mark.parametrize("max_len", [5, 8])
def test_beam_size_one_equals_greedy_on_models(model, max_len):
    tokens, scores, attention = greedy_decode(model, SRC, LENGTHS, max_len=max_len, bos=BOS,
                                              eos=EOS)
    results = beam_search(model, SRC, LENGTHS, beam_size=1, max_len=max_len, bos=BOS, eos=EOS)
    assert [hyps[0].tokens for hyps in results] == tokens
    # Scores agree to float32 rounding only: beam search drops finished sentences from its
    # batch, and BLAS may round a smaller matrix product differently.
    np.testing.assert_allclose([hyps[0].log_prob for hyps in results], scores, rtol=1e-6)
    assert len({len(t) for t in tokens}) > 1            # sentences end at different steps
    for i, (hyps, n) in enumerate(zip(results, LENGTHS, strict=True)):
        if attention is None:
            assert hyps[0].attention is None
            continue
        length = len(tokens[i])
        np.testing.assert_allclose(hyps[0].attention, attention[i, :length, :n], atol=1e-6)
        assert np.all(attention[i, length:] == 0)       # nothing after the sentence ended


def test_beam_search_on_models(model):
    results = beam_search(model, SRC, LENGTHS, beam_size=4, n_best=3, max_len=6, bos=BOS,
                          eos=EOS, length_penalty="wu")
    assert len(results) == len(LENGTHS)
    for hyps, n in zip(results, LENGTHS, strict=True):
        assert len(hyps) == 3
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 3
        for h in hyps:
            if model.decoder.attention is not None:
                assert h.attention.shape == (len(h.tokens), n)
                np.testing.assert_allclose(h.attention.sum(-1), 1.0, rtol=1e-5)
    # Each sentence's result does not depend on the others in the batch.
    alone = beam_search(model, SRC[:LENGTHS[2], 2:3], [LENGTHS[2]], beam_size=4, n_best=3,
                        max_len=6, bos=BOS, eos=EOS, length_penalty="wu")
    assert [h.tokens for h in alone[0]] == [h.tokens for h in results[2]]
    np.testing.assert_allclose([h.score for h in alone[0]], [h.score for h in results[2]],
                               rtol=1e-5)


def test_sample_on_a_model():
    model = make_model("bahdanau", "gru")
    greedy_out = greedy_decode(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS)
    top1 = sample(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS, top_k=1)
    assert isinstance(top1, Decoded) and top1.tokens == greedy_out.tokens
    np.testing.assert_array_equal(top1.scores, greedy_out.scores)
    first = sample(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS, temperature=1.5,
                   generator=np.random.default_rng(3))
    again = sample(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS, temperature=1.5,
                   generator=np.random.default_rng(3))
    assert first.tokens == again.tokens
    mg.manual_seed(5)
    default_rng = sample(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS, temperature=1.5)
    mg.manual_seed(5)
    assert sample(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS,
                  temperature=1.5).tokens == default_rng.tokens


def test_decoding_runs_without_grad():
    model = make_model("luong-general", "gru", input_feeding=True)
    seen = []
    decoder_forward = model.decoder.forward

    def spy(tokens, state):
        seen.append(mg.is_grad_enabled())
        logits, state = decoder_forward(tokens, state)
        assert not logits.requires_grad
        return logits, state

    model.decoder.forward = spy
    greedy_decode(model, SRC, LENGTHS, max_len=3, bos=BOS, eos=EOS)
    beam_search(model, SRC, LENGTHS, beam_size=2, max_len=3, bos=BOS, eos=EOS)
    sample(model, SRC, LENGTHS, max_len=3, bos=BOS, eos=EOS)
    assert seen and not any(seen) and mg.is_grad_enabled()
