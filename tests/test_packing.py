"""rnn.packing: the packed layout on a hand-made example, round trips of every helper,
gradients through packing, lengths in every form, every error, and random length lists.
Shape legend: L longest length, N batch, * feature dimensions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import rnn
from minigrad.gradcheck import gradcheck


def sequences(lengths, features=(2,), seed=0, dtype=np.float64, requires_grad=False):
    """One tensor (L_i, *features) per length, with distinct values."""
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.standard_normal((n, *features)).astype(dtype),
                      requires_grad=requires_grad) for n in lengths]


def padded_numpy(seqs, batch_first=False, value=0.0, total=None):
    """The reference padding, by hand."""
    longest = total or max(len(s.data) for s in seqs)
    out = np.full((longest, len(seqs), *seqs[0].shape[1:]), value)
    for i, s in enumerate(seqs):
        out[:len(s.data), i] = s.data
    return out.swapaxes(0, 1) if batch_first else out


def packed_numpy(seqs, order):
    """The reference packing: step by step, the sequences (in ``order``) that are running."""
    rows = []
    for t in range(max(len(s.data) for s in seqs)):
        rows += [seqs[i].data[t] for i in order if len(seqs[i].data) > t]
    return np.stack(rows)


# --------------------------------------------------------------------- the packed layout
def test_hand_made_example():
    """a (3 steps), b (2), c (1): packed a0 b0 c0 | a1 b1 | a2, batch_sizes [3, 2, 1]."""
    a, b, c = (mg.tensor([[10.0], [11.0], [12.0]]), mg.tensor([[20.0], [21.0]]),
               mg.tensor([[30.0]]))
    packed = rnn.pack_sequence([a, b, c])
    np.testing.assert_array_equal(packed.data.data[:, 0], [10, 20, 30, 11, 21, 12])
    np.testing.assert_array_equal(packed.batch_sizes, [3, 2, 1])
    assert packed.batch_sizes.dtype == np.int64
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    np.testing.assert_array_equal(packed.lengths, [3, 2, 1])

    padded = rnn.pad_sequence([a, b, c])
    np.testing.assert_array_equal(padded.data[:, :, 0], [[10, 20, 30], [11, 21, 0],
                                                         [12, 0, 0]])
    again = rnn.pack_padded_sequence(padded, [3, 2, 1])
    np.testing.assert_array_equal(again.data.data, packed.data.data)

    # any order with enforce_sorted=False: same data, the permutation kept
    shuffled = rnn.pack_sequence([b, a, c], enforce_sorted=False)
    np.testing.assert_array_equal(shuffled.data.data[:, 0], [10, 20, 30, 11, 21, 12])
    np.testing.assert_array_equal(shuffled.batch_sizes, [3, 2, 1])
    np.testing.assert_array_equal(shuffled.sorted_indices, [1, 0, 2])
    np.testing.assert_array_equal(shuffled.unsorted_indices, [1, 0, 2])
    np.testing.assert_array_equal(shuffled.lengths, [2, 3, 1])
    c_first = rnn.pack_sequence([c, b, a], enforce_sorted=False)
    np.testing.assert_array_equal(c_first.sorted_indices, [2, 1, 0])
    np.testing.assert_array_equal(c_first.unsorted_indices, [2, 1, 0])
    out = rnn.unpack_sequence(c_first)
    for got, want in zip(out, [c, b, a], strict=True):
        np.testing.assert_array_equal(got.data, want.data)


def test_packed_sequence_built_by_hand():
    """batch_sizes as a list and sorted_indices without unsorted_indices (PyTorch fills
    those in): lengths and unpacking still work, in the caller's order."""
    data = mg.tensor(np.arange(6.0)[:, None])  # rows: s0 s1 s2 | s0 s1 | s0 (sorted order)
    packed = rnn.PackedSequence(data, [3, 2, 1])
    np.testing.assert_array_equal(packed.lengths, [3, 2, 1])
    padded, lengths = rnn.pad_packed_sequence(packed)
    np.testing.assert_array_equal(padded.data[:, :, 0], [[0, 1, 2], [3, 4, 0], [5, 0, 0]])
    permuted = rnn.PackedSequence(data, [3, 2, 1], np.array([2, 0, 1]))
    np.testing.assert_array_equal(permuted.lengths, [2, 1, 3])
    pieces = rnn.unpack_sequence(permuted)
    assert [p.data[:, 0].tolist() for p in pieces] == [[1, 4], [2], [0, 3, 5]]


