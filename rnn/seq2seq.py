"""Sequence to sequence: an encoder reads the source, a decoder writes the target token by token.

The contract is d2l's::

    enc_outputs, enc_state = encoder(src, src_lengths)
    state = decoder.init_state(enc_outputs, enc_state, src_lengths)
    for t in ...:
        logits, state = decoder(y_prev, state)        # one step: (N,) ids -> (N, V) scores

``Seq2Seq`` runs that loop for training (with teacher forcing and scheduled sampling);
``rnn.decoding`` runs it for greedy search, sampling and beam search.

Conventions:

- **Time-major**, like the recurrent layers' default: src (L_src, N), tgt (L_tgt, N), logits
  (L_tgt - 1, N, V). Inside the decoder state the encoder outputs are kept batch first
  (N, L_src, H_enc), the layout attention multiplies in.
- **Teacher forcing per token** (Bengio et al. 2015): at every step, for every sentence, the
  next input is the ground-truth token with probability ``teacher_forcing``, else the model's
  own argmax (detached). The coins come from ``minigrad.random.generator()`` (so
  ``minigrad.manual_seed`` repeats a run); none are drawn when the ratio is 0 or 1.
- **Scopes** for the graph renderer: ``encoder``, ``bridge``, ``decoder/t=<t>`` (with
  ``attention`` inside each step), around the recurrent layers' own ``l<k>`` labels.
- **Bridge** from the encoder's final states to the decoder's initial ones (``bridge=``):
  ``"linear"`` (default) h_0 = tanh(W_b [h_fwd; h_bwd] + b_b), the forward and backward finals
  of each encoder layer concatenated (just h_fwd for a one-way encoder); an LSTM's c_0 gets its
  own Linear, without tanh (zeros when the encoder has no cell state). ``"sum"`` adds the two
  directions (needs equal hidden sizes), ``"copy"`` takes a one-way encoder's states as they
  are (d2l's model), ``"zeros"`` starts from zeros. With as many encoder as decoder layers,
  layer k starts from encoder layer k; otherwise every decoder layer starts from the
  encoder's top layer.

Shape legend: N batch, L_src / L_tgt source / target length, V vocabulary, E embedding size,
H decoder hidden size, H_enc = D * H_e the encoder output size (D = 2 if bidirectional).
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor, nn
from rnn.attention import BahdanauAttention, LuongAttention, lengths_to_mask
from rnn.layers import GRU, LSTM, RNN
from rnn.packing import pack_padded_sequence, pad_packed_sequence

__all__ = ["ATTENTIONS", "BRIDGES", "Decoder", "DecoderState", "Encoder", "Seq2Seq",
           "reorder_state", "sequence_loss"]

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
BRIDGES = ("linear", "sum", "copy", "zeros")
#: attention= names accepted by Decoder, and the module each builds.
ATTENTIONS = {
    "bahdanau": lambda q, k: BahdanauAttention(q, k),
    "luong-dot": lambda q, k: LuongAttention(q, k, score="dot"),
    "luong-general": lambda q, k: LuongAttention(q, k, score="general"),
    "luong-concat": lambda q, k: LuongAttention(q, k, score="concat"),
}


def _check_cell(cell: str, owner: str) -> type:
    if cell not in CELLS:
        raise ValueError(f"{owner}: cell must be one of {tuple(CELLS)}, got {cell!r}")
    return CELLS[cell]


def _as_ids(tokens: Any, ndim: int, what: str) -> np.ndarray:
    """Token ids as an int64 numpy array of rank ``ndim`` (from a Tensor, array or list)."""
    array = np.asarray(tokens.data if isinstance(tokens, Tensor) else tokens)
    if array.ndim != ndim or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(f"{what} must be integer token ids of rank {ndim}, got shape "
                         f"{array.shape} and dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _takes_projected_keys(attention: Any) -> bool:
    """Whether an attention module can take its keys projected once per batch: it has
    ``project_keys``, and neither its ``forward`` nor its ``score`` predates the
    ``projected_keys`` argument. (A subclass written against the older signatures still
    works: it projects the keys at every step, as before.)"""
    if getattr(attention, "project_keys", None) is None:
        return False
    methods = [getattr(attention, name, None) for name in ("forward", "score")]
    return all(method is None or "projected_keys" in inspect.signature(method).parameters
               for method in methods)


# ---------------------------------------------------------------------------------------------
# Decoder state and reordering.


def _batch_dim(dim: int) -> Any:
    return field(metadata={"batch_dim": dim})


@dataclass
class DecoderState:
    """Everything the decoder carries from one step to the next.

    Attributes (shapes; the batch axis of each is recorded in its field's ``batch_dim``):
        h: (num_layers, N, H) the hidden state of each layer (the layers' layout).
        c: (num_layers, N, H) the LSTM cell state; None for GRU and RNN.
        enc_outputs: (N, L_src, H_enc) the encoder outputs, batch first (keys and values of
            attention); zero at padded positions.
        mask: (N, L_src) bool numpy array, True at real source tokens.
        context: (N, H_enc) the fixed context vector of the model without attention (the
            encoder's top-layer final states, both directions concatenated); None otherwise.
        attention: (N, L_src) the attention weights of the last step; None before the first
            step and without attention.
        feed: (N, H) Luong's attentional vector of the last step, fed back with the next
            input when ``input_feeding``; None otherwise.
        projected_keys: (N, L_src, ·) the attention's ``project_keys(enc_outputs)`` (W_k k
            for Bahdanau), computed once in ``init_state`` rather than at every step; None
            when the attention has none. Replacing ``enc_outputs`` by hand means replacing
            (or setting to None) this too: a same-shaped stale projection cannot be detected.
    """

    h: Tensor = _batch_dim(1)
    c: Tensor | None = _batch_dim(1)
    enc_outputs: Tensor = _batch_dim(0)
    mask: np.ndarray = _batch_dim(0)
    context: Tensor | None = _batch_dim(0)
    attention: Tensor | None = _batch_dim(0)
    feed: Tensor | None = _batch_dim(0)
    projected_keys: Tensor | None = field(default=None, metadata={"batch_dim": 0})


def reorder_state(state: Any, index: Any, dim: int = 0) -> Any:
    """Selects (and reorders, or repeats) the batch rows of any decoder state.

    Beam search uses it to follow the chosen beams (``index[i]`` = the row that row ``i`` of
    the result comes from), to repeat each sentence ``beam_size`` times
    (``np.repeat(np.arange(N), beam_size)``) and to drop finished sentences.

    Works on tensors and numpy arrays (rows taken along ``dim``), None, and tuples, lists and
    dicts of those nested to any depth (batch axis ``dim``); a dataclass (such as
    ``DecoderState``) is rebuilt field by field, each along the axis in its field's
    ``metadata["batch_dim"]`` (``dim`` when absent). Other values (ints, strings) are kept.

    Shape:
        - index: (B',) int, rows of the current batch B
        - Output: the same structure with B' rows
    """
    index = np.asarray(index.data if isinstance(index, Tensor) else index, dtype=np.int64)
    if state is None:
        return None
    if isinstance(state, (Tensor, np.ndarray)):
        return state[(slice(None),) * dim + (index,)]
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return dataclasses.replace(state, **{
            f.name: reorder_state(getattr(state, f.name), index, f.metadata.get("batch_dim", dim))
            for f in dataclasses.fields(state)})
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index, dim) for s in state)
    if isinstance(state, dict):
        return {k: reorder_state(v, index, dim) for k, v in state.items()}
    return state


# ---------------------------------------------------------------------------------------------
# Encoder.


class Encoder(nn.Module):
    """Embedding and a recurrent stack over the source, packed by length.

    Padding costs nothing and never reaches the final states: the embedded batch is packed
    with ``pack_padded_sequence(..., enforce_sorted=False)``, run, and unpacked.

    Args:
        vocab_size: V_src. embed_size: E. hidden_size: H_e per direction.
        num_layers: stacked recurrent layers.
        cell: "gru" (default), "lstm" or "rnn".
        bidirectional: read the source both ways (D = 2); outputs concatenate both.
        dropout: on the embeddings, and between stacked layers.
        padding_idx: the source padding token (its embedding stays zero).

    Shape:
        - src: (L_src, N) int token ids (time-major).
        - src_lengths: (N,) each sentence's length, in [1, L_src]; None = all L_src.
        - Output: ``(enc_outputs, state)``: enc_outputs (L_src, N, D * H_e), zero at padding;
          state h_n (num_layers * D, N, H_e) (layer-major, forward direction first), or
          ``(h_n, c_n)`` for LSTM, each sentence's state at its own last token.

    Attributes:
        output_size: D * H_e, the width of enc_outputs (the decoder's ``encoder_hidden_size``).

    Example:
        >>> encoder = Encoder(100, 16, 32, bidirectional=True)
        >>> outputs, h_n = encoder(np.array([[5, 6], [7, 0]]), [2, 1])  # (2, 2, 64), (2, 2, 32)
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 *, cell: str = "gru", bidirectional: bool = False, dropout: float = 0.0,
                 padding_idx: int | None = 0) -> None:
        super().__init__()
        layer = _check_cell(cell, "Encoder")
        self.cell, self.bidirectional = cell, bool(bidirectional)
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * hidden_size
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.rnn = layer(embed_size, hidden_size, num_layers, bidirectional=bidirectional,
                         dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, src: Any, src_lengths: Any = None) -> tuple[Tensor, Any]:
        src = _as_ids(src, 2, "Encoder: src (L_src, N)")
        length, batch = src.shape
        if src_lengths is None:
            src_lengths = np.full(batch, length, dtype=np.int64)
        embedded = self.dropout(self.embedding(src))                    # (L, N, E)
        packed = pack_padded_sequence(embedded, src_lengths, enforce_sorted=False)
        output, state = self.rnn(packed)
        enc_outputs, _ = pad_packed_sequence(output, total_length=length)
        return enc_outputs, state


# ---------------------------------------------------------------------------------------------
# Decoder.


class Decoder(nn.Module):
    """A recurrent decoder, one token per call, with or without attention.

    One step, by kind of attention (x the embedded previous token, [a; b] concatenation)::

        none       input = [x; context]  (context fixed: the encoder's final states)
                   h_t = RNN(input, h_{t-1});                  logits = W_out h_t
        bahdanau   c_t, a_t = attention(h_{t-1}, enc_outputs)  (query before the step)
                   h_t = RNN([x; c_t], h_{t-1});               logits = W_out h_t
        luong-*    h_t = RNN(x, h_{t-1})    ([x; h~_{t-1}] with input_feeding)
                   c_t, a_t = attention(h_t, enc_outputs)      (query after the step)
                   h~_t = tanh(W_c [c_t; h_t]);                logits = W_out h~_t

    ``h_{t-1}`` as query means the top layer's state. Dropout applies to the embeddings, between
    stacked layers, and before W_out.

    Args:
        vocab_size: V_tgt. embed_size: E. hidden_size: H. num_layers: stacked layers.
        cell: "gru" (default), "lstm" or "rnn".
        attention: None (the plain context-vector model, whose single vector is the
            information bottleneck attention removes), "bahdanau", "luong-dot",
            "luong-general", "luong-concat", or an attention module (its ``query_size`` must
            be H, its ``key_size`` H_enc, and its ``query_time`` says where it is queried).
        encoder_hidden_size: H_enc = D * H_e, the width of the encoder outputs (default H).
        bidirectional: refused; it exists to say why (see the error).
        input_feeding: Luong's input feeding (needs a Luong-style attention).
        bridge: how the initial state comes from the encoder's: "linear" (default), "sum",
            "copy" or "zeros" (see the module docstring).
        dropout: dropout probability (see above).
        padding_idx: the target padding token (its embedding stays zero).

    Shape:
        - y_prev: (N,) int token ids (the previous target token; <bos> at the first step).
        - state: a ``DecoderState`` for N sentences (from ``init_state``).
        - Output: ``(logits, state)``, logits (N, V_tgt), unnormalised.

    Example:
        >>> decoder = Decoder(100, 16, 32, attention="bahdanau", encoder_hidden_size=64)
        >>> state = decoder.init_state(enc_outputs, enc_state, src_lengths)
        >>> logits, state = decoder(np.array([1, 1]), state)     # (2, 100)
    """

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 *, cell: str = "gru", attention: Any = None,
                 encoder_hidden_size: int | None = None, bidirectional: bool = False,
                 input_feeding: bool = False, bridge: str = "linear", dropout: float = 0.0,
                 padding_idx: int | None = 0) -> None:
        super().__init__()
        if bidirectional:
            raise ValueError(
                "Decoder: bidirectional=True is refused: a decoder reading right-to-left would "
                "see the future tokens it must predict (during training it would read the "
                "answer; at generation time those tokens do not exist yet). Make the Encoder "
                "bidirectional instead.")
        layer = _check_cell(cell, "Decoder")
        if bridge not in BRIDGES:
            raise ValueError(f"Decoder: bridge must be one of {BRIDGES}, got {bridge!r}")
        self.cell, self.bridge = cell, bridge
        self.vocab_size, self.hidden_size, self.num_layers = vocab_size, hidden_size, num_layers
        self.encoder_hidden_size = hidden_size if encoder_hidden_size is None \
            else int(encoder_hidden_size)
        enc_size = self.encoder_hidden_size

        if isinstance(attention, str):
            if attention not in ATTENTIONS:
                raise ValueError(f"Decoder: attention must be None, one of "
                                 f"{tuple(ATTENTIONS)} or an attention module, got "
                                 f"{attention!r}")
            attention = ATTENTIONS[attention](hidden_size, enc_size)
        elif attention is not None:
            if not isinstance(attention, nn.Module):
                raise TypeError(f"Decoder: attention must be None, a name or a Module, got "
                                f"{type(attention).__name__}")
            sizes = (getattr(attention, "query_size", None), getattr(attention, "key_size", None))
            if sizes != (hidden_size, enc_size):
                raise ValueError(f"Decoder: the attention module has (query_size, key_size) = "
                                 f"{sizes}, expected ({hidden_size}, {enc_size}) (H, H_enc)")
        self.attention = attention
        self.query_time = None if attention is None else getattr(attention, "query_time",
                                                                 "previous")
        if input_feeding and self.query_time != "current":
            raise ValueError("Decoder: input_feeding feeds back Luong's attentional vector "
                             "h~_t; it needs a Luong-style attention (query_time 'current'), "
                             f"got attention={attention!r}")
        self.input_feeding = bool(input_feeding)

        if self.query_time == "current":
            rnn_input = embed_size + (hidden_size if input_feeding else 0)
            self.combine = nn.Linear(enc_size + hidden_size, hidden_size, bias=False)
        else:  # no attention (fixed context) or Bahdanau (fresh context): both in the input
            rnn_input = embed_size + enc_size
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=padding_idx)
        self.dropout = nn.Dropout(dropout)
        self.rnn = layer(rnn_input, hidden_size, num_layers,
                         dropout=dropout if num_layers > 1 else 0.0)
        if bridge == "linear":
            self.bridge_h = nn.Linear(enc_size, hidden_size)
            if cell == "lstm":
                self.bridge_c = nn.Linear(enc_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    # ------------------------------------------------------------------ state
    def init_state(self, enc_outputs: Tensor, enc_state: Any,
                   src_lengths: Any = None) -> DecoderState:
        """The decoder's state before its first step.

        Args:
            enc_outputs: the encoder outputs, time-major as the encoder returns them.
            enc_state: the encoder's final state, h_n or ``(h_n, c_n)``.
            src_lengths: each source sentence's length (None = all L_src).

        Shape:
            - enc_outputs: (L_src, N, H_enc)
            - enc_state: (num_layers_enc * D, N, H_e), H_enc = D * H_e
            - src_lengths: (N,)
            - Output: a ``DecoderState`` (h: (num_layers, N, H), enc_outputs transposed to
              (N, L_src, H_enc), mask (N, L_src)).
        """
        length, batch, enc_size = enc_outputs.shape
        if enc_size != self.encoder_hidden_size:
            raise ValueError(f"Decoder.init_state: encoder outputs have {enc_size} features, "
                             f"but the decoder was built with encoder_hidden_size="
                             f"{self.encoder_hidden_size}")
        enc_h, enc_c = enc_state if isinstance(enc_state, (tuple, list)) else (enc_state, None)
        h_finals = self._finals(enc_h, batch)
        c_finals = None if enc_c is None else self._finals(enc_c, batch)

        zeros = mg.zeros(self.num_layers, batch, self.hidden_size, dtype=enc_outputs.dtype)
        h = self._bridge(h_finals, "h") if self.bridge != "zeros" else zeros
        c = None
        if self.cell == "lstm":
            c = zeros if c_finals is None or self.bridge == "zeros" else \
                self._bridge(c_finals, "c")

        lengths = np.full(batch, length) if src_lengths is None else src_lengths
        mask = lengths_to_mask(lengths, length)
        keys = enc_outputs.transpose(0, 1)
        projected_keys = None
        if _takes_projected_keys(self.attention):
            with mg.scope("attention"):
                projected_keys = self.attention.project_keys(keys)
        return DecoderState(
            h=h, c=c, enc_outputs=keys, mask=mask, projected_keys=projected_keys,
            context=None if self.attention is not None else h_finals[-1].reshape(batch, -1),
            attention=None,
            feed=(mg.zeros(batch, self.hidden_size, dtype=enc_outputs.dtype)
                  if self.input_feeding else None))

    def _finals(self, enc_h: Tensor, batch: int) -> Tensor:
        """Encoder finals (layers_enc * D, N, H_e) -> one per decoder layer (layers, N, D, H_e)."""
        per_direction = enc_h.shape[-1]
        directions = self.encoder_hidden_size // per_direction
        if directions * per_direction != self.encoder_hidden_size or directions not in (1, 2) \
                or enc_h.shape[0] % directions or enc_h.shape[1] != batch:
            raise ValueError(f"Decoder.init_state: encoder state of shape {enc_h.shape} does "
                             f"not fit encoder outputs of {self.encoder_hidden_size} features "
                             f"and batch {batch}")
        layers = enc_h.shape[0] // directions
        finals = enc_h.reshape(layers, directions, batch, per_direction).transpose(1, 2)
        if layers != self.num_layers:  # every decoder layer starts from the top encoder layer
            finals = finals[-1:].expand(self.num_layers, batch, directions, per_direction)
        return finals

    def _bridge(self, finals: Tensor, which: str) -> Tensor:
        layers, batch, directions, per_direction = finals.shape
        if self.bridge == "linear":
            joined = finals.reshape(layers, batch, directions * per_direction)
            return self.bridge_h(joined).tanh() if which == "h" else self.bridge_c(joined)
        if per_direction != self.hidden_size or (self.bridge == "copy" and directions != 1):
            raise ValueError(
                f"Decoder: bridge={self.bridge!r} needs encoder states of the decoder's hidden "
                f"size {self.hidden_size}" + (" from a one-way encoder" if self.bridge == "copy"
                                               else "") +
                f", got {directions} direction(s) of size {per_direction}; use bridge='linear'")
        return finals.sum(2)

    # ------------------------------------------------------------------ one step
    def forward(self, y_prev: Any, state: DecoderState) -> tuple[Tensor, DecoderState]:
        y_prev = _as_ids(y_prev, 1, "Decoder: y_prev (N,)")
        if len(y_prev) != state.h.shape[1]:
            raise ValueError(f"Decoder: y_prev has {len(y_prev)} tokens for a state of "
                             f"{state.h.shape[1]} sentences")
        x = self.dropout(self.embedding(y_prev))                              # (N, E)
        context = weights = None
        if self.attention is None:
            x = mg.cat([x, state.context], dim=-1)
        elif self.query_time == "previous":
            with mg.scope("attention"):
                context, weights = self._attend(state.h[-1], state)
            x = mg.cat([x, context], dim=-1)
        elif self.input_feeding:
            x = mg.cat([x, state.feed], dim=-1)

        hx = state.h if state.c is None else (state.h, state.c)
        output, hx = self.rnn(x.unsqueeze(0), hx)
        h, c = hx if state.c is not None else (hx, None)
        top = output[0]                                                       # (N, H)

        feed = None
        if self.query_time == "current":
            with mg.scope("attention"):
                context, weights = self._attend(top, state)
            top = self.combine(mg.cat([context, top], dim=-1)).tanh()         # h~_t
            feed = top if self.input_feeding else None
        logits = self.out(self.dropout(top))
        return logits, dataclasses.replace(state, h=h, c=c, attention=weights, feed=feed)

    def _attend(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        if state.projected_keys is None:  # e.g. an attention module of the user's own
            return self.attention(query, state.enc_outputs, state.mask)
        return self.attention(query, state.enc_outputs, state.mask,
                              projected_keys=state.projected_keys)


# ---------------------------------------------------------------------------------------------
# The whole model.


class Seq2Seq(nn.Module):
    """Encoder and decoder together, trained with teacher forcing.

    Args:
        encoder: an ``Encoder`` (its ``output_size`` must be the decoder's
            ``encoder_hidden_size``).
        decoder: a ``Decoder``.

    Shape (time-major):
        - src: (L_src, N) int; src_lengths: (N,) or None.
        - tgt: (L_tgt, N) int, each column ``<bos> y_1 ... y_m <eos>`` then padding.
        - Output: logits (L_tgt - 1, N, V): row t predicts tgt[t + 1]. With
          ``return_attention``, also the weights (L_tgt - 1, N, L_src) (None without
          attention).

    Example:
        >>> model = Seq2Seq(Encoder(20, 8, 16), Decoder(20, 8, 16, attention="luong-dot"))
        >>> logits = model(src, src_lengths, tgt, teacher_forcing=0.75)
        >>> loss = sequence_loss(logits, tgt, pad=0)
    """

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        enc_size = getattr(encoder, "output_size", None)
        if enc_size is not None and enc_size != decoder.encoder_hidden_size:
            raise ValueError(f"Seq2Seq: the encoder outputs {enc_size} features but the "
                             f"decoder expects encoder_hidden_size="
                             f"{decoder.encoder_hidden_size}")
        self.encoder, self.decoder = encoder, decoder

    def encode(self, src: Any, src_lengths: Any = None) -> DecoderState:
        """Runs the encoder; returns the decoder's initial state for these N sentences."""
        with mg.scope("encoder"):
            enc_outputs, enc_state = self.encoder(src, src_lengths)
        with mg.scope("bridge"):
            return self.decoder.init_state(enc_outputs, enc_state, src_lengths)

    def forward(self, src: Any, src_lengths: Any, tgt: Any, teacher_forcing: float = 1.0, *,
                return_attention: bool = False) -> Any:
        """Logits for every target position; see the class docstring for shapes.

        Args:
            teacher_forcing: probability that the next input is the ground-truth token (per
                token, per sentence) rather than the model's own detached argmax. 1.0 is plain
                teacher forcing; 0.0 feeds the model its own predictions (as at test time);
                scheduled sampling lowers it during training (``rnn.schedules``).
            return_attention: also return the attention weights of every step.
        """
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"Seq2Seq: teacher_forcing must be in [0, 1], got "
                             f"{teacher_forcing}")
        tgt = _as_ids(tgt, 2, "Seq2Seq: tgt (L_tgt, N)")
        if tgt.shape[0] < 2:
            raise ValueError(f"Seq2Seq: tgt needs at least <bos> and one more token, got "
                             f"shape {tgt.shape}")
        state = self.encode(src, src_lengths)
        if state.h.shape[1] != tgt.shape[1]:
            raise ValueError(f"Seq2Seq: src has {state.h.shape[1]} sentences but tgt has "
                             f"{tgt.shape[1]}")
        rng = mg.random.generator()
        logits, weights, tokens = [], [], tgt[0]
        for t in range(tgt.shape[0] - 1):
            if t > 0 and teacher_forcing < 1.0:
                predicted = logits[-1].data.argmax(-1)
                if teacher_forcing == 0.0:
                    tokens = predicted
                else:
                    tokens = np.where(rng.random(tgt.shape[1]) < teacher_forcing, tgt[t],
                                      predicted)
            elif t > 0:
                tokens = tgt[t]
            with mg.scope("decoder"), mg.scope(f"t={t}"):
                step_logits, state = self.decoder(tokens, state)
            logits.append(step_logits)
            weights.append(state.attention)
        logits = mg.stack(logits)
        if not return_attention:
            return logits
        return logits, None if weights[0] is None else mg.stack(weights)


def sequence_loss(logits: Tensor, tgt: Any, pad: int, *, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of ``Seq2Seq`` logits against the target shifted by one, ignoring padding.

    Shape:
        - logits: (L_tgt - 1, N, V); tgt: (L_tgt, N) with <bos> in row 0.
        - Output: a scalar (mean over the real target tokens), or (L_tgt - 1, N) with
          ``reduction="none"``.
    """
    tgt = _as_ids(tgt, 2, "sequence_loss: tgt (L_tgt, N)")
    steps, batch, vocab = logits.shape
    if tgt.shape != (steps + 1, batch):
        raise ValueError(f"sequence_loss: logits {logits.shape} need tgt of shape "
                         f"{(steps + 1, batch)}, got {tgt.shape}")
    loss = F.cross_entropy(logits.reshape(steps * batch, vocab), tgt[1:].reshape(-1),
                           ignore_index=pad, reduction=reduction,
                           label_smoothing=label_smoothing)
    return loss.reshape(steps, batch) if reduction == "none" else loss
