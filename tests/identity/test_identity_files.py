"""Identity files: exact round trip, atomic save, and clean refusal of anything else."""
from __future__ import annotations

import json
import os
import pickle
import struct
from dataclasses import fields, replace

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import load_identity, save_identity
from canvas_app.identity.files import METADATA_KEY, identity_to_bytes


def assert_identical(a, b):
    for item in fields(a):
        left, right = getattr(a, item.name), getattr(b, item.name)
        if item.name == "embeddings":
            assert list(left) == list(right)
            for key in left:
                assert left[key].dtype == right[key].dtype
                assert left[key].tobytes() == right[key].tobytes()
        elif item.name == "samples":
            assert len(left) == len(right)
            for x, y in zip(left, right):
                for sample_field in fields(x):
                    u, v = getattr(x, sample_field.name), getattr(y, sample_field.name)
                    if sample_field.name == "embeddings":
                        assert list(u) == list(v)
                        assert all(u[k].tobytes() == v[k].tobytes() and u[k].dtype == v[k].dtype
                                   for k in u)
                    elif isinstance(u, np.ndarray):
                        assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v)
                    else:
                        assert u == v and type(u) is type(v), sample_field.name
        elif isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
            assert left.dtype == right.dtype and left.shape == right.shape
            assert left.tobytes() == right.tobytes()
        else:
            assert left == right, item.name
    assert a.identity_id == b.identity_id


def test_round_trip_is_exact(eileen, tmp_path):
    path = save_identity(eileen, tmp_path / "eileen.safetensors")
    loaded = load_identity(path)
    assert_identical(eileen, loaded)
    assert isinstance(loaded.portrait_face_box, tuple)
    # ...and saving the loaded identity gives the same bytes.
    assert identity_to_bytes(loaded) == path.read_bytes()


def test_round_trip_keeps_excluded_samples_and_notes(eileen, tmp_path):
    flagged = replace(eileen, samples=[replace(eileen.samples[0]),
                                       replace(eileen.samples[1], included=False,
                                               note="left out: ünïcode ✓ note",
                                               similarity=0.123456789)],
                      notes="two samples", portrait=None, portrait_landmarks=None,
                      portrait_face_box=None)
    loaded = load_identity(save_identity(flagged, tmp_path / "x.safetensors"))
    assert_identical(flagged, loaded)
    assert loaded.portrait is None and not loaded.samples[1].included


def test_metadata_is_readable_json_in_the_safetensors_header(eileen, tmp_path):
    from safetensors import safe_open

    path = save_identity(eileen, tmp_path / "eileen.safetensors")
    with safe_open(str(path), framework="np") as handle:
        metadata = json.loads(handle.metadata()[METADATA_KEY])
        keys = set(handle.keys())
    assert metadata["format_version"] == 1 and metadata["name"] == "Eileen"
    assert metadata["encoders"] == ["dlib"] and metadata["embedding_sizes"] == [128]
    assert [s["source_name"] for s in metadata["samples"]] == [s.source_name
                                                               for s in eileen.samples]
    assert all(len(s["source_sha256"]) == 64 for s in metadata["samples"])
    assert metadata["created"] == eileen.created
    assert {"embeddings.0", "samples.0.embeddings.0", "samples.0.thumbnail", "portrait",
            "portrait_landmarks"} <= keys


