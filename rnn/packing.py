"""Variable-length batches without computing on padding: ``PackedSequence`` and its helpers.

A batch of sequences of different lengths is *packed* time step by time step: first the
first element of every sequence, then the second element of every sequence that has one, and
so on. With the sequences sorted longest first, step ``t`` is a contiguous block of
``batch_sizes[t]`` rows, and a recurrent layer simply lets its batch shrink as sequences end.

Example, three sequences ``a`` (3 steps), ``b`` (2), ``c`` (1)::

    padded (L=3, N=3)       packed data             batch_sizes
    t=0:  a0  b0  c0        a0 b0 c0 | a1 b1 | a2   [3, 2, 1]
    t=1:  a1  b1  .
    t=2:  a2  .   .

    >>> packed = pack_padded_sequence(padded, [3, 2, 1])
    >>> padded_again, lengths = pad_packed_sequence(packed)    # round trip

Every function here is differentiable: packing and unpacking are index ops of minigrad.
Shape legend: L longest length, N batch, * any feature dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

import minigrad as mg
from minigrad import Tensor


class PackedSequence(NamedTuple):
    """A packed batch (see the module docstring).

    Attributes:
        data: (sum of lengths, *) the packed rows, time step by time step.
        batch_sizes: (L,) int64, how many sequences are still running at each step.
        sorted_indices: (N,) int64 or None; ``sorted_indices[i]`` is the caller's index of
            the i-th longest sequence. None when the caller's batch was already sorted.
        unsorted_indices: (N,) int64 or None; the inverse permutation, back to the caller's
            order.
    """

    data: Tensor
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray | None = None
    unsorted_indices: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int64, each sequence's length, in the caller's order."""
        batch_sizes = np.asarray(self.batch_sizes, dtype=np.int64)  # a list works too
        sorted_lengths = (batch_sizes[None, :] > np.arange(batch_sizes[0])[:, None]).sum(axis=1)
        if self.sorted_indices is None:
            return sorted_lengths
        unsorted = (np.argsort(self.sorted_indices) if self.unsorted_indices is None
                    else np.asarray(self.unsorted_indices))
        return sorted_lengths[unsorted]