def test_ties_keep_the_callers_order():
    seqs = sequences([2, 3, 2, 3])
    packed = rnn.pack_sequence(seqs, enforce_sorted=False)
    np.testing.assert_array_equal(packed.sorted_indices, [1, 3, 0, 2])
    np.testing.assert_array_equal(packed.data.data, packed_numpy(seqs, [1, 3, 0, 2]))


# ------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_padded_and_pad_packed_round_trip(batch_first, enforce_sorted):
    lengths = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    seqs = sequences(lengths, features=(2, 3))
    padded = mg.tensor(padded_numpy(seqs, batch_first))
    packed = rnn.pack_padded_sequence(padded, lengths, batch_first=batch_first,
                                      enforce_sorted=enforce_sorted)
    order = np.argsort([-n for n in lengths], kind="stable")
    assert packed.data.shape == (sum(lengths), 2, 3)
    np.testing.assert_array_equal(packed.data.data, packed_numpy(seqs, order))
    np.testing.assert_array_equal(packed.lengths, lengths)
    for value in (0.0, -1.5):
        for total in (None, 7):
            out, out_lengths = rnn.pad_packed_sequence(packed, batch_first=batch_first,
                                                       padding_value=value,
                                                       total_length=total)
            np.testing.assert_array_equal(out.data,
                                          padded_numpy(seqs, batch_first, value, total))
            assert out.dtype == np.float64
            assert isinstance(out_lengths, mg.Tensor) and out_lengths.dtype == np.int64
            np.testing.assert_array_equal(out_lengths.data, lengths)


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack_sequence_round_trip(enforce_sorted):
    lengths = [4, 2, 2, 1] if enforce_sorted else [2, 4, 1, 2]
    seqs = sequences(lengths, features=())  # (L_i,) sequences of scalars
    packed = rnn.pack_sequence(seqs, enforce_sorted=enforce_sorted)
    assert packed.data.shape == (sum(lengths),)
    out = rnn.unpack_sequence(packed)
    assert len(out) == len(seqs)
    for got, want in zip(out, seqs, strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_and_unpad_sequence_round_trip(batch_first):
    seqs = sequences([3, 1, 4], features=(2,))
    padded = rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=7.0)
    assert padded.shape == ((3, 4, 2) if batch_first else (4, 3, 2))
    np.testing.assert_array_equal(padded.data, padded_numpy(seqs, batch_first, 7.0))
    for lengths in ([3, 1, 4], np.array([3, 1, 4]), mg.tensor([3, 1, 4])):
        out = rnn.unpad_sequence(padded, lengths, batch_first=batch_first)
        for got, want in zip(out, seqs, strict=True):
            np.testing.assert_array_equal(got.data, want.data)


@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_left(batch_first):
    seqs = sequences([3, 1, 4], features=(2,))
    padded = rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-1.0,
                              padding_side="left")
    data = padded.data.swapaxes(0, 1) if batch_first else padded.data
    assert data.shape == (4, 3, 2)
    for i, s in enumerate(seqs):
        n = len(s.data)
        np.testing.assert_array_equal(data[4 - n:, i], s.data)  # at the end
        assert np.all(data[:4 - n, i] == -1.0)  # padding before
    # the right-padded batch is the left-padded one with each column rolled
    right = rnn.pad_sequence(seqs, padding_value=-1.0).data
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(np.roll(right[:, i], 4 - len(s.data), axis=0),
                                      data[:, i])


def test_pad_sequence_dtypes_and_trailing_dimensions():
    ints = [mg.tensor([1, 2, 3]), mg.tensor([4])]
    padded = rnn.pad_sequence(ints, batch_first=True, padding_value=-1)
    assert padded.dtype == np.int64
    np.testing.assert_array_equal(padded.data, [[1, 2, 3], [4, -1, -1]])
    f32 = sequences([2, 1], features=(3, 2), dtype=np.float32)
    padded = rnn.pad_sequence(f32)
    assert padded.dtype == np.float32 and padded.shape == (2, 2, 3, 2)
    assert np.all(padded.data[1, 1] == 0)
    # numpy arrays are accepted as sequences
    padded = rnn.pad_sequence([np.ones((2, 1)), np.zeros((1, 1))])
    np.testing.assert_array_equal(padded.data[:, :, 0], [[1, 0], [1, 0]])


