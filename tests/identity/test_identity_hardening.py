"""Identity files under hostile testing: what the program writes it always reads
back, and what it refuses it refuses with a clear message (exit 2), never a traceback."""
from __future__ import annotations

import json
import os
import struct
from dataclasses import replace

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import load_identity, save_identity
from canvas_app.identity.files import METADATA_KEY, identity_from_bytes, identity_to_bytes

from test_identity_files import _meta, _rewrite, _set


def test_every_header_length_mod_256_reads_back(eileen, tmp_path):
    """A header 128 bytes long mod 256 starts the file with byte 0x80, a pickle's first
    byte: the file must still be read as the safetensors file it is."""
    seen = set()
    for extra in range(600):
        data = identity_to_bytes(replace(eileen, notes="n" * extra))
        (size,) = struct.unpack("<Q", data[:8])
        if size % 256 in seen:
            continue
        seen.add(size % 256)
        path = tmp_path / f"notes{extra}.identity.safetensors"
        save_identity(replace(eileen, notes="n" * extra), path)
        assert load_identity(path).notes == "n" * extra, size % 256
        if len(seen) == 32:
            break
    # safetensors pads its header to a multiple of 8: these are all the lengths mod 256.
    assert seen == set(range(0, 256, 8)) and 128 in seen


def test_the_header_parser_takes_every_header_length(eileen):
    """Headers of every length mod 256 (padded with JSON whitespace, as another
    writer may do) are parsed as headers, never mistaken for pickles."""
    from canvas_app.identity.files import _read_header

    good = identity_to_bytes(eileen)
    (size,) = struct.unpack("<Q", good[:8])
    header = good[8:8 + size].rstrip()
    for residue in range(256):
        padded = header + b" " * ((residue - len(header)) % 256)
        data = struct.pack("<Q", len(padded)) + padded + good[8 + size:]
        assert len(padded) % 256 == residue
        _header, metadata = _read_header(data)
        assert metadata["name"] == "Eileen"


def test_a_pickle_starting_like_a_header_is_still_refused(tmp_path):
    import pickle

    for protocol in range(0, pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.safetensors"
        path.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=protocol))
        with pytest.raises(BadInput, match="pickled|not a|too short|identity"):
            load_identity(path)


def _raw_quality(good: bytes, text: str) -> bytes:
    """The file with sample 0's quality written as the raw JSON number `text`."""
    (size,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8:8 + size])
    metadata = header["__metadata__"][METADATA_KEY].replace(
        '"quality": ', '"quality": ' + text + ', "was": ', 1)
    assert metadata != header["__metadata__"][METADATA_KEY]
    return _rewrite(good, lambda tensors, meta: meta.update(json.loads(metadata)))


@pytest.mark.parametrize("label", ["quality 1e400", "quality 10**400", "wrong dlib size",
                                   "1x1 portrait", "landmarks 1e30", "face box 1e30"])
def test_hostile_identity_fields_are_bad_input(eileen, tmp_path, label):
    good = identity_to_bytes(eileen)
    two_unit = np.zeros(64, np.float32)
    two_unit[0] = 1
    data = {
        "quality 1e400": lambda: _raw_quality(good, "1e400"),
        "quality 10**400": lambda: _raw_quality(good, "1" + "0" * 400),
        "wrong dlib size": lambda: _rewrite(good, lambda tensors, meta: (
            tensors.update({"embeddings.0": two_unit}), meta.update(embedding_sizes=[64]),
            meta.update(samples=[]), meta.pop("identity_id", None))),
        "1x1 portrait": lambda: _rewrite(good, _set("portrait", np.zeros((1, 1, 3), np.uint8))),
        "landmarks 1e30": lambda: _rewrite(good, _set("portrait_landmarks",
                                                      np.full((5, 2), 1e30, np.float32))),
        "face box 1e30": lambda: _rewrite(good, _meta(lambda m: m.update(
            portrait_face_box=[0, 0, 1e30, 1e30]))),
    }[label]()
    path = tmp_path / "hostile.identity.safetensors"
    path.write_bytes(data)
    with pytest.raises(BadInput) as error:
        load_identity(path)
    assert str(path) in str(error.value)


def test_identity_file_problems_are_found_by_validate(eileen, tmp_path, capsys):
    """What `validate` accepts must run: a bad identity file is refused by both."""
    from canvas_app.cli import main

    path = tmp_path / "tiny.identity.safetensors"
    path.write_bytes(_rewrite(identity_to_bytes(eileen),
                              _set("portrait", np.zeros((1, 1, 3), np.uint8))))
    project = {"format_version": 1, "nodes": [
        {"id": "lock", "type": "IdentityLock", "params": {"source": "file",
                                                          "identity_file": str(path)}}],
        "links": []}
    project_path = tmp_path / "p.canvas.json"
    project_path.write_text(json.dumps(project))
    assert main(["validate", str(project_path)]) == 2
    err = capsys.readouterr().err
    assert "tiny.identity.safetensors" in err and "identity_file" in err


def test_a_symlinked_identities_folder_is_refused(eileen, tmp_path):
    from canvas_app.identity import IdentityLibrary

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "identities").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(BadInput, match="symbolic link"):
        IdentityLibrary(project / "identities").save(eileen)
    assert not any(elsewhere.iterdir())


def test_a_library_file_with_an_unencodable_name_is_listed(eileen, tmp_path, capsys):
    from canvas_app.cli import main

    library = tmp_path / "library"
    library.mkdir()
    save_identity(eileen, library / "Eileen.identity.safetensors")
    bad_name = os.fsencode(str(library)) + b"/caf\xe9.identity.safetensors"
    with open(bad_name, "wb") as handle:
        handle.write(b"not an identity")
    assert main(["identity", "list", "--library", str(library)]) == 0
    out = capsys.readouterr().out
    assert "Eileen" in out and "caf" in out


def test_identity_from_bytes_never_raises_anything_but_a_clear_error(eileen):
    """Every single-byte corruption of the header region is refused cleanly."""
    from canvas_app.identity.files import _Damaged

    good = identity_to_bytes(eileen)
    (size,) = struct.unpack("<Q", good[:8])
    rng = np.random.default_rng(1)
    for position in rng.choice(8 + size, size=300, replace=False):
        damaged = bytearray(good)
        damaged[position] ^= 1 << int(rng.integers(8))
        try:
            identity_from_bytes(bytes(damaged))
        except _Damaged:
            pass
