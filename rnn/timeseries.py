"""Sliding windows over a time series, and a chronological train / validation / test split
that does not leak the future into the past.

A forecasting *window* is a pair cut from one series: ``window`` consecutive steps as input and
the ``horizon`` steps right after them as target. Window k starting at step s covers

    inputs  series[s : s + window]                     (input times  s .. s+window-1)
    targets series[s + window : s + window + horizon]  (target times s+window .. s+window+horizon-1)

Neighbouring windows overlap: with stride 1, window s+1 shares ``window - 1`` input steps and
``horizon - 1`` target steps with window s, and its inputs contain window s's first target.
That is why shuffling windows into train and test *leaks*: nearly every test target was seen
during training, as a target or an input of a neighbour. ``chronological_split`` cuts time, not
windows:

    |---------- train targets ----------|--- val targets ---|--- test targets ---|
    0                               val_start          test_start                T

A window belongs to the split whose region holds *all* of its targets; the ``horizon - 1``
windows whose targets straddle a boundary are dropped (they would put one split's targets into
another's). Inputs may reach back across a boundary (a validation window reads the end of the
training region): that is the past, known when the forecast is made, so it is not a leak.

Guarantees ("no leak"), for any series length, window, horizon and fractions:

1. every train target time < every validation target time < every test target time;
2. no train input time is a validation or test target time (every train input is
   < ``val_start``), and no validation input time is a test target time (< ``test_start``);
3. so everything a model is fitted on (train inputs and targets) lies before ``val_start``:
   fit normalisation statistics on ``series[:val_start]`` too, or they leak the future.

Shape legend: T series length, W window, h horizon, n windows, ``*F`` optional feature
dimensions of the series (a series may be (T,) or (T, F, ...)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Split", "Windows", "chronological_split", "make_windows"]


@dataclass(frozen=True)
class Windows:
    """A set of forecasting windows cut from one series.

    Attributes:
        inputs: (n, W, *F) the input steps of each window.
        targets: (n, h, *F) the steps to forecast, right after the inputs.
        starts: (n,) int64, the time of each window's first input step.
        window: W. horizon: h.
    """

    inputs: np.ndarray
    targets: np.ndarray
    starts: np.ndarray
    window: int
    horizon: int

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def origins(self) -> np.ndarray:
        """(n,) the time of each window's first target (the step being forecast from)."""
        return self.starts + self.window

    @property
    def input_times(self) -> np.ndarray:
        """(n, W) the time index of every input step."""
        return self.starts[:, None] + np.arange(self.window)

    @property
    def target_times(self) -> np.ndarray:
        """(n, h) the time index of every target step."""
        return self.origins[:, None] + np.arange(self.horizon)


class Split(NamedTuple):
    """Train, validation and test windows in time order, and the two region boundaries.

    ``val_start`` / ``test_start`` are the first target times of the validation and test
    regions: fit anything data-dependent (scalers, vocabularies) on ``series[:val_start]``.
    """

    train: Windows
    val: Windows
    test: Windows
    val_start: int
    test_start: int


