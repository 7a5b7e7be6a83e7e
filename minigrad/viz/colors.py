"""Colours for graph drawings: a sequential scale for numbers, and readable text on a fill.

``color_scale`` maps numbers (say, the gradient norm that reached each time step) to colours
of *viridis*, the sequential scale of van der Walt and Smith (CC0): its lightness grows
steadily from dark purple to yellow, it reads in greyscale and for colour-blind readers.
We keep ten of its colours and interpolate between them, so no plotting library is needed.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: Ten evenly spaced colours of viridis, from low to high.
VIRIDIS = ("#440154", "#482878", "#3e4a89", "#31688e", "#26828e",
           "#1f9e89", "#35b779", "#6dcd59", "#b4de2c", "#fde725")

#: The colour of values off the scale (nan, +-inf): an exploding gradient must stand out.
NON_FINITE = "#e41a1c"

_STOPS = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in VIRIDIS], dtype=np.float64)


def color_scale(values: Iterable[float], log: bool = True, *, vmin: float | None = None,
                vmax: float | None = None, alpha: float | None = None) -> list[str]:
    """Maps numbers to ``"#rrggbb"`` colours on a sequential scale (viridis: dark = small).

    Args:
        values: the numbers, e.g. ``||dL/dh_t||`` for every time step.
        log: place the values on a log10 scale (the right choice for gradient norms, which
            vanish or explode geometrically). Zeros and negative numbers then get the lowest
            colour.
        vmin, vmax: the values given the lowest and highest colour; default: the smallest and
            largest finite value. Values outside are clipped. Give both to compare pictures.
        alpha: opacity in [0, 1]: colours become ``"#rrggbbaa"``. As the fill of a cluster,
            e.g. ``alpha=0.6`` keeps the arrows inside the darkest boxes visible.

    Returns:
        One colour per value, in order. Non-finite values (nan, inf) get ``NON_FINITE``, a red
        that is not on the scale; if all finite values are equal, they get the middle colour.

    Example:
        >>> color_scale([1e-3, 1e-2, 1e-1])
        ['#440154', '#22908c', '#fde725']
        >>> color_scale([0.0, 1.0, float("nan")], log=False)
        ['#440154', '#fde725', '#e41a1c']
    """
    x = np.array([float(v) for v in values], dtype=np.float64)
    finite = np.isfinite(x)
    if log:
        positive = x[finite & (x > 0)]
        floor = vmin if vmin is not None and vmin > 0 else (
            positive.min() if positive.size else 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(finite, np.log10(np.maximum(x, floor)), x)
        vmin = None if vmin is None else float(np.log10(max(vmin, floor)))
        vmax = None if vmax is None else float(np.log10(max(vmax, floor)))
    lo = vmin if vmin is not None else (x[finite].min() if finite.any() else 0.0)
    hi = vmax if vmax is not None else (x[finite].max() if finite.any() else 1.0)
    colors = []
    for value, ok in zip(x, finite, strict=True):
        if not ok:
            colors.append(NON_FINITE)
            continue
        fraction = 0.5 if hi <= lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
        colors.append(_interpolate(fraction))
    if alpha is not None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"color_scale: alpha must be in [0, 1], got {alpha}")
        colors = [c + f"{int(round(alpha * 255)):02x}" for c in colors]
    return colors


def _interpolate(fraction: float) -> str:
    """The colour at ``fraction`` in [0, 1] along the stops (linear in RGB between stops)."""
    position = fraction * (len(_STOPS) - 1)
    i = min(int(position), len(_STOPS) - 2)
    rgb = _STOPS[i] + (position - i) * (_STOPS[i + 1] - _STOPS[i])
    return "#" + "".join(f"{int(round(c)):02x}" for c in rgb)


def relative_luminance(color: str) -> float | None:
    """WCAG relative luminance (0 black .. 1 white) of ``"#rrggbb"``, or of ``"#rrggbbaa"``
    over white; None for other forms (colour names are passed to Graphviz as they are)."""
    if not (len(color) in (7, 9) and color.startswith("#")):
        return None
    try:
        channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        opacity = int(color[7:9], 16) / 255 if len(color) == 9 else 1.0
    except ValueError:
        return None
    channels = [opacity * c + (1 - opacity) for c in channels]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def text_color(fill: str) -> str:
    """Black or white, whichever reads better on ``fill``."""
    luminance = relative_luminance(fill)
    return "#ffffff" if luminance is not None and luminance < 0.18 else "#000000"
