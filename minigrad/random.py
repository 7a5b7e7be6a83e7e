"""The global random generator behind ``randn``, ``rand``, dropout masks and ``nn.init``."""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seeds the global generator, so that a run can be repeated exactly."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def generator() -> np.random.Generator:
    """The global generator (replaced by ``manual_seed``)."""
    return _generator
