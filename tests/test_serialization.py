"""Tests of minigrad.serialization: .npz checkpoints without pickle, and clear failures."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.serialization import FORMAT_KEY, load, save


def _checkpoint():
    return {
        "model": {"fc.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "fc.bias": mg.tensor([0.5, -0.5], dtype=np.float64),
                  "steps": np.array([3], dtype=np.int64),
                  "mask": np.array([True, False])},
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999),
                                                     "params": [0, 1], "nesterov": False}]},
        "meta": {"epoch": 7, "name": "run-α", "best": None, "loss": float("inf"),
                 "vocab": ["<pad>", "a"], "step": np.int64(12)},
        "scalar": np.array(2.5),
    }


def test_round_trip_rebuilds_nesting_values_and_dtypes(tmp_path):
    path = tmp_path / "ckpt.npz"
    save(_checkpoint(), path)
    loaded = load(path)
    assert list(loaded) == ["model", "optimizer", "meta", "scalar"]
    model = loaded["model"]
    assert list(model) == ["fc.weight", "fc.bias", "steps", "mask"]
    np.testing.assert_array_equal(model["fc.weight"], np.arange(6).reshape(2, 3))
    assert model["fc.weight"].dtype == np.float32 and model["fc.bias"].dtype == np.float64
    assert type(model["fc.bias"]) is np.ndarray  # Tensors come back as arrays
    assert model["steps"].dtype == np.int64 and model["mask"].dtype == np.bool_
    assert loaded["optimizer"] == {"state": {}, "param_groups": [
        {"lr": 0.1, "betas": [0.9, 0.999], "params": [0, 1], "nesterov": False}]}
    assert loaded["meta"] == {"epoch": 7, "name": "run-α", "best": None, "loss": float("inf"),
                              "vocab": ["<pad>", "a"], "step": 12}
    assert loaded["scalar"].shape == () and loaded["scalar"] == 2.5


def test_file_is_a_plain_npz_at_exactly_the_given_path(tmp_path):
    path = tmp_path / "weights.ckpt"  # no .npz suffix is added
    save(_checkpoint(), str(path))
    assert os.listdir(tmp_path) == ["weights.ckpt"]  # and no temporary file is left
    with np.load(path, allow_pickle=False) as archive:
        assert "model/fc.weight" in archive.files and FORMAT_KEY in archive.files
        assert archive[FORMAT_KEY].dtype.kind == "U"  # metadata is text, not a pickle
        np.testing.assert_array_equal(archive["model/steps"], [3])
    assert load(path)["meta"]["epoch"] == 7


def test_model_and_optimizer_checkpoint_restores_training_state(tmp_path):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Linear(4, 2))
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loss = model(mg.tensor([[1, 2, 0]])).sum()
    loss.backward()
    optimizer.step()
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict()},
         tmp_path / "c.npz")
    fresh = nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Linear(4, 2))
    fresh_optimizer = optim.Adam(fresh.parameters())
    checkpoint = load(tmp_path / "c.npz")
    fresh.load_state_dict(checkpoint["model"])
    fresh_optimizer.load_state_dict(checkpoint["optimizer"])
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert fresh_optimizer.state[fresh[1].weight]["step"] == 1
    np.testing.assert_array_equal(fresh_optimizer.state[fresh[1].weight]["exp_avg"],
                                  optimizer.state[model[1].weight]["exp_avg"])


# ---------------------------------------------------------------- failures on load
def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="no such checkpoint file.*nope.npz"):
        load(path)


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    save(_checkpoint(), path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match="ckpt.npz.*truncated"):
        load(path)


def test_corrupted_array_bytes(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(1000, dtype=np.float64)}, path)
    data = bytearray(path.read_bytes())
    start = data.find(np.arange(1000, dtype=np.float64)[500:].tobytes()[:16])
    data[start:start + 8] = b"\xff" * 8  # flip bytes inside the array: the CRC no longer fits
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="ckpt.npz.*corrupt"):
        load(path)


def test_foreign_npz_is_refused_with_its_contents_named(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3), bias=np.zeros(2))
    with pytest.raises(ValueError, match="foreign.npz.*not written by minigrad.save.*weights"):
        load(path)


def test_other_formats_are_refused(tmp_path):
    npy = tmp_path / "array.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(ValueError, match="array.npy.*single .npy array"):
        load(npy)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt.*not a readable .npz"):
        load(text)
    bad_marker = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad_marker, "w") as archive, \
            archive.open(FORMAT_KEY + ".npy", "w") as entry:
        np.lib.format.write_array(entry, np.array('{"format": "other"}'))
    with pytest.raises(ValueError, match="not a minigrad format marker"):
        load(bad_marker)


# ---------------------------------------------------------------- failures on save
@pytest.mark.parametrize("obj, error, message", [
    ([np.ones(2)], TypeError, "expected a dict"),
    ({1: np.ones(2)}, TypeError, "keys must be strings"),
    ({"a": {"b": object()}}, TypeError, "cannot store a value of type object at 'a/b'"),
    ({"a": np.array([object()])}, ValueError, "Python objects"),
    ({"a/b": np.ones(1), "a": {"b": np.ones(1)}}, ValueError, "map to the name 'a/b'"),
    ({FORMAT_KEY: np.ones(1)}, ValueError, "__minigrad__"),
])
def test_unstorable_objects_are_refused_and_nothing_is_written(tmp_path, obj, error, message):
    path = tmp_path / "ckpt.npz"
    with pytest.raises(error, match=message):
        save(obj, path)
    assert not os.listdir(tmp_path)


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.ones(2)}, path)
    with pytest.raises(TypeError):
        save({"w": np.zeros(2), "bad": {1, 2}}, path)
    np.testing.assert_array_equal(load(path)["w"], np.ones(2))
    assert os.listdir(tmp_path) == ["ckpt.npz"]
