"""Tests of rnn.seq2seq (Encoder, Decoder, bridge, teacher forcing, checkpoints, a tiny
training run) and rnn.schedules (scheduled-sampling values)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import minigrad as mg
from rnn.decoding import greedy_decode
from rnn.schedules import (
    SCHEDULES,
    constant,
    exponential,
    get_schedule,
    inverse_sigmoid,
    linear,
    parse_schedule,
)
from rnn.seq2seq import Decoder, DecoderState, Encoder, Seq2Seq, reorder_state, sequence_loss

PAD, BOS, EOS = 0, 1, 2
SRC = np.array([[3, 7, 5],          # (L_src=4, N=3), time-major: column i is sentence i
                [4, 8, 3],
                [5, 9, PAD],
                [6, PAD, PAD]])
LENGTHS = [4, 3, 2]
TGT = np.array([[BOS, BOS, BOS],    # (L_tgt=5, N=3)
                [6, 9, 3],
                [5, 8, 5],
                [EOS, 7, EOS],
                [PAD, EOS, PAD]])


def make_model(attention=None, cell="gru", *, bidirectional=False, num_layers=1, seed=0,
               input_feeding=False, dropout=0.0, vocab=12, hidden=8, bridge="linear"):
    mg.manual_seed(seed)
    encoder = Encoder(vocab, 6, hidden // (2 if bidirectional else 1), num_layers, cell=cell,
                      bidirectional=bidirectional, dropout=dropout)
    decoder = Decoder(vocab, 5, hidden, num_layers, cell=cell, attention=attention,
                      encoder_hidden_size=encoder.output_size, input_feeding=input_feeding,
                      dropout=dropout, bridge=bridge)
    return Seq2Seq(encoder, decoder)


CONFIGS = [
    dict(attention=None),
    dict(attention="bahdanau", cell="lstm", bidirectional=True),
    dict(attention="luong-general", input_feeding=True, num_layers=2),
    dict(attention="luong-dot", cell="rnn"),
    dict(attention="luong-concat", cell="lstm", bidirectional=True, input_feeding=True),
]


# ---------------------------------------------------------------------------------- encoder
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encoder_packs_by_length(cell):
    """Outputs are zero at padding, and each sentence gets what it would get alone."""
    mg.manual_seed(0)
    encoder = Encoder(12, 6, 5, 2, cell=cell, bidirectional=True)
    outputs, state = encoder(SRC, LENGTHS)
    assert outputs.shape == (4, 3, 10)
    h_n = state[0] if cell == "lstm" else state
    assert h_n.shape == (4, 3, 5)
    for i, n in enumerate(LENGTHS):
        assert np.all(outputs.data[n:, i] == 0)
        alone, alone_state = encoder(SRC[:n, i:i + 1], [n])
        np.testing.assert_allclose(outputs.data[:n, i], alone.data[:, 0], rtol=1e-5, atol=1e-6)
        alone_h = alone_state[0] if cell == "lstm" else alone_state
        np.testing.assert_allclose(h_n.data[:, i], alone_h.data[:, 0], rtol=1e-5, atol=1e-6)


def test_encoder_without_lengths_reads_everything():
    mg.manual_seed(0)
    encoder = Encoder(12, 6, 5)
    full, h_full = encoder(SRC)
    same, h_same = encoder(SRC, [4, 4, 4])
    np.testing.assert_array_equal(full.data, same.data)
    np.testing.assert_array_equal(h_full.data, h_same.data)


# ---------------------------------------------------------------------------------- bridge
def encoded(cell, *, bidirectional=True, num_layers=2, hidden=5):
    mg.manual_seed(1)
    encoder = Encoder(12, 6, hidden, num_layers, cell=cell, bidirectional=bidirectional)
    outputs, state = encoder(SRC, LENGTHS)
    return encoder, outputs, state


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("decoder_layers", [2, 1])
def test_bridge_linear_from_bidirectional_encoder(cell, decoder_layers):
    encoder, outputs, state = encoded(cell)
    decoder = Decoder(12, 4, 7, decoder_layers, cell=cell, attention="bahdanau",
                      encoder_hidden_size=encoder.output_size)
    s = decoder.init_state(outputs, state, LENGTHS)
    assert s.h.shape == (decoder_layers, 3, 7)
    assert s.enc_outputs.shape == (3, 4, 10) and s.mask.shape == (3, 4)
    h_n, c_n = state if cell == "lstm" else (state, None)
    # Decoder layer k starts from encoder layer k (or the top layer when the counts differ):
    # tanh(W [h_fwd; h_bwd] + b).
    for k in range(decoder_layers):
        layer = k if decoder_layers == 2 else 1
        joined = np.concatenate([h_n.data[2 * layer], h_n.data[2 * layer + 1]], axis=-1)
        w, b = decoder.bridge_h.weight.data, decoder.bridge_h.bias.data
        np.testing.assert_allclose(s.h.data[k], np.tanh(joined @ w.T + b), rtol=1e-5, atol=1e-6)
        if cell == "lstm":
            joined_c = np.concatenate([c_n.data[2 * layer], c_n.data[2 * layer + 1]], axis=-1)
            w, b = decoder.bridge_c.weight.data, decoder.bridge_c.bias.data
            np.testing.assert_allclose(s.c.data[k], joined_c @ w.T + b, rtol=1e-5, atol=1e-6)
    assert (s.c is None) == (cell == "gru")
    logits, s = decoder(np.full(3, BOS), s)
    assert logits.shape == (3, 12)


def test_bridge_sum_copy_zeros_and_mixed_cells():
    encoder, outputs, state = encoded("gru", num_layers=1, hidden=6)
    s = Decoder(12, 4, 6, cell="gru", attention="bahdanau", encoder_hidden_size=12,
                bridge="sum").init_state(outputs, state, LENGTHS)
    np.testing.assert_allclose(s.h.data[0], state.data[0] + state.data[1], rtol=1e-6)
    with pytest.raises(ValueError, match="bridge='copy' needs .* one-way encoder"):
        Decoder(12, 4, 6, attention="bahdanau", encoder_hidden_size=12,
                bridge="copy").init_state(outputs, state, LENGTHS)
    s = Decoder(12, 4, 6, attention="bahdanau", encoder_hidden_size=12,
                bridge="zeros").init_state(outputs, state, LENGTHS)
    assert np.all(s.h.data == 0)

    encoder, outputs, state = encoded("lstm", bidirectional=False, num_layers=1, hidden=6)
    s = Decoder(12, 4, 6, cell="lstm", bridge="copy").init_state(outputs, state, LENGTHS)
    np.testing.assert_array_equal(s.h.data, state[0].data)
    np.testing.assert_array_equal(s.c.data, state[1].data)
    s = Decoder(12, 4, 6, cell="gru").init_state(outputs, state, LENGTHS)     # LSTM -> GRU
    assert s.h.shape == (1, 3, 6) and s.c is None
    encoder, outputs, state = encoded("gru", bidirectional=False, num_layers=1, hidden=6)
    s = Decoder(12, 4, 6, cell="lstm").init_state(outputs, state, LENGTHS)     # GRU -> LSTM
    assert s.c.shape == (1, 3, 6) and np.all(s.c.data == 0)


def test_plain_context_is_the_top_layer_finals():
    encoder, outputs, state = encoded("gru")
    s = Decoder(12, 4, 7, encoder_hidden_size=10).init_state(outputs, state, LENGTHS)
    np.testing.assert_array_equal(s.context.data,
                                  np.concatenate([state.data[2], state.data[3]], axis=-1))
    assert s.attention is None and s.feed is None


# ---------------------------------------------------------------------------------- decoder
def test_bidirectional_decoder_is_refused():
    with pytest.raises(ValueError, match="reading right-to-left would see the future tokens "
                                         "it must predict"):
        Decoder(12, 4, 8, bidirectional=True)


def test_decoder_errors():
    with pytest.raises(ValueError, match="input_feeding .* needs a Luong-style attention"):
        Decoder(12, 4, 8, attention="bahdanau", input_feeding=True)
    with pytest.raises(ValueError, match="attention must be None, one of"):
        Decoder(12, 4, 8, attention="luong")
    with pytest.raises(ValueError, match=r"\(query_size, key_size\) = \(8, 8\), expected"):
        from rnn.attention import LuongAttention
        Decoder(12, 4, 8, attention=LuongAttention(8, 8), encoder_hidden_size=16)
    with pytest.raises(ValueError, match="cell must be one of"):
        Decoder(12, 4, 8, cell="transformer")
    with pytest.raises(ValueError, match="bridge must be one of"):
        Decoder(12, 4, 8, bridge="mean")
    with pytest.raises(ValueError, match="the encoder outputs 8 features"):
        Seq2Seq(Encoder(12, 4, 8), Decoder(12, 4, 8, encoder_hidden_size=16))
    model = make_model("bahdanau")
    with pytest.raises(ValueError, match="teacher_forcing must be in"):
        model(SRC, LENGTHS, TGT, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="at least <bos> and one more"):
        model(SRC, LENGTHS, TGT[:1])
    with pytest.raises(ValueError, match="y_prev has 2 tokens for a state of 3"):
        model.decoder(np.array([1, 1]), model.encode(SRC, LENGTHS))


def manual_logits(model, feed):
    """Runs the decoder step by step, ``feed(t, previous_logits)`` giving each input."""
    state = model.encode(SRC, LENGTHS)
    logits, previous = [], None
    for t in range(len(TGT) - 1):
        previous, state = model.decoder(feed(t, previous), state)
        logits.append(previous.data)
    return np.stack(logits)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c["attention"]))
def test_teacher_forcing_paths(config):
    model = make_model(**config)
    forced = model(SRC, LENGTHS, TGT, teacher_forcing=1.0)
    assert forced.shape == (4, 3, 12)
    np.testing.assert_array_equal(forced.data, manual_logits(model, lambda t, _: TGT[t]))

    free = model(SRC, LENGTHS, TGT, teacher_forcing=0.0)
    expected = manual_logits(model, lambda t, prev: TGT[0] if t == 0 else
                             prev.data.argmax(-1))
    np.testing.assert_array_equal(free.data, expected)

    # In between: a coin per token from minigrad's generator, so a seed repeats the run.
    mg.manual_seed(7)
    mixed = model(SRC, LENGTHS, TGT, teacher_forcing=0.5)
    mg.manual_seed(7)
    rng = mg.random.generator()
    expected = manual_logits(model, lambda t, prev: TGT[0] if t == 0 else
                             np.where(rng.random(3) < 0.5, TGT[t], prev.data.argmax(-1)))
    np.testing.assert_array_equal(mixed.data, expected)
    assert not np.array_equal(mixed.data, forced.data)        # it really mixes the two
    assert not np.array_equal(mixed.data, free.data)


def test_free_running_backward():
    """The fed-back argmax is a plain integer array: backward runs through the logits only."""
    model = make_model("bahdanau")
    loss = sequence_loss(model(SRC, LENGTHS, TGT, teacher_forcing=0.0), TGT, PAD)
    loss.backward()
    assert all(p.grad is not None and np.isfinite(p.grad.data).all()
               for p in model.parameters())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c["attention"]))
def test_attention_weights_over_the_target(config):
    model = make_model(**config)
    logits, weights = model(SRC, LENGTHS, TGT, return_attention=True)
    if config["attention"] is None:
        assert weights is None
        return
    assert weights.shape == (4, 3, 4)
    mask = np.arange(4)[None, :] < np.array(LENGTHS)[:, None]
    np.testing.assert_allclose(weights.data.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights.data[:, ~mask] == 0)


@pytest.mark.parametrize("config", [
    dict(attention=None, cell="gru"),
    dict(attention="bahdanau", cell="lstm"),
    dict(attention="luong-general", cell="gru", input_feeding=True, num_layers=2),
    dict(attention="luong-concat", cell="rnn"),
], ids=lambda c: f"{c['attention']}-{c['cell']}")
def test_decoder_gradcheck(config):
    """float64 central differences through bridge, attention, recurrence and output layer."""
    mg.manual_seed(3)
    decoder = Decoder(7, 3, 4, config.get("num_layers", 1), cell=config["cell"],
                      attention=config["attention"], encoder_hidden_size=4,
                      input_feeding=config.get("input_feeding", False)).double()
    rng = np.random.default_rng(0)
    lengths = [3, 2]
    enc_outputs = rng.standard_normal((3, 2, 4))
    enc_outputs[2, 1] = 0.0
    enc_h = rng.standard_normal((2, 2, 2))        # a bidirectional encoder's finals, H_e = 2
    inputs = [mg.tensor(enc_outputs, requires_grad=True), mg.tensor(enc_h, requires_grad=True)]
    if config["cell"] == "lstm":
        inputs.append(mg.tensor(rng.standard_normal((2, 2, 2)), requires_grad=True))

    def run(outputs, h, c=None):
        state = decoder.init_state(outputs, h if c is None else (h, c), lengths)
        logits = []
        for tokens in ([1, 1], [4, 5], [6, 3]):
            step, state = decoder(np.array(tokens), state)
            logits.append(step)
        return mg.stack(logits)

    mg.gradcheck(run, inputs)


def test_bahdanau_projects_the_keys_once_per_batch():
    """W_k k is computed in init_state, not at each of the L_tgt - 1 steps: one graph node
    reads W_k, and the loss and every gradient equal those of projecting at every step."""
    results = []
    for once in (True, False):
        model = make_model("bahdanau", cell="lstm", bidirectional=True).double()
        attention = model.decoder.attention
        if not once:                                         # the state carries none
            model.decoder.init_state = lambda *args, original=model.decoder.init_state: \
                dataclasses.replace(original(*args), projected_keys=None)
        loss = sequence_loss(model(SRC, LENGTHS, TGT), TGT, PAD)
        readers, stack, seen = 0, [loss.grad_fn], set()
        while stack:
            node = stack.pop()
            readers += any(t is attention.key_proj.weight for t in node.inputs)
            for t in node.inputs:
                if t.grad_fn is not None and t.grad_fn not in seen:
                    seen.add(t.grad_fn)
                    stack.append(t.grad_fn)
        assert readers == (1 if once else len(TGT) - 1)
        loss.backward()
        results.append([loss.data] + [p.grad.data for p in model.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_attention_subclasses_with_the_older_signatures_still_work():
    """Subclasses written before ``projected_keys`` existed (a two-argument ``score``, a
    ``forward(query, keys, mask)``): the decoder then projects the keys at every step, with
    the same numbers as before."""
    from rnn.attention import BahdanauAttention, LuongAttention

    class TwiceLuong(LuongAttention):
        def score(self, query, keys):
            return super().score(query, keys) * 2

    class PlainScore(BahdanauAttention):
        def score(self, query, keys):
            return super().score(query, keys)

    class Recording(BahdanauAttention):
        def forward(self, query, keys, mask=None):
            self.last = super().forward(query, keys, mask)
            return self.last

    reference = make_model("bahdanau", seed=4)
    want = reference(SRC, LENGTHS, TGT).data
    for kind in (PlainScore, Recording):
        model = make_model("bahdanau", seed=4)
        attention = kind(model.decoder.hidden_size, model.decoder.encoder_hidden_size)
        attention.load_state_dict(model.decoder.attention.state_dict())
        model.decoder.attention = attention
        np.testing.assert_allclose(model(SRC, LENGTHS, TGT).data, want, rtol=1e-6, atol=1e-6)
        decoded = greedy_decode(model, SRC, LENGTHS, max_len=4, bos=BOS, eos=EOS)
        assert decoded.tokens == greedy_decode(reference, SRC, LENGTHS, max_len=4, bos=BOS,
                                               eos=EOS).tokens
    model = make_model("luong-dot")
    model.decoder.attention = TwiceLuong(8, 8, score="dot")
    logits = model(SRC, LENGTHS, TGT)
    sequence_loss(logits, TGT, PAD).backward()
    assert np.isfinite(logits.data).all()


# ---------------------------------------------------------------------------------- state
def test_reorder_state():
    state = DecoderState(h=mg.arange(12).reshape(2, 3, 2), c=None,
                         enc_outputs=mg.arange(6).reshape(3, 2, 1),
                         mask=np.array([[True, True], [True, False], [True, False]]),
                         context=None, attention=None, feed=mg.arange(3).reshape(3, 1),
                         projected_keys=mg.arange(12).reshape(3, 2, 2))
    index = np.array([2, 2, 0])
    new = reorder_state(state, index)
    np.testing.assert_array_equal(new.projected_keys.data, state.projected_keys.data[index])
    np.testing.assert_array_equal(new.h.data, state.h.data[:, index])       # batch dim 1
    np.testing.assert_array_equal(new.enc_outputs.data, state.enc_outputs.data[index])
    np.testing.assert_array_equal(new.mask, state.mask[index])
    np.testing.assert_array_equal(new.feed.data, [[2], [2], [0]])
    assert new.c is None and state.h.shape == (2, 3, 2)                   # input unchanged
    nested = reorder_state({"a": (np.arange(3), [mg.arange(3)]), "b": None, "n": 5}, [1])
    assert nested["a"][0].tolist() == [1] and nested["a"][1][0].tolist() == [1]
    assert nested["b"] is None and nested["n"] == 5
    assert reorder_state(np.arange(6).reshape(2, 3), [0, 0], dim=1).tolist() == [[0, 0],
                                                                                 [3, 3]]


def test_sequence_loss_ignores_padding():
    model = make_model("luong-dot")
    logits = model(SRC, LENGTHS, TGT)
    rows, targets = logits.data.reshape(-1, 12), TGT[1:].reshape(-1)
    log_probs = rows - np.log(np.exp(rows).sum(-1, keepdims=True))
    real = targets != PAD
    expected = -log_probs[np.arange(len(targets)), targets][real].mean()
    np.testing.assert_allclose(sequence_loss(logits, TGT, PAD).item(), expected, rtol=1e-5)
    per_token = sequence_loss(logits, TGT, PAD, reduction="none")
    assert per_token.shape == (4, 3) and np.all(per_token.data[TGT[1:] == PAD] == 0)


# ---------------------------------------------------------------------------------- checkpoint
@pytest.mark.parametrize("config", CONFIGS[1:3], ids=lambda c: str(c["attention"]))
def test_checkpoint_round_trip(tmp_path, config):
    model = make_model(**config, dropout=0.2, seed=0).eval()
    path = tmp_path / "seq2seq.npz"
    mg.save({"model": model.state_dict(), "meta": {"pad": PAD}}, path)
    other = make_model(**config, dropout=0.2, seed=1).eval()
    assert not np.array_equal(other(SRC, LENGTHS, TGT).data, model(SRC, LENGTHS, TGT).data)
    checkpoint = mg.load(path)
    other.load_state_dict(checkpoint["model"])
    np.testing.assert_array_equal(other(SRC, LENGTHS, TGT).data, model(SRC, LENGTHS, TGT).data)
    assert greedy_decode(other, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS).tokens == \
        greedy_decode(model, SRC, LENGTHS, max_len=6, bos=BOS, eos=EOS).tokens


# ---------------------------------------------------------------------------------- training
def test_overfits_reversal_pairs():
    """Six reversal pairs, Adam: the model must learn them exactly (greedy decoding)."""
    rng = np.random.default_rng(0)
    sources = [list(rng.integers(3, 10, size=n)) for n in (3, 4, 5, 3, 5, 4)]
    lengths = [len(s) for s in sources]
    src = np.zeros((max(lengths), len(sources)), dtype=np.int64)
    tgt = np.zeros((max(lengths) + 2, len(sources)), dtype=np.int64)
    for i, s in enumerate(sources):
        src[:len(s), i] = s
        tgt[:len(s) + 2, i] = [BOS, *s[::-1], EOS]

    mg.manual_seed(0)
    encoder = Encoder(10, 16, 16, bidirectional=True)
    model = Seq2Seq(encoder, Decoder(10, 16, 32, attention="bahdanau", encoder_hidden_size=32))
    optimizer = mg.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        optimizer.zero_grad()
        loss = sequence_loss(model(src, lengths, tgt), tgt, PAD)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    tokens, scores, attention = greedy_decode(model, src, lengths, max_len=8, bos=BOS, eos=EOS)
    assert tokens == [[*s[::-1], EOS] for s in sources]
    assert np.all(scores > -1.0)


# ---------------------------------------------------------------------------------- schedules
def test_schedule_values():
    assert linear(0, steps=10) == 1.0
    assert linear(5, steps=10) == 0.5
    assert linear(10, steps=10) == 0.0 and linear(100, steps=10) == 0.0
    assert linear(2, start=0.9, end=0.1, steps=4) == pytest.approx(0.5)
    assert exponential(0, 0.9) == 1.0
    assert exponential(3, 0.5) == 0.125
    assert exponential(10, 0.99) == pytest.approx(0.99 ** 10)
    assert inverse_sigmoid(0, 10) == pytest.approx(10 / 11)
    assert inverse_sigmoid(100, 10) == pytest.approx(10 / (10 + math.exp(10)))
    assert inverse_sigmoid(10 * math.log(10), 10) == pytest.approx(0.5)   # midpoint k ln k
    assert inverse_sigmoid(10 ** 6, 1) == 0.0                             # no overflow
    assert constant(123) == 1.0 and constant(5, value=0.25) == 0.25
    for name, params in [("linear", {"steps": 50}), ("exponential", {"k": 0.95}),
                         ("inverse_sigmoid", {"k": 5})]:
        values = [get_schedule(name, **params)(i) for i in range(0, 200, 10)]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # non-increasing


def test_schedule_registry_and_parsing():
    assert set(SCHEDULES) == {"constant", "linear", "exponential", "inverse_sigmoid"}
    schedule = parse_schedule("linear:steps=1000,end=0.25")
    assert (schedule(0), schedule(500), schedule(5000)) == (1.0, 0.625, 0.25)
    assert parse_schedule("inverse_sigmoid:k=100")(0) == pytest.approx(100 / 101)
    assert parse_schedule("constant")(9) == 1.0
    assert get_schedule("exponential", k=0.5)(3) == 0.125
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        get_schedule("cosine")
    with pytest.raises(TypeError, match="schedule 'linear'.*steps"):
        get_schedule("linear")                       # checked when made, not at step 0
    with pytest.raises(ValueError, match="k must be in"):
        get_schedule("exponential", k=1.5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        inverse_sigmoid(3, 0.5)
    with pytest.raises(ValueError, match="expected key=value"):
        parse_schedule("linear:1000")
    with pytest.raises(ValueError, match="must be a number"):
        parse_schedule("exponential:k=fast")
    with pytest.raises(ValueError, match="step must be >= 0"):
        linear(-1, steps=3)