def _as_lengths(lengths: Any, batch: int, max_length: int) -> np.ndarray:
    """Validated lengths as an int64 array; errors name the offending batch index."""
    if isinstance(lengths, Tensor):
        lengths = lengths.data
    array = np.asarray(lengths)
    if array.ndim != 1:
        raise ValueError(f"lengths must be a 1-D sequence of ints, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise TypeError(f"lengths must be integers, got {array.tolist()}")
    array = array.astype(np.int64)
    if len(array) != batch:
        raise ValueError(f"got {len(array)} lengths for a batch of {batch} sequences")
    for i, n in enumerate(array):
        if n <= 0:
            raise ValueError(f"length of sequence {i} is {n}; every sequence needs at least "
                             "one step")
        if n > max_length:
            raise ValueError(f"length of sequence {i} is {n}, longer than the padded length "
                             f"{max_length}")
    return array


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    steps = np.arange(sorted_lengths[0])
    return (sorted_lengths[None, :] > steps[:, None]).sum(axis=1).astype(np.int64)


def _packed_rows(batch_sizes: np.ndarray, order: np.ndarray, batch: int) -> np.ndarray:
    """For each packed row, its row in the time-major padded batch viewed as (L*N, *)."""
    return np.concatenate([t * batch + order[:size] for t, size in enumerate(batch_sizes)])


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch.

    Args:
        input: (L, N, *), or (N, L, *) with ``batch_first``.
        lengths: (N,) each sequence's length (list, numpy array or Tensor), each in [1, L].
        batch_first: whether ``input`` is batch-major.
        enforce_sorted: require lengths sorted longest first (as for ONNX export); with
            False, any order is accepted and the permutation is kept in the result.

    Returns:
        A ``PackedSequence`` whose ``data`` is (sum(lengths), *).
    """
    if not isinstance(input, Tensor):
        input = mg.tensor(input)
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must be (L, N, *) or (N, L, *), got "
                         f"shape {input.shape}")
    if input.shape[0] == 0 or input.shape[1] == 0:
        raise ValueError(f"pack_padded_sequence: empty input of shape {input.shape}")
    if batch_first:
        input = input.transpose(0, 1)
    max_length, batch = input.shape[:2]
    lengths = _as_lengths(lengths, batch, max_length)
    if enforce_sorted:
        for i in range(1, batch):
            if lengths[i] > lengths[i - 1]:
                raise ValueError(
                    f"lengths must be sorted longest first with enforce_sorted=True, but "
                    f"sequence {i} (length {lengths[i]}) is longer than sequence {i - 1} "
                    f"(length {lengths[i - 1]}); pass enforce_sorted=False to pack any order")
        sorted_indices = unsorted_indices = None
        order = np.arange(batch)
    else:
        sorted_indices = np.argsort(-lengths, kind="stable").astype(np.int64)
        unsorted_indices = np.argsort(sorted_indices).astype(np.int64)
        order = sorted_indices
    batch_sizes = _batch_sizes(lengths[order])
    flat = input.reshape(max_length * batch, *input.shape[2:])
    data = flat[_packed_rows(batch_sizes, order, batch)]
    return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Unpacks to a padded batch in the caller's original order (inverse of packing).

    Args:
        sequence: a ``PackedSequence``.
        batch_first: return (N, L, *) instead of (L, N, *).
        padding_value: the value at positions past each sequence's end.
        total_length: pad to this length instead of the longest sequence's (must not be
            shorter), e.g. to match the input of a model that packs and unpacks.

    Returns:
        ``(padded, lengths)``: padded (L, N, *) (or (N, L, *)), lengths (N,) int64 tensor.
    """
    data, batch_sizes = sequence.data, np.asarray(sequence.batch_sizes)
    batch, steps = int(batch_sizes[0]), len(batch_sizes)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(f"total_length={total_length} is shorter than the longest "
                             f"sequence ({steps} steps)")
        steps = total_length
    order = (np.arange(batch) if sequence.sorted_indices is None
             else np.asarray(sequence.sorted_indices))
    # Each padded slot takes a packed row, or the extra padding row appended at the end.
    source = np.full(steps * batch, data.shape[0], dtype=np.int64)
    source[_packed_rows(batch_sizes, order, batch)] = np.arange(data.shape[0])
    pad_row = mg.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
    padded = mg.cat([data, pad_row])[source].reshape(steps, batch, *data.shape[1:])
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, Tensor(sequence.lengths)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stacks tensors of shapes (L_i, *) into (L, N, *) (or (N, L, *)), L the longest.

    ``padding_side="left"`` puts the padding before each sequence instead of after it.
    """
    if not sequences:
        raise ValueError("pad_sequence: expected a non-empty list of tensors")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    sequences = [s if isinstance(s, Tensor) else mg.tensor(s) for s in sequences]
    trailing = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ValueError(f"pad_sequence: sequence {i} has shape {s.shape}; every sequence "
                             f"must be (L_i, {', '.join(map(str, trailing))})")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            filler = mg.full((missing, *trailing), padding_value, dtype=s.dtype)
            s = mg.cat([s, filler] if padding_side == "right" else [filler, s])
        padded.append(s)
    return mg.stack(padded, dim=0 if batch_first else 1)


def unpad_sequence(padded: Tensor, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Splits a padded batch (L, N, *) (or (N, L, *)) into a list of (L_i, *) tensors."""
    if batch_first:
        padded = padded.transpose(0, 1)
    lengths = _as_lengths(lengths, padded.shape[1], padded.shape[0])
    return [padded[:n, i] for i, n in enumerate(lengths)]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of (L_i, *) tensors (longest first unless ``enforce_sorted=False``)."""
    lengths = [len(s) for s in sequences]
    _as_lengths(lengths, len(lengths), max(lengths, default=0))  # errors name the sequence
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed: PackedSequence) -> list[Tensor]:
    """The list of (L_i, *) tensors that ``pack_sequence`` packed, in the original order."""
    padded, lengths = pad_packed_sequence(packed)
    return unpad_sequence(padded, lengths)
