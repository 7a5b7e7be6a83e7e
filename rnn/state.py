"""Recurrent state across chunks: ``detach_state`` and truncated back-propagation through time.

Truncated BPTT trains on a long sequence k steps at a time. The hidden state is *carried* from
one chunk to the next (so the model still sees the whole history in the forward pass) but
*detached* at each boundary, so that backward stops there: the graph, and the memory it holds,
stay bounded by k steps however long the sequence is.

    state = None
    for x, y in chunks(inputs, targets, chunk_len=35):
        state = detach_state(state)          # forget the graph, keep the values
        output, state = model(x, state)
        loss = loss_fn(output, y)
        loss.backward()
        ...

Forgetting ``detach_state`` makes the second chunk's backward reach into the first chunk's
graph, whose buffers the first backward freed: minigrad then raises an error that says so,
instead of silently keeping every chunk's graph alive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from minigrad import Tensor


def detach_state(state: Any) -> Any:
    """``state`` with every tensor detached from its graph; same structure otherwise.

    Accepts a tensor, None, or tuples / lists / dicts of those nested to any depth (an LSTM's
    ``(h, c)``, a list of per-layer states, a decoder's dict...).
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple):
        items = [detach_state(s) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [detach_state(s) for s in state]
    if isinstance(state, dict):
        return {key: detach_state(value) for key, value in state.items()}
    raise TypeError(f"detach_state: cannot detach a {type(state).__name__}; expected tensors "
                    "in tuples, lists or dicts")


def chunks(*sequences: Tensor, chunk_len: int, dim: int = 0) -> Iterator[tuple[Tensor, ...]]:
    """Cuts aligned sequences into consecutive pieces of ``chunk_len`` steps along ``dim``.

    The last piece may be shorter. Yields one tuple per piece (a bare tensor when a single
    sequence is given).
    """
    if chunk_len < 1:
        raise ValueError(f"chunk_len must be at least 1, got {chunk_len}")
    if not sequences:
        raise ValueError("chunks: give at least one sequence")
    length = sequences[0].shape[dim]
    for i, s in enumerate(sequences):
        if s.shape[dim] != length:
            raise ValueError(f"chunks: sequence {i} has {s.shape[dim]} steps along dim {dim}, "
                             f"sequence 0 has {length}")
    for start in range(0, length, chunk_len):
        index = (slice(None),) * (dim % sequences[0].ndim) + (slice(start, start + chunk_len),)
        pieces = tuple(s[index] for s in sequences)
        yield pieces[0] if len(pieces) == 1 else pieces


def truncated_bptt(step: Callable[..., tuple[Tensor, Any]], inputs: Tensor, targets: Tensor,
                   chunk_len: int, state: Any = None, *, dim: int = 0,
                   detach: bool = True, on_loss: Callable[[Tensor], None] | None = None
                   ) -> tuple[list[float], Any]:
    """Runs ``step`` over a long sequence in chunks, carrying the state across chunks.

    Args:
        step: ``step(x_chunk, y_chunk, state) -> (loss, new_state)``; builds the graph of one
            chunk.
        inputs, targets: aligned sequences, cut along ``dim``.
        chunk_len: k, the number of steps back-propagated through.
        state: the initial state (None for zeros).
        detach: detach the state at each chunk boundary. Turning it off shows the pitfall:
            the second chunk's backward fails with an error about a freed graph.
        on_loss: called with each chunk's loss, e.g. to run backward, clip and step the
            optimizer; by default ``loss.backward()`` is called.

    Returns:
        The chunk losses (floats) and the final state.
    """
    losses = []
    for x, y in chunks(inputs, targets, chunk_len=chunk_len, dim=dim):
        if detach:
            state = detach_state(state)
        loss, state = step(x, y, state)
        if on_loss is None:
            loss.backward()
        else:
            on_loss(loss)
        losses.append(loss.item())
    return losses, state
