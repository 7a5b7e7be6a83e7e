"""Scheduled sampling (Bengio et al. 2015): the teacher-forcing probability per training step.

Early in training the decoder is fed the ground truth (it cannot yet predict anything
useful); later it is fed more and more of its own predictions, as it will be at test time.
Each schedule maps the training step i (0, 1, 2, ...) to eps_i, the probability of feeding the
ground-truth token, which ``Seq2Seq(..., teacher_forcing=eps_i)`` takes::

    name              eps_i                                       parameters
    constant          value                                       value in [0, 1] (default 1)
    linear            start + (end - start) * min(i / steps, 1)   start, end, steps > 0
    exponential       k ** i                                      0 < k < 1
    inverse_sigmoid   k / (k + exp(i / k))                        k >= 1

For a command line, ``get_schedule(name, **params)`` or
``parse_schedule("inverse_sigmoid:k=100")`` return a function of the step:

    >>> schedule = parse_schedule("linear:steps=1000,end=0.25")
    >>> schedule(0), schedule(500), schedule(5000)
    (1.0, 0.625, 0.25)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

__all__ = ["SCHEDULES", "constant", "exponential", "get_schedule", "inverse_sigmoid", "linear",
           "parse_schedule"]


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"schedule: step must be >= 0, got {step}")


def constant(step: int, *, value: float = 1.0) -> float:
    """``value`` at every step (1.0: always teacher forcing, i.e. no scheduled sampling)."""
    _check_step(step)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"constant schedule: value must be in [0, 1], got {value}")
    return float(value)


def linear(step: int, *, start: float = 1.0, end: float = 0.0, steps: int) -> float:
    """Linear decay from ``start`` at step 0 to ``end`` at step ``steps``, then flat."""
    _check_step(step)
    if steps <= 0:
        raise ValueError(f"linear schedule: steps must be > 0, got {steps}")
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"linear schedule: {name} must be in [0, 1], got {value}")
    return float(start + (end - start) * min(step / steps, 1.0))


def exponential(step: int, k: float) -> float:
    """Exponential decay ``k ** step`` (0 < k < 1; e.g. 0.999 halves in ~693 steps)."""
    _check_step(step)
    if not 0.0 < k < 1.0:
        raise ValueError(f"exponential schedule: k must be in (0, 1), got {k}")
    return float(k ** step)


def inverse_sigmoid(step: int, k: float) -> float:
    """Inverse-sigmoid decay ``k / (k + exp(step / k))`` (k >= 1): flat near 1 at first,
    then falling; it crosses 0.5 at ``step = k * ln(k)``."""
    _check_step(step)
    if k < 1.0:
        raise ValueError(f"inverse_sigmoid schedule: k must be >= 1, got {k}")
    exponent = step / k
    if exponent > 700.0:  # exp overflows; the value is 0 to double precision anyway
        return 0.0
    return float(k / (k + math.exp(exponent)))


#: Schedules by name, for ``get_schedule`` and command lines (``--schedule``).
SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant,
    "linear": linear,
    "exponential": exponential,
    "inverse_sigmoid": inverse_sigmoid,
}


def get_schedule(name: str, **params: float) -> Callable[[int], float]:
    """The schedule ``name`` with its parameters bound: a function ``step -> eps``.

    The parameters are checked now (by evaluating step 0), not at the first training step.

    Example:
        >>> get_schedule("exponential", k=0.5)(3)
        0.125
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {tuple(SCHEDULES)}")
    schedule = functools.partial(SCHEDULES[name], **params)
    try:
        schedule(0)
    except TypeError as err:
        raise TypeError(f"schedule {name!r}: {err}") from None
    return schedule


def parse_schedule(spec: str) -> Callable[[int], float]:
    """Parses ``"name"`` or ``"name:key=value,key=value"`` (values are numbers) into a
    schedule, e.g. ``"inverse_sigmoid:k=100"`` or ``"linear:steps=5000,end=0.2"``."""
    name, _, rest = spec.partition(":")
    params: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"schedule {spec!r}: expected key=value, got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"schedule {spec!r}: {key.strip()} must be a number, "
                             f"got {value!r}") from None
        params[key.strip()] = int(number) if number.is_integer() and key.strip() == "steps" \
            else number
    return get_schedule(name.strip(), **params)
