"""The toy translation tasks of examples/tasks.py: data, splits, vocabularies, batches."""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import tasks as T  # noqa: E402

pytest.importorskip("num2words")

# Small sizes keep the number tasks (num2words is slow-ish) fast.
SMALL = (400, 50, 100)


def _strip_ordinal(text: str) -> str:
    """'25th of November' -> '25 of November', checking each suffix is the right one."""
    def check(match: re.Match) -> str:
        day, suffix = int(match.group(1)), match.group(2)
        expected = "th" if day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10,
                                                                                   "th")
        assert suffix == expected, f"{day}{suffix} in {text!r}"
        return match.group(1)
    return re.sub(r"\b(\d+)(st|nd|rd|th)\b", check, text)


def _weekday_checked(fmt: str, abbreviated: bool):
    def parse(text: str) -> dt.date:
        date = dt.datetime.strptime(text, fmt).date()  # strptime ignores a wrong weekday...
        name = text.split()[0].rstrip(",")
        assert name == date.strftime("%a" if abbreviated else "%A"), text  # ...so check it
        return date
    return parse


def _strptime(fmt: str, ordinal: bool = False):
    def parse(text: str) -> dt.date:
        return dt.datetime.strptime(_strip_ordinal(text) if ordinal else text, fmt).date()
    return parse


# An independent reading of every format with the standard library (%y uses the same
# 1969-2068 window as the tasks).
PARSERS = {
    "ordinal of month year": _strptime("%d of %B %Y", ordinal=True),
    "Mon d, yy": _strptime("%b %d, %y"),
    "dd/mm/yyyy": _strptime("%d/%m/%Y"),
    "weekday d month year": _weekday_checked("%A %d %B %Y", abbreviated=False),
    "yyyy.mm.dd": _strptime("%Y.%m.%d"),
    "month dth, year": _strptime("%B %d, %Y", ordinal=True),
    "d mon yyyy": _strptime("%d %b %Y"),
    "Wkd, d Mon yyyy": _weekday_checked("%a, %d %b %Y", abbreviated=True),
    "DD MONTH YYYY": _strptime("%d %B %Y"),
    "dd.mm.yy": _strptime("%d.%m.%y"),
    "yyyymmdd": _strptime("%Y%m%d"),
    "yyyy-mm-dd": _strptime("%Y-%m-%d"),
}


def _readings(text: str) -> set[dt.date]:
    """Every date that some format's parser reads in ``text``."""
    dates = set()
    for parse in PARSERS.values():
        try:
            dates.add(parse(text))
        except ValueError:
            pass
    return dates


def _some_dates() -> list[dt.date]:
    rng = np.random.default_rng(1)
    days = (T.LAST_DATE - T.FIRST_DATE).days
    edges = [T.FIRST_DATE, T.LAST_DATE, dt.date(2000, 2, 29), dt.date(1999, 12, 31),
             dt.date(2026, 11, 25)] + [dt.date(2021, 3, d) for d in (1, 2, 3, 4, 11, 12, 13,
                                                                      21, 22, 23, 31)]
    return edges + [T.FIRST_DATE + dt.timedelta(days=int(d)) for d in rng.integers(days, size=300)]


def test_every_date_format_is_read_back_by_the_standard_library():
    assert set(PARSERS) == set(T.DATE_FORMATS)
    for name, parse in PARSERS.items():
        for date in _some_dates():
            text = T.format_date(date, name)
            assert parse(text) == date, (name, text)


def test_date_formats_are_unambiguous_across_formats():
    # Whatever format a source was written in, every format that can read it reads one date.
    for name in T.DATE_FORMATS:
        for date in _some_dates()[:120]:
            assert _readings(T.format_date(date, name)) == {date}, (name, date)


def test_date_examples_of_the_brief():
    date = dt.date(2026, 11, 25)
    assert T.format_date(date, "ordinal of month year") == "25th of November 2026"
    assert T.format_date(date, "Mon d, yy") == "Nov 25, 26"
    assert T.format_date(date, "dd/mm/yyyy") == "25/11/2026"
    assert T.format_date(date, "weekday d month year") == "Wednesday 25 November 2026"
    assert T.format_date(date, "yyyy.mm.dd") == "2026.11.25"
    assert T.format_date(date, "month dth, year") == "November 25th, 2026"
    with pytest.raises(ValueError, match="window"):
        T.format_date(dt.date(1968, 12, 31), "dd.mm.yy")


def test_dates_dataset_targets_are_the_iso_dates_of_their_sources():
    splits = T.make_splits(T.get_task("dates"), seed=3, sizes=SMALL)
    for source, target in splits.train + splits.valid + splits.test:
        assert _readings(source) == {dt.date.fromisoformat(target)}, source


@pytest.mark.parametrize("name", list(T.TASKS))
def test_splits_are_disjoint_reproducible_and_round_trip(name):
    params = {"max_number": 9_999} if name in ("en-fr-numbers", "digits-en") else {}
    task = T.get_task(name, **params)
    splits = T.make_splits(task, seed=0, sizes=SMALL)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == SMALL
    train, valid, test = ({s for s, _ in getattr(splits, part)}
                          for part in ("train", "valid", "test"))
    assert len(train) == SMALL[0] and len(valid) == SMALL[1] and len(test) == SMALL[2]
    assert not train & test and not train & valid and not valid & test
    again = T.make_splits(T.get_task(name, **params), seed=0, sizes=SMALL)
    assert again == splits
    assert T.make_splits(task, seed=1, sizes=SMALL).test != splits.test
    # The test set does not move when the training set grows.
    assert T.make_splits(task, seed=0, sizes=(SMALL[0] * 2, *SMALL[1:])).test == splits.test
    for source, target in splits.test + splits.train[:100]:
        assert T.join(task.source_tokens(source), task.source_level) == source
        assert T.join(task.target_tokens(target), task.target_level) == target