def test_save_is_atomic_and_leaves_no_temp_files(eileen, tmp_path, monkeypatch):
    path = tmp_path / "eileen.safetensors"
    save_identity(eileen, path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    other = replace(eileen, name="Someone else")
    with pytest.raises(BadInput) as error:
        save_identity(other, path)
    assert "No space left" in str(error.value)
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eileen.safetensors"]


# ----------------------------------------------------------------------------- hostile files

def _rewrite(data: bytes, mutate) -> bytes:
    """Re-encode a valid file after mutating its tensors and metadata dicts."""
    from safetensors.numpy import load, save

    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    metadata = json.loads(header["__metadata__"][METADATA_KEY])
    tensors = dict(load(data))
    mutate(tensors, metadata)
    return save(tensors, metadata={METADATA_KEY: json.dumps(metadata)})


def _set(key, value):
    def mutate(tensors, metadata):
        tensors[key] = value
    return mutate


def _drop(key):
    def mutate(tensors, metadata):
        del tensors[key]
    return mutate


def _meta(change):
    def mutate(tensors, metadata):
        change(metadata)
    return mutate


class _Exploit:
    def __reduce__(self):
        return (open, ("/tmp/canvas_app_identity_pwned", "w"))


def _hostile_cases(good: bytes):
    nan = np.full(128, np.nan, dtype=np.float32)
    unnormalised = np.ones(128, dtype=np.float32)
    other = np.zeros(128, dtype=np.float32)
    other[0] = 1
    return {
        "empty": (b"", "too short"),
        "random bytes": (os.urandom(4096), "identity"),
        "truncated": (good[:len(good) // 2], "arrays cannot be read"),
        "truncated header": (good[:100], "truncated"),
        "huge header": (struct.pack("<Q", 2 ** 40) + b"{}", "header claims"),
        "not json": (struct.pack("<Q", 8) + b"\xff" * 8, "not valid JSON"),
        "pickle": (pickle.dumps(_Exploit()), "pickled"),
        "torch zip": (b"PK\x03\x04" + os.urandom(200), "pickled"),
        "plain safetensors": (_plain_safetensors(), "no canvas-app identity metadata"),
        "wrong shape": (_rewrite(good, _set("embeddings.0", np.ones(64, np.float32) / 8)),
                        "wrong shape"),
        "wrong dtype": (_rewrite(good, _set("embeddings.0", np.ones(128) / np.sqrt(128))),
                        "dtype float64"),
        "NaN": (_rewrite(good, _set("embeddings.0", nan)), "NaN"),
        "not normalised": (_rewrite(good, _set("embeddings.0", unnormalised)), "not normalised"),
        "swapped embedding": (_rewrite(good, _set("embeddings.0", other)), "altered or damaged"),
        "missing embedding": (_rewrite(good, _drop("embeddings.0")), "missing"),
        "missing thumbnail": (_rewrite(good, _drop("samples.1.thumbnail")), "missing"),
        "thumbnail floats": (_rewrite(good, _set("samples.0.thumbnail",
                                                 np.zeros((150, 150, 3), np.float32))), "dtype"),
        "huge image": (_rewrite(good, _set("portrait", np.zeros((5000, 2, 3), np.uint8))),
                       "wrong shape"),
        "landmarks NaN": (_rewrite(good, _set("portrait_landmarks",
                                              np.full((5, 2), np.nan, np.float32))), "NaN"),
        "newer format": (_rewrite(good, _meta(lambda m: m.update(format_version=99))), "newer"),
        "no name": (_rewrite(good, _meta(lambda m: m.pop("name"))), "'name'"),
        "bad sizes": (_rewrite(good, _meta(lambda m: m.update(embedding_sizes=[10 ** 9]))),
                      "embedding sizes"),
        "bad encoder index": (_rewrite(good, _meta(lambda m: m["samples"][0].update(
            encoders=[7]))), "invalid encoders"),
        "quality text": (_rewrite(good, _meta(lambda m: m["samples"][0].update(
            quality="high"))), "'quality'"),
        "samples not a list": (_rewrite(good, _meta(lambda m: m.update(samples={"a": 1}))),
                               "sample list"),
    }


def _plain_safetensors() -> bytes:
    from safetensors.numpy import save

    return save({"weight": np.zeros(4, np.float32)})


def test_damaged_and_hostile_files_fail_cleanly(eileen, tmp_path):
    good = identity_to_bytes(eileen)
    marker = "/tmp/canvas_app_identity_pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    for label, (data, words) in _hostile_cases(good).items():
        path = tmp_path / f"{label.replace(' ', '_')}.safetensors"
        path.write_bytes(data)
        with pytest.raises(BadInput) as error:
            load_identity(path)
        message = str(error.value)
        assert error.value.file == str(path), label
        assert str(path) in message, label
        assert words in message, (label, message)
    assert not os.path.exists(marker), "a pickle was executed"


def test_missing_file_and_folder_are_bad_input(tmp_path):
    with pytest.raises(BadInput) as error:
        load_identity(tmp_path / "nope.safetensors")
    assert "not found" in str(error.value)
    with pytest.raises(BadInput):
        load_identity(tmp_path)


def test_saving_refuses_what_loading_would_refuse(eileen, tmp_path):
    bad = replace(eileen, embeddings={"dlib": eileen.embeddings["dlib"] * 2})
    with pytest.raises(BadInput) as error:
        save_identity(bad, tmp_path / "bad.safetensors")
    assert "not an L2-normalised" in str(error.value)
    bad = replace(eileen, portrait=eileen.portrait.astype(np.float32))
    with pytest.raises(BadInput):
        save_identity(bad, tmp_path / "bad.safetensors")
    assert not any(tmp_path.iterdir())
