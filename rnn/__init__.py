"""rnn: recurrent networks on minigrad — cells, layers, packed sequences, truncated BPTT.

Shape legend everywhere: N batch, L length, D = 2 if bidirectional else 1, H_in input size,
H hidden size.
"""

from rnn.cells import GRUCell, LSTMCell, RNNCell
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
from rnn.state import chunks, detach_state, truncated_bptt

__all__ = [
    "GRU", "GRUCell", "GradientFlow", "LSTM", "LSTMCell", "PackedSequence", "RNN", "RNNCell",
    "chunks", "detach_state", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
    "pad_sequence", "truncated_bptt", "unpack_sequence", "unpad_sequence",
]
