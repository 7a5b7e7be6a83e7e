"""Summing rows by index: the backward of every gather (``a[index]``, embeddings).

A gather may pick the same row several times, so its backward must add, not assign. numpy's
``np.add.at`` does that, but slowly (about 0.35 ms for 1,600 rows of 32); one sort and one
``np.add.reduceat`` take 0.05 ms.
"""

from __future__ import annotations

import numpy as np


def sum_rows_by_index(rows: np.ndarray, index: np.ndarray, count: int) -> np.ndarray:
    """out (count, D) with out[i] = the sum of rows[j] over every j with index[j] == i.

    The sums of ``np.add.at(zeros, index, rows)`` up to rounding: ``reduceat`` may group
    the additions of a long run differently than adding one row after another.

    Shape:
        - rows: (M, D); index: (M,) int in [0, count)
        - Output: (count, D), rows' dtype
    """
    out = np.zeros((count, rows.shape[1]), dtype=rows.dtype)
    if index.size == 0:
        return out
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    out[ordered[starts]] = np.add.reduceat(rows[order], starts, axis=0)
    return out
