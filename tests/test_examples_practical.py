"""Smoke tests of examples/char_lm.py and examples/forecast.py with tiny settings: each runs
in a second or two, in process (through ``main(argv)``) or as a subprocess where the exit
status matters."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TINY_LM = ["--max-chars", "6000", "--hidden", "16", "--embed", "8", "--batch", "4",
           "--bptt", "16", "--epochs", "1", "--sample-length", "60", "--seed", "5"]
TINY_FORECAST = ["--steps", "1000", "--window", "24", "--horizon", "6", "--hidden", "8",
                 "--epochs", "2", "--seed", "1"]


def _load(name: str):
    """Imports examples/<name>.py as a module, without letting its thread setting leak into
    the environment of this test process. (Its malloc setting, process-wide and harmless, does
    stay: freed memory is kept for reuse.)"""
    saved = dict(os.environ)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


@pytest.fixture(scope="module")
def char_lm():
    return _load("char_lm")


@pytest.fixture(scope="module")
def forecast():
    return _load("forecast")


def _sample(stdout: str) -> str:
    start = stdout.index("--- sample")
    return stdout[stdout.index("\n", start) + 1:stdout.index("--- end of sample ---")]


# -------------------------------------------------------------------------------- char_lm
def test_char_lm_trains_saves_and_reloads_to_the_same_samples(char_lm, tmp_path, capsys):
    checkpoint = tmp_path / "lm.npz"
    assert char_lm.main([*TINY_LM, "--save", str(checkpoint), "--cell", "gru"]) == 0
    out = capsys.readouterr().out
    assert "corpus: Python's help topics" in out and "validation" in out and "bpc" in out
    first = _sample(out)
    assert first.startswith("The ") and len(first) > 60

    assert char_lm.main(["--load", str(checkpoint), "--seed", "5", "--sample-length", "60"]) == 0
    out = capsys.readouterr().out
    assert "loaded" in out and "GRU" in out
    assert _sample(out) == first
    # another seed, another sample (the sampling really is random)
    char_lm.main(["--load", str(checkpoint), "--seed", "6", "--sample-length", "60"])
    assert _sample(capsys.readouterr().out) != first


def test_char_lm_checkpoint_is_plain_npz(char_lm, tmp_path):
    checkpoint = tmp_path / "lm.npz"
    char_lm.main([*TINY_LM, "--save", str(checkpoint), "--sample-length", "1"])
    with np.load(checkpoint, allow_pickle=False) as archive:  # no pickle anywhere
        assert "model/rnn.weight_hh_l0.npy" in [f + ".npy" for f in archive.files]
    import minigrad as mg

    loaded = mg.load(checkpoint)
    assert loaded["config"]["cell"] == "lstm" and loaded["config"]["hidden"] == 16
    assert len(loaded["vocab"]) == loaded["config"]["vocab_size"]
    assert loaded["metrics"]["val_bpc"] < loaded["metrics"]["start_val_bpc"]


def test_char_lm_text_file_and_unknown_prompt(char_lm, tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    status = char_lm.main(["--text", str(text), "--hidden", "8", "--embed", "4", "--batch", "2",
                           "--bptt", "8", "--epochs", "1", "--save", "", "--prompt", "Zebra"])
    assert status == 2
    captured = capsys.readouterr()
    assert "not in the vocabulary: 'Zbr'" in captured.err
    assert "model:" not in captured.out  # refused before training


def test_char_lm_sampling_helpers(char_lm):
    rng = np.random.default_rng(0)
    logits = np.array([0.0, 5.0, 1.0])
    assert char_lm.pick(logits, 0.0, rng) == 1
    draws = [char_lm.pick(logits, 1e-3, rng) for _ in range(20)]
    assert set(draws) == {1}
    vocab = char_lm.Vocabulary.from_text("hello")
    assert vocab.decode(vocab.encode("hole")) == "hole"
    streams = char_lm.as_streams(np.arange(10), 3)
    assert streams.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


def test_char_lm_no_detach_fails_at_the_second_chunk():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "char_lm.py"), *TINY_LM, "--no-detach", "--save", ""],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert "stopped at chunk 2 of epoch 1" in result.stderr
    assert "rnn.detach_state" in result.stderr and "freed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "--- sample" not in result.stdout


# ------------------------------------------------------------------------------- forecast
def test_forecast_runs_and_reports(forecast, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "forecast.png"
    assert forecast.main([*TINY_FORECAST, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for needle in ("naive: last value", "seasonal naive: 1 day earlier",
                   "seasonal naive: 1 week earlier", "oracle", "random split",
                   "The random split's figure is wrong", "streaming:"):
        assert needle in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_forecast_without_plot_does_not_import_matplotlib():
    code = ("import sys; sys.path.insert(0, 'examples'); import forecast; "
            f"status = forecast.main({[*TINY_FORECAST, '--plot', '', '--no-random-split']!r}); "
            "assert 'matplotlib' not in sys.modules; sys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "random split" not in result.stdout


def test_forecast_baselines_use_only_the_past(forecast):
    from rnn.timeseries import make_windows

    series = np.arange(400.0)
    windows = make_windows(series, window=30, horizon=10, target_start=200)
    daily = forecast.seasonal_naive(series, windows, 24)
    assert np.all(daily < windows.origins[:, None])           # values are their own times
    np.testing.assert_array_equal(daily[:, 0], windows.origins - 24)
    np.testing.assert_array_equal(forecast.seasonal_naive(series, windows, 1),
                                  np.repeat(windows.origins[:, None] - 1, 10, axis=1))
    long = make_windows(series, window=30, horizon=30, target_start=200)
    assert np.all(forecast.seasonal_naive(series, long, 24) < long.origins[:, None])
    with pytest.raises(ValueError, match="history"):
        forecast.seasonal_naive(series, make_windows(series, window=5, horizon=2), 168)


def test_forecast_oracle_is_the_floor(forecast):
    series = forecast.make_series(2000, seed=3)
    from rnn.timeseries import make_windows

    windows = make_windows(series, window=168, horizon=24)
    truth = windows.targets
    floor = forecast.errors(forecast.oracle(series, windows), truth)[0]
    for season in (1, 24, 168):
        assert floor < forecast.errors(forecast.seasonal_naive(series, windows, season),
                                       truth)[0]
