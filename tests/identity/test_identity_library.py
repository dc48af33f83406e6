"""The identity library: list, save, load, delete; names can never escape the folder."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from canvas_app.errors import BadInput
from canvas_app.identity import IdentityLibrary, project_library, user_library


def test_save_list_load_delete(eileen, tmp_path):
    library = IdentityLibrary(tmp_path / "lib")
    assert library.list() == []
    path = library.save(eileen)
    assert path.parent == tmp_path / "lib" and path.is_file()
    library.save(replace(eileen, name="Eileen (older)"))

    entries = library.list()
    assert [e.name for e in entries] == ["Eileen", "Eileen (older)"]
    entry = entries[0]
    assert entry.identity_id == entry.id == eileen.identity_id
    assert entry.created == eileen.created and entry.encoders == ["dlib"]
    best = max((s for s in eileen.samples if s.included), key=lambda s: s.quality)
    assert entry.thumbnail is not None and np.array_equal(entry.thumbnail, best.thumbnail)
    assert not entry.error

    loaded = library.load("Eileen")
    assert loaded.identity_id == eileen.identity_id and loaded.name == "Eileen"
    assert "Eileen" in library and "Nobody" not in library

    library.delete("Eileen")
    assert [e.name for e in library.list()] == ["Eileen (older)"]
    with pytest.raises(BadInput) as error:
        library.load("Eileen")
    assert "no identity named 'Eileen'" in str(error.value)
    with pytest.raises(BadInput):
        library.delete("Eileen")


def test_save_does_not_overwrite_unless_asked(eileen, tmp_path):
    library = IdentityLibrary(tmp_path)
    library.save(eileen)
    changed = replace(eileen, notes="second version")
    with pytest.raises(BadInput) as error:
        library.save(changed)
    assert "already has an identity named 'Eileen'" in str(error.value)
    assert library.load("Eileen").notes == eileen.notes
    library.save(changed, overwrite=True)
    assert library.load("Eileen").notes == "second version"


@pytest.mark.parametrize("name", ["../../evil", "/etc/passwd", "..", ".", "a/b\\c", "C:evil",
                                  "con", "NUL.txt", "\u202eevil", "x" * 150, "日本語 名前"])
def test_names_never_leave_the_folder(eileen, tmp_path, name):
    folder = tmp_path / "lib"
    library = IdentityLibrary(folder)
    path = library.path_for(name)
    assert path.parent == folder
    assert "/" not in path.name and "\\" not in path.name and not path.name.startswith(".")
    assert len(path.name) < 120
    library.save(replace(eileen, name=name))
    assert [p.parent for p in tmp_path.rglob("*.safetensors")] == [folder]
    assert library.load(name).name == name
    assert [e.name for e in library.list()] == [name]


def test_similar_names_get_different_files(tmp_path):
    library = IdentityLibrary(tmp_path)
    names = ["Anna/B", "Anna_B", "Anna?B", "anna b", "Anna B"]
    paths = {library.path_for(n) for n in names}
    assert len(paths) == len(names)
    assert library.path_for("Anna B").name == "Anna B.identity.safetensors"  # readable when safe


def test_damaged_file_is_listed_with_an_error_and_others_still_load(eileen, tmp_path):
    library = IdentityLibrary(tmp_path)
    library.save(eileen)
    (tmp_path / "broken.identity.safetensors").write_bytes(b"\x00" * 50)
    entries = {e.path.name: e for e in library.list()}
    assert entries["broken.identity.safetensors"].error
    assert "broken.identity.safetensors" in entries["broken.identity.safetensors"].error
    assert not entries[library.path_for("Eileen").name].error


def test_a_file_renamed_to_another_name_is_refused(eileen, tmp_path):
    library = IdentityLibrary(tmp_path)
    library.save(eileen)
    library.path_for("Eileen").rename(library.path_for("Mallory"))
    with pytest.raises(BadInput) as error:
        library.load("Mallory")
    assert "holds the identity 'Eileen'" in str(error.value)


def test_empty_names_are_refused(tmp_path):
    with pytest.raises(BadInput):
        IdentityLibrary(tmp_path).path_for("  ")


def test_user_and_project_libraries(tmp_path, monkeypatch):
    monkeypatch.setenv("CANVAS_APP_LIBRARY", str(tmp_path / "mine"))
    assert user_library().folder == tmp_path / "mine"
    monkeypatch.delenv("CANVAS_APP_LIBRARY")
    assert user_library().folder.name == "identities"
    assert "canvas-app" in str(user_library().folder)
    assert project_library(tmp_path / "proj").folder == tmp_path / "proj" / "identities"