# --------------------------------------------------------------------------------- lengths
@pytest.mark.parametrize("lengths", [
    [4, 2, 1], (4, 2, 1), np.array([4, 2, 1]), np.array([4, 2, 1], dtype=np.int32),
    np.array([4, 2, 1], dtype=np.uint8), mg.tensor([4, 2, 1]), [4.0, 2.0, 1.0],
    np.array([4.0, 2.0, 1.0]),
], ids=["list", "tuple", "int64", "int32", "uint8", "tensor", "float_list", "float_array"])
def test_lengths_in_every_form(lengths):
    seqs = sequences([4, 2, 1])
    padded = mg.tensor(padded_numpy(seqs))
    packed = rnn.pack_padded_sequence(padded, lengths)
    np.testing.assert_array_equal(packed.batch_sizes, [3, 2, 1, 1])
    np.testing.assert_array_equal(packed.data.data, packed_numpy(seqs, [0, 1, 2]))
    assert packed.lengths.dtype == np.int64


def test_lengths_from_pad_packed_feed_back():
    seqs = sequences([2, 4, 3])
    packed = rnn.pack_sequence(seqs, enforce_sorted=False)
    padded, lengths = rnn.pad_packed_sequence(packed, batch_first=True)
    again = rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    np.testing.assert_array_equal(again.data.data, packed.data.data)
    np.testing.assert_array_equal(again.sorted_indices, packed.sorted_indices)


# ------------------------------------------------------------------------------- gradients
def test_gradcheck_pack_padded_sequence():
    rng = np.random.default_rng(0)
    for batch_first, lengths, enforce_sorted in (
            (False, [3, 2, 1], True), (True, [1, 3, 2], False)):
        shape = (3, 4, 2) if batch_first else (4, 3, 2)  # longer than the longest sequence
        x = mg.tensor(rng.standard_normal(shape), requires_grad=True)
        assert gradcheck(lambda t, bf=batch_first, n=lengths, s=enforce_sorted:
                         rnn.pack_padded_sequence(t, n, batch_first=bf, enforce_sorted=s).data,
                         [x])
        # padding positions get exactly zero gradient; valid ones exactly the upstream one
        packed = rnn.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                          enforce_sorted=enforce_sorted)
        packed.data.sum().backward()
        grad = x.grad.data if batch_first else x.grad.data.swapaxes(0, 1)
        for i, n in enumerate(lengths):
            assert np.all(grad[i, :n] == 1) and np.all(grad[i, n:] == 0)


def test_gradcheck_pad_packed_sequence():
    rng = np.random.default_rng(1)
    lengths = [2, 3, 1]
    template = rnn.pack_sequence(sequences(lengths), enforce_sorted=False)
    data = mg.tensor(rng.standard_normal(template.data.shape), requires_grad=True)

    def unpack(d):
        seq = rnn.PackedSequence(d, template.batch_sizes, template.sorted_indices,
                                 template.unsorted_indices)
        return rnn.pad_packed_sequence(seq, batch_first=True, padding_value=3.0,
                                       total_length=5)[0]

    assert gradcheck(unpack, [data])


def test_gradcheck_pack_sequence_unpack_and_pad():
    seqs = sequences([2, 3, 1], requires_grad=True)
    assert gradcheck(lambda *s: rnn.pack_sequence(list(s), enforce_sorted=False).data, seqs)
    assert gradcheck(lambda *s: tuple(rnn.unpack_sequence(
        rnn.pack_sequence(list(s), enforce_sorted=False))), seqs)
    assert gradcheck(lambda *s: rnn.pad_sequence(list(s), padding_side="left"), seqs)
    padded = mg.tensor(np.random.default_rng(2).standard_normal((3, 3, 2)),
                       requires_grad=True)
    assert gradcheck(lambda p: tuple(rnn.unpad_sequence(p, [2, 3, 1])), [padded])