def _check_sizes(length: int, window: int, horizon: int, stride: int) -> None:
    for name, value in (("window", window), ("horizon", horizon), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if length < 1:
        raise ValueError("the series is empty")


def make_windows(series: Any, window: int, horizon: int, *, stride: int = 1,
                 target_start: int = 0, target_stop: int | None = None) -> Windows:
    """All windows of ``series`` whose targets lie in ``[target_start, target_stop)``.

    Window starts run s = s0, s0 + stride, ... where s0 is the first start whose targets all
    lie at or after ``target_start`` (and whose inputs start at or after 0). Inputs may lie
    before ``target_start``. The arrays are copies; the series is not modified.

    Args:
        series: (T, *F) array-like, time first.
        window: W >= 1 input steps. horizon: h >= 1 target steps.
        stride: distance between consecutive window starts.
        target_start, target_stop: the region of target times (default: the whole series).

    Returns:
        ``Windows`` with inputs (n, W, *F), targets (n, h, *F), starts (n,); n may be 0.

    Example:
        >>> w = make_windows(np.arange(6), window=3, horizon=2)
        >>> w.inputs.tolist(), w.targets.tolist()
        ([[0, 1, 2], [1, 2, 3]], [[3, 4], [4, 5]])
    """
    series = np.asarray(series)
    if series.ndim == 0:
        raise ValueError("make_windows: expected a series of shape (T, *F), got a scalar")
    length = len(series)
    _check_sizes(length, window, horizon, stride)
    stop = length if target_stop is None else min(int(target_stop), length)
    first = max(0, int(target_start) - window)   # the first target is at s + window
    last = stop - window - horizon               # the last target (s + W + h - 1) < stop
    starts = np.arange(first, last + 1, stride, dtype=np.int64)
    feature_shape = series.shape[1:]
    if len(starts) == 0:
        return Windows(np.empty((0, window, *feature_shape), series.dtype),
                       np.empty((0, horizon, *feature_shape), series.dtype),
                       starts, window, horizon)
    steps = np.arange(window + horizon)
    spans = series[starts[:, None] + steps]      # (n, W + h, *F), a copy
    return Windows(spans[:, :window], spans[:, window:], starts, window, horizon)


def chronological_split(series: Any, *, window: int, horizon: int, val_fraction: float = 0.15,
                        test_fraction: float = 0.15, stride: int = 1) -> Split:
    """Train / validation / test windows in time order, with no target leaking backwards.

    The series' time axis is cut into three regions of target times: the last
    ``round(test_fraction * T)`` steps are the test region, the ``round(val_fraction * T)``
    steps before them the validation region, the rest the training region. Each split holds
    the windows (see ``make_windows``) whose targets all lie in its region; see the module
    docstring for exactly what "no leak" guarantees.

    Args:
        series: (T, *F) array-like, time first.
        window: W input steps. horizon: h target steps.
        val_fraction, test_fraction: shares of the *time steps* (not of the windows) given to
            validation and test, each in [0, 1) and summing to less than 1. A fraction of 0
            gives an empty split.
        stride: distance between window starts inside each split.

    Returns:
        ``Split(train, val, test, val_start, test_start)``.

    Raises:
        ValueError: bad sizes or fractions, or a region too short to hold one window (a
            non-empty validation / test region needs at least h steps, training needs W + h).

    Example:
        >>> split = chronological_split(np.arange(100.0), window=10, horizon=5,
        ...                             val_fraction=0.2, test_fraction=0.2)
        >>> split.val_start, split.test_start
        (60, 80)
        >>> int(split.train.target_times.max()), int(split.val.target_times.min())
        (59, 60)
    """
    series = np.asarray(series)
    if series.ndim == 0:
        raise ValueError("chronological_split: expected a series of shape (T, *F)")
    length = len(series)
    _check_sizes(length, window, horizon, stride)
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got "
                         f"{val_fraction} + {test_fraction}")
    n_test = int(round(test_fraction * length))
    n_val = int(round(val_fraction * length))
    test_start = length - n_test
    val_start = test_start - n_val
    for name, size, fraction in (("validation", n_val, val_fraction),
                                 ("test", n_test, test_fraction)):
        if fraction > 0 and size < horizon:
            raise ValueError(
                f"chronological_split: the {name} region has {size} steps "
                f"({fraction} of {length}) but one window needs horizon={horizon} target "
                "steps; use a longer series, a larger fraction or a shorter horizon")
    if val_start < window + horizon:
        raise ValueError(
            f"chronological_split: the training region has {val_start} steps but one window "
            f"needs window + horizon = {window + horizon}; use a longer series or smaller "
            "validation / test fractions")
    make = dict(window=window, horizon=horizon, stride=stride)
    return Split(make_windows(series, target_stop=val_start, **make),
                 make_windows(series, target_start=val_start, target_stop=test_start, **make),
                 make_windows(series, target_start=test_start, **make),
                 val_start, test_start)