def test_algorithmic_targets():
    reverse = T.make_splits(T.get_task("reverse"), sizes=SMALL)
    assert all(t == s[::-1] and 5 <= len(s) <= 15 for s, t in reverse.train)
    long = T.make_splits(T.get_task("reverse", min_len=20, max_len=30), sizes=SMALL)
    assert {len(s) for s, _ in long.train} <= set(range(20, 31))
    assert all(t == "".join(sorted(s)) for s, t in T.make_splits(T.get_task("sort"),
                                                                  sizes=SMALL).train)
    for source, target in T.make_splits(T.get_task("addition"), sizes=SMALL).train:
        a, b = source.split("+")
        assert int(target) == int(a) + int(b)


def test_french_numbers_known_cases_and_word_tokens():
    assert T.number_words(71, "fr") == "soixante et onze"
    assert T.number_words(80, "fr") == "quatre-vingts"
    assert T.number_words(21, "fr") == "vingt et un"
    assert T.number_words(80_000, "fr") == "quatre-vingt mille"
    assert T.number_words(71, "en") == "seventy-one"
    assert T.tokenize("quatre-vingts", "word") == ["quatre", "-", "vingts"]
    assert T.tokenize("one thousand, two", "word") == ["one", "thousand", ",", "two"]
    tokens = ["quatre", "-", "vingt", "-", "dix", "mille"]
    assert T.join(tokens, "word") == "quatre-vingt-dix mille"
    task = T.get_task("en-fr-numbers", max_number=999)
    french = {T.number_words(n, "en"): T.number_words(n, "fr") for n in range(1000)}
    splits = T.make_splits(task, sizes=(400, 20, 50))
    assert all(french[en] == fr for en, fr in splits.train + splits.test)
    # Training draws each number of digits alike (a third of 400 from the 90 two-digit
    # numbers), where a uniform draw would give 4 one-digit and 36 two-digit numbers.
    held_out = {s for s, _ in splits.valid + splits.test}
    train = {s for s, _ in splits.train}
    assert {T.number_words(n, "en") for n in range(10)} - held_out <= train
    assert len({T.number_words(n, "en") for n in range(100)} & train) >= 80


def test_number_split_too_large_is_refused():
    with pytest.raises(ValueError, match="holds only"):
        T.make_splits(T.get_task("digits-en", max_number=99), sizes=(90, 10, 10))


def test_vocab_round_trip_specials_and_unknowns(tmp_path):
    vocab = T.Vocab("hello world")
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (T.PAD, T.BOS, T.EOS, T.UNK) == (0, 1, 2, 3)
    ids = vocab.encode("hello", bos=True, eos=True)
    assert ids[0] == T.BOS and ids[-1] == T.EOS and T.UNK not in ids
    assert vocab.decode(ids + [T.PAD, T.PAD]) == list("hello")
    assert vocab.decode([vocab.index["h"], T.EOS, vocab.index["e"]]) == ["h"]  # stops at <eos>
    assert vocab.encode("hex!") == [vocab.index["h"], vocab.index["e"], T.UNK, T.UNK]
    assert vocab.unknown("hex!x") == ["x", "!"]
    assert vocab.decode(vocab.encode("hex")) == ["h", "e", "<unk>"]
    assert T.Vocab("olleh dlrow") == vocab  # sorted: the same tokens give the same ids

    mg.save({"vocab": {"source": vocab.tokens}}, tmp_path / "v.npz")
    loaded = T.Vocab.from_tokens(mg.load(tmp_path / "v.npz")["vocab"]["source"])
    assert loaded == vocab and loaded.encode("world") == vocab.encode("world")
    with pytest.raises(ValueError, match="must start with"):
        T.Vocab.from_tokens(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        T.Vocab.from_tokens([*T.SPECIALS, "a", "a"])


def test_batches_are_time_major_padded_and_framed():
    task = T.get_task("reverse")
    splits = T.make_splits(task, sizes=SMALL)
    source_vocab, target_vocab = T.build_vocabs(task, splits.train)
    batch = next(T.batches(task, splits.train, source_vocab, target_vocab, 8))
    lengths = [len(s) for s, _ in splits.train[:8]]
    assert batch.src.shape == (max(lengths), 8) and batch.src.dtype == np.int64
    assert batch.src_lengths.tolist() == lengths
    assert batch.tgt.shape == (max(lengths) + 2, 8)
    for i, (source, target) in enumerate(batch.pairs):
        assert source_vocab.decode(batch.src[:, i]) == list(source)
        assert (batch.src[len(source):, i] == T.PAD).all()
        assert batch.tgt[0, i] == T.BOS and batch.tgt[len(target) + 1, i] == T.EOS
        assert target_vocab.decode(batch.tgt[:, i]) == list(target)
    assert batch.target_tokens == sum(lengths) + 8
    shuffled = list(T.batches(task, splits.train, source_vocab, target_vocab, 64,
                              np.random.default_rng(0)))
    assert sum(len(b.pairs) for b in shuffled) == len(splits.train)
    assert sorted(p for b in shuffled for p in b.pairs) == sorted(splits.train)
