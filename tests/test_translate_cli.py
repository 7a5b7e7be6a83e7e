"""examples/translate.py end to end: a tiny training run in a subprocess, then --translate,
and the error paths (missing or mismatched checkpoint, empty input, unknown characters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "translate.py"
sys.path.insert(0, str(SCRIPT.parent))
import translate  # noqa: E402

pytest.importorskip("num2words")
pytest.importorskip("sacrebleu")
pytest.importorskip("tqdm")
pytest.importorskip("matplotlib")

TINY = ["--task", "dates", "--steps", "12", "--train-size", "300", "--test-size", "40",
        "--hidden", "16", "--embed", "8", "--beam", "2", "--show", "2"]


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("translate")
    result = run(*TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr
    for expected in ("task dates", "test set", "greedy", "beam 2", "exact", "BLEU", "chrF",
                     "source", "reference", "saved"):
        assert expected in result.stdout, expected
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    return out


def test_training_writes_checkpoint_vocabularies_and_heatmap(trained):
    path = trained / "checkpoint.npz"
    assert (trained / "attention.png").stat().st_size > 1000
    # A plain npz, readable without pickle; the vocabularies are JSON token lists.
    with zipfile.ZipFile(path) as archive:
        assert "__minigrad__.npy" in archive.namelist()
    with np.load(path, allow_pickle=False) as raw:
        header = json.loads(str(raw["__minigrad__"][()]))
    assert header["tree"]["vocab"]["source"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    saved = mg.load(path)
    assert saved["task"]["name"] == "dates"
    assert saved["model_config"]["hidden"] == 16
    assert set(saved["metrics"]) == {"greedy", "beam 2"}
    assert {"exact", "token_accuracy", "bleu", "chrf"} <= set(saved["metrics"]["greedy"])


def test_translate_reloads_and_prints(trained):
    result = run("--out", str(trained), "--translate", "25th of November 2026", "Nov 25, 26")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith("source")] == ["source"] * 2
    assert sum(line.startswith("greedy") for line in lines) == 2
    assert sum(line.startswith("beam") for line in lines) == 2
    assert "unknown" not in result.stdout


def test_empty_input_is_refused_with_exit_code_2(trained):
    result = run("--out", str(trained), "--translate", "   ")
    assert result.returncode == 2
    assert "nothing to translate: the input is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_characters_are_mapped_to_unk_and_said_so(trained, capsys):
    assert translate.main(["--out", str(trained), "--beam", "1",
                           "--translate", "25 Nov 2026 €µ"]) == 0
    out = capsys.readouterr().out
    assert "2 unknown characters mapped to <unk>" in out and "'€', 'µ'" in out
    assert "greedy" in out


def test_heatmap_of_a_translation(trained, tmp_path, capsys):
    png = tmp_path / "one.png"
    assert translate.main(["--out", str(trained), "--beam", "1", "--heatmap", str(png),
                           "--translate", "1999.12.31"]) == 0
    assert png.stat().st_size > 1000


def test_missing_checkpoint(tmp_path, capsys):
    assert translate.main(["--out", str(tmp_path / "nothing"), "--translate", "x"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint at" in err and "train one first" in err


def test_checkpoint_of_another_task_or_shape(trained, tmp_path, capsys):
    assert translate.main(["--out", str(trained), "--task", "reverse", "--translate", "x"]) == 2
    assert "trained on task 'dates', not 'reverse'" in capsys.readouterr().err

    saved = mg.load(trained / "checkpoint.npz")
    saved["model_config"]["hidden"] = 32           # the weights no longer fit the settings
    (tmp_path / "bad").mkdir()
    mg.save(saved, tmp_path / "bad" / "checkpoint.npz")
    assert translate.main(["--out", str(tmp_path / "bad"), "--translate", "x"]) == 2
    assert "does not match the model it describes" in capsys.readouterr().err

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.npz").write_bytes(b"not a zip file")
    assert translate.main(["--out", str(tmp_path / "junk"), "--translate", "x"]) == 2
    assert "not a readable .npz checkpoint" in capsys.readouterr().err

    mg.save({"model": {}}, tmp_path / "other.npz")
    (tmp_path / "other").mkdir()
    os.replace(tmp_path / "other.npz", tmp_path / "other" / "checkpoint.npz")
    assert translate.main(["--out", str(tmp_path / "other"), "--translate", "x"]) == 2
    assert "not one written by translate.py" in capsys.readouterr().err


def test_bad_settings_are_reported_without_traceback(tmp_path, capsys):
    args = [*TINY, "--steps", "1", "--out", str(tmp_path)]
    assert translate.main([*args, "--attention", "luong-dot"]) == 2
    err = capsys.readouterr().err
    assert "cannot build this model" in err and "--no-bidirectional" in err
    assert translate.main([*args, "--schedule", "bogus"]) == 2
    assert "unknown schedule 'bogus'" in capsys.readouterr().err
    assert translate.main([*args, "--teacher-forcing", "1.5"]) == 2
    assert "must be in [0, 1]" in capsys.readouterr().err
