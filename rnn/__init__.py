"""rnn: recurrent networks on minigrad — cells, layers, packed sequences, truncated BPTT.

Shape legend everywhere: N batch, L length, D = 2 if bidirectional else 1, H_in input size,
H hidden size.
"""

from rnn import schedules, views
from rnn.attention import BahdanauAttention, LuongAttention, lengths_to_mask
from rnn.cells import GRUCell, LSTMCell, RNNCell
from rnn.decoding import Decoded, Hypothesis, beam_search, greedy_decode, sample
from rnn.gradflow import GradientFlow
from rnn.layers import GRU, LSTM, RNN
from rnn.packing import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)
from rnn.seq2seq import Decoder, DecoderState, Encoder, Seq2Seq, reorder_state, sequence_loss
from rnn.state import chunks, detach_state, truncated_bptt
from rnn.timeseries import Split, Windows, chronological_split, make_windows

__all__ = [
    "GRU", "LSTM", "RNN", "BahdanauAttention", "Decoded", "Decoder", "DecoderState", "Encoder",
    "GRUCell", "GradientFlow", "Hypothesis", "LSTMCell", "LuongAttention", "PackedSequence",
    "RNNCell", "Seq2Seq", "Split", "Windows", "beam_search", "chronological_split", "chunks",
    "detach_state", "greedy_decode", "lengths_to_mask", "make_windows", "pack_padded_sequence",
    "pack_sequence", "pad_packed_sequence", "pad_sequence", "reorder_state", "sample",
    "schedules", "sequence_loss", "truncated_bptt", "unpack_sequence", "unpad_sequence",
    "views",
]