# ---------------------------------------------------------------------------------- errors
def test_zero_or_negative_length_names_the_batch_index():
    padded = mg.zeros(4, 3, 2)
    with pytest.raises(ValueError, match=r"length of sequence 1 is 0; every sequence needs at "
                                         r"least one step"):
        rnn.pack_padded_sequence(padded, [4, 0, 0])
    with pytest.raises(ValueError, match=r"length of sequence 2 is -1"):
        rnn.pack_padded_sequence(padded, [4, 2, -1], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"length of sequence 1 is 0"):
        rnn.pack_sequence([mg.zeros(2, 2), mg.zeros(0, 2)])
    with pytest.raises(ValueError, match=r"length of sequence 0 is 0"):
        rnn.unpad_sequence(padded, [0, 1, 1])


def test_length_longer_than_padded():
    with pytest.raises(ValueError, match=r"length of sequence 0 is 5, longer than the padded "
                                         r"length 4"):
        rnn.pack_padded_sequence(mg.zeros(4, 3, 2), [5, 2, 1])
    with pytest.raises(ValueError, match=r"length of sequence 2 is 4, longer than the padded "
                                         r"length 3"):
        rnn.pack_padded_sequence(mg.zeros(3, 3, 2), [3, 3, 4], batch_first=True,
                                 enforce_sorted=False)


def test_unsorted_lengths_suggest_enforce_sorted_false():
    with pytest.raises(ValueError, match=r"sequence 2 \(length 3\) is longer than sequence 1 "
                                         r"\(length 1\); pass enforce_sorted=False"):
        rnn.pack_padded_sequence(mg.zeros(4, 3, 2), [4, 1, 3])
    with pytest.raises(ValueError, match=r"enforce_sorted=False"):
        rnn.pack_sequence(sequences([1, 2]))


def test_mismatched_counts():
    with pytest.raises(ValueError, match=r"got 2 lengths for a batch of 3 sequences"):
        rnn.pack_padded_sequence(mg.zeros(4, 3, 2), [4, 2])
    with pytest.raises(ValueError, match=r"got 4 lengths for a batch of 3 sequences"):
        rnn.pack_padded_sequence(mg.zeros(3, 4, 2), [3, 2, 2, 1], batch_first=True)
    with pytest.raises(ValueError, match=r"got 2 lengths for a batch of 3 sequences"):
        rnn.unpad_sequence(mg.zeros(4, 3, 2), [4, 2])
    with pytest.raises(ValueError, match=r"got 0 lengths for a batch of 3 sequences"):
        rnn.pack_padded_sequence(mg.zeros(4, 3, 2), [])


def test_empty_input():
    with pytest.raises(ValueError, match=r"empty input of shape \(0, 3, 2\)"):
        rnn.pack_padded_sequence(mg.zeros(0, 3, 2), [1, 1, 1])
    with pytest.raises(ValueError, match=r"empty input of shape \(4, 0, 2\)"):
        rnn.pack_padded_sequence(mg.zeros(4, 0, 2), [])
    with pytest.raises(ValueError, match=r"pad_sequence: expected a non-empty list"):
        rnn.pad_sequence([])
    with pytest.raises(ValueError, match=r"expected a non-empty list"):
        rnn.pack_sequence([])
    with pytest.raises(ValueError, match=r"length of sequence 0 is 0"):
        rnn.pack_sequence([mg.zeros(0, 2)])  # every sequence empty


def test_other_errors():
    with pytest.raises(ValueError, match=r"input must be \(L, N, \*\) or \(N, L, \*\), got "
                                         r"shape \(4,\)"):
        rnn.pack_padded_sequence(mg.zeros(4), [4])
    with pytest.raises(ValueError, match=r"lengths must be a 1-D sequence of ints, got shape "
                                         r"\(1, 3\)"):
        rnn.pack_padded_sequence(mg.zeros(4, 3), [[4, 2, 1]])
    with pytest.raises(TypeError, match=r"lengths must be integers, got \[4.0, 2.5, 1.0\]"):
        rnn.pack_padded_sequence(mg.zeros(4, 3), [4, 2.5, 1])
    packed = rnn.pack_sequence(sequences([3, 2]))
    with pytest.raises(ValueError, match=r"total_length=2 is shorter than the longest sequence "
                                         r"\(3 steps\)"):
        rnn.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match=r"padding_side must be 'left' or 'right', got 'top'"):
        rnn.pad_sequence(sequences([2, 1]), padding_side="top")
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 3\); every sequence must "
                                         r"be \(L_i, 2\)"):
        rnn.pad_sequence([mg.zeros(1, 2), mg.zeros(2, 3)])
    with pytest.raises(ValueError, match=r"sequence 0 has shape \(\)"):
        rnn.pad_sequence([mg.tensor(1.0)])


