"""Toy translation tasks, generated on the fly: datasets, splits, vocabularies and batches.

Every task maps a *source* string to a *target* string; nothing is downloaded::

    dates           "25th of November 2026", "Nov 25, 26", "25/11/2026" ... -> "2026-11-25"
    en-fr-numbers   "seventy-one"       -> "soixante et onze"      (num2words, en and fr)
    digits-en       "71"                -> "seventy-one"
    reverse         "kqzbe"             -> "ebzqk"                 (lengths 5-15 by default)
    sort            "kqzbe"             -> "bekqz"
    addition        "123+4567"          -> "4690"

Each side is split into tokens at its own *level*: ``"char"`` (every character is a token) or
``"word"`` (words, and each punctuation mark such as "-" or "," on its own, so that
``join(tokenize(text)) == text``: "quatre-vingts" is ``["quatre", "-", "vingts"]``).

Splits are made once from a seed and are reproducible and disjoint: the test sources are drawn
first, then the validation and the training ones, all distinct, so no test source appears in
training, and the test set does not change with the other sizes. (The number tasks draw their
held-out numbers uniformly and their training numbers with each number of digits equally
likely, so that the few one- and two-digit numbers are learned too.)

    >>> task = get_task("dates")
    >>> splits = make_splits(task, seed=0)
    >>> source_vocab, target_vocab = build_vocabs(task, splits.train)
    >>> for batch in batches(task, splits.train, source_vocab, target_vocab, 64, rng): ...
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BOS", "DATE_FORMATS", "EOS", "PAD", "SPECIALS", "TASKS", "UNK", "Batch", "Splits", "Task",
    "Vocab", "batches", "build_vocabs", "encode_batch", "format_date", "get_task", "join",
    "make_splits", "number_words", "tokenize",
]

Pair = tuple[str, str]

# ---------------------------------------------------------------------------------------------
# Tokens and vocabularies.

#: The special tokens, at these ids in every vocabulary.
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)

# A word (letters and digits, accents included) or a single punctuation mark.
_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")


def tokenize(text: str, level: str) -> list[str]:
    """Splits ``text`` into tokens: characters (``"char"``) or words and punctuation marks
    (``"word"``). Whitespace is a character token but never a word token."""
    if level == "char":
        return list(text)
    if level == "word":
        return _WORD.findall(text)
    raise ValueError(f"tokenize: level must be 'char' or 'word', got {level!r}")


def join(tokens: Sequence[str], level: str) -> str:
    """The inverse of ``tokenize``: words are joined by spaces, except around hyphens and
    before commas and periods ("quatre - vingts" -> "quatre-vingts")."""
    if level == "char":
        return "".join(tokens)
    text = " ".join(tokens)
    return re.sub(r" ?- ?", "-", re.sub(r" ([,.])", r"\1", text))


class Vocab:
    """Tokens <-> ids. Ids 0-3 are ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>``; the other
    tokens follow in sorted order, so the same tokens always give the same ids.

    Saved with a checkpoint as its token list (``vocab.tokens``, plain JSON inside
    ``minigrad.save``'s npz) and rebuilt with ``Vocab.from_tokens``.

    Example:
        >>> vocab = Vocab("abc")
        >>> vocab.encode("cab", eos=True)
        [6, 4, 5, 2]
        >>> vocab.decode([6, 4, 5, 2, 0])
        ['c', 'a', 'b']
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        words = sorted(set(tokens) - set(SPECIALS))
        self.tokens: list[str] = [*SPECIALS, *words]
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> Vocab:
        """Rebuilds a vocabulary from its saved token list (ids = positions), checking it."""
        tokens = [str(t) for t in tokens]
        if tuple(tokens[:len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"Vocab: a saved vocabulary must start with {SPECIALS}, "
                             f"got {tokens[:len(SPECIALS)]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("Vocab: the saved vocabulary has duplicate tokens")
        vocab = cls(())
        vocab.tokens = tokens
        vocab.index = {token: i for i, token in enumerate(tokens)}
        return vocab

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def encode(self, tokens: Iterable[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens``; tokens not in the vocabulary become ``<unk>`` (3)."""
        ids = [self.index.get(token, UNK) for token in tokens]
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, stopping at the first ``<eos>`` and skipping ``<pad>`` and
        ``<bos>`` (``<unk>`` stays, so the reader sees it)."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i] if 0 <= i < len(self.tokens) else SPECIALS[UNK])
        return out

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The tokens of ``tokens`` that this vocabulary does not hold (in order, once each)."""
        return list(dict.fromkeys(t for t in tokens if t not in self.index))


# ---------------------------------------------------------------------------------------------
# Tasks.


@dataclass(frozen=True)
class Task:
    """One translation task.

    Attributes:
        name: the ``--task`` name.
        description: one line, shown by ``--help``.
        source_level, target_level: "char" or "word" (see ``tokenize``).
        generate: ``generate(rng, n_heldout, n_train) -> (heldout, train)``: two lists of
            pairs, all sources distinct (the held-out ones become the test and validation
            sets).
        sizes: default (train, valid, test) sizes.
        examples: a few sources to show as examples (and to try with ``--translate``).
        params: the parameters the task was made with (saved with a checkpoint).
    """

    name: str
    description: str
    source_level: str
    target_level: str
    generate: Callable[[np.random.Generator, int, int], tuple[list[Pair], list[Pair]]]
    sizes: tuple[int, int, int]
    examples: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def source_tokens(self, text: str) -> list[str]:
        return tokenize(text, self.source_level)

    def target_tokens(self, text: str) -> list[str]:
        return tokenize(text, self.target_level)

    def join_target(self, tokens: Sequence[str]) -> str:
        return join(tokens, self.target_level)


def _distinct(draw: Callable[[np.random.Generator], Pair], what: str) -> Callable[
        [np.random.Generator, int, int], tuple[list[Pair], list[Pair]]]:
    """A ``generate`` function for a large space: pairs from ``draw`` (a repeated source is
    drawn again), the first ``n_heldout`` held out and the next ``n_train`` for training."""

    def generate(rng: np.random.Generator, n_heldout: int,
                 n_train: int) -> tuple[list[Pair], list[Pair]]:
        pairs = _draw_distinct(draw, rng, n_heldout + n_train, what)
        return pairs[:n_heldout], pairs[n_heldout:]

    return generate


def _draw_distinct(draw: Callable[[np.random.Generator], Pair], rng: np.random.Generator,
                   n: int, what: str) -> list[Pair]:
    """``n`` pairs from ``draw`` with distinct sources."""
    pairs: dict[str, str] = {}
    tries = 0
    while len(pairs) < n:
        source, target = draw(rng)
        pairs.setdefault(source, target)
        tries += 1
        if tries > 20 * n + 1000:
            raise ValueError(f"{what}: could not draw {n} distinct sources (got {len(pairs)}); "
                             "the task's space is too small for these split sizes")
    return list(pairs.items())


# --- dates ------------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Two-digit years are read in this 100-year window, the one of POSIX and Python's ``%y``
#: (69-99 -> 1969-1999, 00-68 -> 2000-2068); all dates are drawn from it.
FIRST_DATE, LAST_DATE = dt.date(1969, 1, 1), dt.date(2068, 12, 31)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, ..., 31st."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


#: The human formats of a date, each with one fixed order of day and month (so each is
#: unambiguous); the target is always ISO 8601 (``2026-11-25``).
DATE_FORMATS: dict[str, Callable[[dt.date], str]] = {
    "ordinal of month year": lambda d: f"{ordinal(d.day)} of {_month(d)} {d.year}",
    "Mon d, yy": lambda d: f"{_month(d)[:3]} {d.day}, {d.year % 100:02d}",
    "dd/mm/yyyy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",
    "weekday d month year": lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {_month(d)} {d.year}",
    "yyyy.mm.dd": lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",
    "month dth, year": lambda d: f"{_month(d)} {ordinal(d.day)}, {d.year}",
    "d mon yyyy": lambda d: f"{d.day} {_month(d)[:3].lower()} {d.year}",
    "Wkd, d Mon yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {d.day} {_month(d)[:3]} {d.year}",
    "DD MONTH YYYY": lambda d: f"{d.day:02d} {_month(d).upper()} {d.year}",
    "dd.mm.yy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    "yyyy-mm-dd": lambda d: d.isoformat(),
}


def format_date(date: dt.date, name: str) -> str:
    """``date`` written in the format ``name`` (a key of ``DATE_FORMATS``)."""
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValueError(f"format_date: {date} is outside the window {FIRST_DATE}..{LAST_DATE} "
                         "where two-digit years are unambiguous")
    return DATE_FORMATS[name](date)


def _dates_task() -> Task:
    formats = list(DATE_FORMATS.values())
    days = (LAST_DATE - FIRST_DATE).days + 1

    def draw(rng: np.random.Generator) -> Pair:
        date = FIRST_DATE + dt.timedelta(days=int(rng.integers(days)))
        return formats[int(rng.integers(len(formats)))](date), date.isoformat()

    return Task("dates", "human-written dates in 12 formats -> ISO 8601 (characters)",
                "char", "char",
                _distinct(draw, "dates"),
                sizes=(20_000, 1_000, 2_000),
                examples=("25th of November 2026", "Nov 25, 26", "Wednesday 25 November 2026",
                          "1999.12.31", "Mar 3, 70", "4 jul 2053"))


# --- numbers ----------------------------------------------------------------------------------


def _numbers(rng: np.random.Generator, n_heldout: int, n_train: int, max_number: int,
             to_pair: Callable[[int], Pair]) -> tuple[list[Pair], list[Pair]]:
    """Held-out and training numbers of [0, max_number], disjoint.

    The held-out numbers are drawn uniformly (so a test set is mostly numbers of the longest
    length, as the range is); the training numbers from the rest with every number of digits
    equally likely, so the few small numbers ("twenty-one", "eighty") are all learned, not
    only the compounds they appear in.
    """
    if n_heldout + n_train > max_number + 1:
        raise ValueError(f"numbers: {n_heldout + n_train} examples asked but [0, {max_number}] "
                         f"holds only {max_number + 1} numbers; raise max_number or lower the "
                         "split sizes")
    numbers = np.arange(max_number + 1)
    heldout = rng.permutation(numbers)[:n_heldout]      # a prefix: the same for any n_train
    rest = np.setdiff1d(numbers, heldout)
    digits = np.char.str_len(rest.astype(str))
    weight = 1.0 / np.bincount(digits)[digits]          # each length gets the same total weight
    # Weighted sampling without replacement (Efraimidis & Spirakis): the n largest u^(1/w).
    keys = np.log(rng.random(len(rest))) / weight
    train = rest[np.argsort(-keys, kind="stable")[:n_train]]
    return ([to_pair(int(x)) for x in heldout], [to_pair(int(x)) for x in train])


def _number_sizes(max_number: int) -> tuple[int, int, int]:
    """Default (train, valid, test) sizes for numbers in [0, max_number]."""
    n = max_number + 1
    test, valid = min(2_000, n // 10), min(1_000, n // 20)
    return min(30_000, n - test - valid), valid, test


def number_words(number: int, lang: str) -> str:
    """``number`` in words in the language ``lang`` ("en", "fr"), by num2words."""
    from num2words import num2words  # an `examples` extra: imported only by these tasks
    return num2words(number, lang=lang)


def _en_fr_task(max_number: int = 999_999) -> Task:
    return Task("en-fr-numbers",
                f"English number words -> French number words, 0..{max_number:,} (words)",
                "word", "word",
                lambda rng, n_heldout, n_train: _numbers(
                    rng, n_heldout, n_train, max_number,
                    lambda x: (number_words(x, "en"), number_words(x, "fr"))),
                sizes=_number_sizes(max_number),
                examples=("seventy-one", "eighty", "twenty-one",
                          "one thousand, nine hundred and ninety-nine"),
                params={"max_number": max_number})


def _digits_en_task(max_number: int = 999_999) -> Task:
    return Task("digits-en", f"digits -> English number words, 0..{max_number:,} (characters "
                "-> words)",
                "char", "word",
                lambda rng, n_heldout, n_train: _numbers(
                    rng, n_heldout, n_train, max_number,
                    lambda x: (str(x), number_words(x, "en"))),
                sizes=_number_sizes(max_number),
                examples=("71", "1990", "400012"),
                params={"max_number": max_number})


# --- algorithmic tasks ------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _letters_task(name: str, description: str, transform: Callable[[str], str],
                  min_len: int, max_len: int, alphabet: str) -> Task:
    if not 1 <= min_len <= max_len:
        raise ValueError(f"{name}: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    symbols = np.array(list(alphabet))

    def draw(rng: np.random.Generator) -> Pair:
        length = int(rng.integers(min_len, max_len + 1))
        source = "".join(symbols[rng.integers(len(symbols), size=length)])
        return source, transform(source)

    return Task(name, f"{description}, lengths {min_len}-{max_len} (characters)", "char", "char",
                _distinct(draw, name),
                sizes=(20_000, 1_000, 2_000), examples=("minigrad", "sequence"),
                params={"min_len": min_len, "max_len": max_len, "alphabet": alphabet})


def _reverse_task(min_len: int = 5, max_len: int = 15, alphabet: str = LETTERS) -> Task:
    return _letters_task("reverse", "a string of letters -> the same string reversed",
                         lambda s: s[::-1], min_len, max_len, alphabet)


def _sort_task(min_len: int = 5, max_len: int = 15, alphabet: str = LETTERS) -> Task:
    return _letters_task("sort", "a string of letters -> its letters sorted",
                         lambda s: "".join(sorted(s)), min_len, max_len, alphabet)


def _addition_task(max_digits: int = 4) -> Task:
    def draw(rng: np.random.Generator) -> Pair:
        a, b = (int(rng.integers(10 ** int(rng.integers(1, max_digits + 1)))) for _ in "ab")
        return f"{a}+{b}", str(a + b)

    return Task("addition", f"'a+b' -> the sum, numbers of 1-{max_digits} digits (characters)",
                "char", "char",
                _distinct(draw, "addition"),
                sizes=(200_000, 1_000, 2_000), examples=("123+4567", "9999+1"),
                params={"max_digits": max_digits})


#: Task factories by name; ``get_task(name, **params)`` builds one.
TASKS: dict[str, Callable[..., Task]] = {
    "dates": _dates_task,
    "en-fr-numbers": _en_fr_task,
    "digits-en": _digits_en_task,
    "reverse": _reverse_task,
    "sort": _sort_task,
    "addition": _addition_task,
}


def get_task(name: str, **params: Any) -> Task:
    """The task ``name`` (a key of ``TASKS``), with optional parameters, e.g.
    ``get_task("reverse", max_len=30)`` or ``get_task("en-fr-numbers", max_number=9999)``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name](**params)


# ---------------------------------------------------------------------------------------------
# Splits.


@dataclass
class Splits:
    """The train / validation / test pairs of a task; sources are disjoint across the three."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def make_splits(task: Task, seed: int = 0,
                sizes: tuple[int, int, int] | None = None) -> Splits:
    """Draws the splits of ``task`` from ``seed``: the held-out sources first (test, then
    validation), then the training ones, all distinct. Same task, seed and sizes -> same
    splits; the test set depends only on the task, the seed and its own size.

    Args:
        sizes: (train, valid, test); the task's defaults when None.
    """
    n_train, n_valid, n_test = task.sizes if sizes is None else sizes
    if min(n_train, n_valid, n_test) < 0:
        raise ValueError(f"make_splits: sizes must be >= 0, got {sizes}")
    rng = np.random.default_rng([seed, _stable_hash(task.name)])
    heldout, train = task.generate(rng, n_test + n_valid, n_train)
    return Splits(train=train, valid=heldout[n_test:], test=heldout[:n_test])


def _stable_hash(text: str) -> int:
    """A hash of ``text`` that is the same in every process (``hash()`` is salted)."""
    return int.from_bytes(text.encode("utf-8")[:16].ljust(16, b"\0"), "little") % (2 ** 63)


def build_vocabs(task: Task, pairs: Iterable[Pair]) -> tuple[Vocab, Vocab]:
    """Source and target vocabularies of the tokens seen in ``pairs`` (the training set)."""
    pairs = list(pairs)
    return (Vocab(t for source, _ in pairs for t in task.source_tokens(source)),
            Vocab(t for _, target in pairs for t in task.target_tokens(target)))


# ---------------------------------------------------------------------------------------------
# Batches.


@dataclass
class Batch:
    """A padded, time-major batch (the layout of ``rnn.seq2seq``).

    Attributes:
        src: (L_src, N) int64 source ids, padded with <pad> (0).
        src_lengths: (N,) each source's length.
        tgt: (L_tgt, N) int64 target ids ``<bos> y_1 ... y_m <eos>`` then <pad>.
        pairs: the N (source, target) strings.
    """

    src: np.ndarray
    src_lengths: np.ndarray
    tgt: np.ndarray
    pairs: list[Pair]

    @property
    def target_tokens(self) -> int:
        """The number of real target tokens predicted (each <eos> included)."""
        return int((self.tgt[1:] != PAD).sum())


def encode_batch(task: Task, pairs: Sequence[Pair], source_vocab: Vocab,
                 target_vocab: Vocab) -> Batch:
    """Pads and stacks ``pairs`` into a ``Batch``. An empty source is refused."""
    sources = [source_vocab.encode(task.source_tokens(s)) for s, _ in pairs]
    targets = [target_vocab.encode(task.target_tokens(t), bos=True, eos=True) for _, t in pairs]
    if any(not ids for ids in sources):
        raise ValueError("encode_batch: a source has no tokens")
    lengths = np.array([len(ids) for ids in sources], dtype=np.int64)
    src = np.full((lengths.max(), len(pairs)), PAD, dtype=np.int64)
    tgt = np.full((max(map(len, targets)), len(pairs)), PAD, dtype=np.int64)
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        src[:len(s), i] = s
        tgt[:len(t), i] = t
    return Batch(src, lengths, tgt, list(pairs))


def batches(task: Task, pairs: Sequence[Pair], source_vocab: Vocab, target_vocab: Vocab,
            batch_size: int, rng: np.random.Generator | None = None) -> Iterator[Batch]:
    """``pairs`` in batches of ``batch_size`` (the last may be smaller), shuffled by ``rng``
    when given, in order otherwise."""
    order = np.arange(len(pairs)) if rng is None else rng.permutation(len(pairs))
    for start in range(0, len(pairs), batch_size):
        chunk = [pairs[i] for i in order[start:start + batch_size]]
        yield encode_batch(task, chunk, source_vocab, target_vocab)