# ----------------------------------------------------------------- random length lists
@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=6),
       features=st.sampled_from([(), (1,), (2, 3)]), batch_first=st.booleans(),
       extra=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_random_lengths_round_trip(lengths, features, batch_first, extra, seed):
    seqs = sequences(lengths, features, seed=seed)
    order = np.argsort([-n for n in lengths], kind="stable")
    total = max(lengths) + extra
    padded = mg.tensor(padded_numpy(seqs, batch_first, total=total))
    packed = rnn.pack_padded_sequence(padded, np.array(lengths), batch_first=batch_first,
                                      enforce_sorted=False)
    # the schedule: non-increasing, batch_sizes[t] = number of sequences longer than t
    expected_sizes = [sum(n > t for n in lengths) for t in range(max(lengths))]
    np.testing.assert_array_equal(packed.batch_sizes, expected_sizes)
    assert packed.data.shape == (sum(lengths), *features)
    np.testing.assert_array_equal(packed.data.data, packed_numpy(seqs, order))
    np.testing.assert_array_equal(packed.sorted_indices, order)
    np.testing.assert_array_equal(packed.sorted_indices[packed.unsorted_indices],
                                  np.arange(len(lengths)))
    np.testing.assert_array_equal(packed.lengths, lengths)
    # every way back
    out, out_lengths = rnn.pad_packed_sequence(packed, batch_first=batch_first,
                                               total_length=total)
    np.testing.assert_array_equal(out.data, padded.data)
    np.testing.assert_array_equal(out_lengths.data, lengths)
    for got, want in zip(rnn.unpack_sequence(packed), seqs, strict=True):
        np.testing.assert_array_equal(got.data, want.data)
    for got, want in zip(rnn.unpad_sequence(out, out_lengths, batch_first=batch_first), seqs,
                         strict=True):
        np.testing.assert_array_equal(got.data, want.data)
    # sorted lengths pack the same way with enforce_sorted=True
    if list(lengths) == sorted(lengths, reverse=True):
        strict = rnn.pack_padded_sequence(padded, lengths, batch_first=batch_first)
        np.testing.assert_array_equal(strict.data.data, packed.data.data)
        assert strict.sorted_indices is None


# ----------------------------------------------------------------------- against PyTorch
def test_matches_torch_packing():
    torch = pytest.importorskip("torch")
    from torch.nn.utils import rnn as torch_rnn

    lengths = [2, 5, 1, 4]  # distinct: PyTorch's sort is not stable
    seqs = sequences(lengths, features=(3,))
    ours = rnn.pack_sequence(seqs, enforce_sorted=False)
    theirs = torch_rnn.pack_sequence([torch.tensor(s.data) for s in seqs],
                                     enforce_sorted=False)
    np.testing.assert_array_equal(ours.data.data, theirs.data.numpy())
    np.testing.assert_array_equal(ours.batch_sizes, theirs.batch_sizes.numpy())
    np.testing.assert_array_equal(ours.sorted_indices, theirs.sorted_indices.numpy())
    np.testing.assert_array_equal(ours.unsorted_indices, theirs.unsorted_indices.numpy())
    padded, _ = rnn.pad_packed_sequence(ours, batch_first=True, padding_value=-2.0,
                                        total_length=6)
    padded_t, _ = torch_rnn.pad_packed_sequence(theirs, batch_first=True, padding_value=-2.0,
                                                total_length=6)
    np.testing.assert_array_equal(padded.data, padded_t.numpy())
    left = rnn.pad_sequence(seqs, batch_first=True, padding_side="left")
    left_t = torch_rnn.pad_sequence([torch.tensor(s.data) for s in seqs], batch_first=True,
                                    padding_side="left")
    np.testing.assert_array_equal(left.data, left_t.numpy())
