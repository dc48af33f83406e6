"""A folder of identity files, addressed by identity name.

`user_library()` is the user's own library (platformdirs user data dir, or
$CANVAS_APP_LIBRARY); a project's library is ``IdentityLibrary(project_dir /
"identities")``. A name maps to a file name inside the folder that can never
leave it: unsafe characters are replaced, and a short hash of the exact name
is added whenever the file name is not the name itself, so different names
never share a file.
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.identity.files import load_identity, read_summary, save_identity
from canvas_app.values import Identity

FILE_SUFFIX = ".identity.safetensors"
MAX_NAME_LENGTH = 200
_SAFE = re.compile(r"[^A-Za-z0-9 _\-.()]+")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class LibraryEntry:
    name: str
    identity_id: str
    created: str
    encoders: list[str]
    thumbnail: np.ndarray | None  # RGB uint8 aligned face of the best reference
    path: Path
    error: str = ""  # set when the file is damaged; the other fields may be empty

    @property
    def id(self) -> str:
        return self.identity_id


def safe_file_stem(name: str) -> str:
    """A file name stem for an identity name; no separators, no dot files,
    no reserved device names, bounded length, distinct for distinct names."""
    text = unicodedata.normalize("NFKC", name)
    stem = _SAFE.sub("_", text).strip(" .")
    stem = re.sub(r"_+", "_", stem)[:80].strip(" .") or "identity"
    if stem != name or stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        stem = f"{stem}-{digest}"
    return stem


class IdentityLibrary:
    def __init__(self, folder: str | Path) -> None:
        from canvas_app.paths import expand_home

        self.folder = expand_home(folder, "--library")

    def __repr__(self) -> str:
        return f"IdentityLibrary({str(self.folder)!r})"

    @staticmethod
    def _check_name(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise BadInput("an identity needs a name", field="name")
        if len(name) > MAX_NAME_LENGTH or "\x00" in name:
            raise BadInput(f"identity names are at most {MAX_NAME_LENGTH} characters of text",
                           field="name")
        return name

    def path_for(self, name: str) -> Path:
        path = self.folder / (safe_file_stem(self._check_name(name)) + FILE_SUFFIX)
        # Belt and braces: the stem has no separators, but never trust that alone.
        if Path(os.path.abspath(path)).parent != Path(os.path.abspath(self.folder)):
            raise BadInput(f"the name {name!r} cannot be stored in the library", field="name")
        return path

    def list(self) -> list[LibraryEntry]:
        """Every identity in the folder, sorted by name. Damaged files are
        listed with `error` set instead of stopping the listing."""
        if not self.folder.is_dir():
            return []
        entries = []
        for path in sorted(self.folder.glob("*" + FILE_SUFFIX)):
            if path.name.startswith("."):
                continue
            try:
                summary = read_summary(path)
            except BadInput as error:
                # A file name that is not valid text (bytes from another system) is shown
                # with replacement characters rather than breaking the listing.
                entries.append(LibraryEntry(name=printable(path.name[:-len(FILE_SUFFIX)]),
                                            identity_id="", created="", encoders=[],
                                            thumbnail=None, path=path,
                                            error=printable(str(error))))
                continue
            entries.append(LibraryEntry(name=summary["name"], identity_id=summary["id"],
                                        created=summary["created"], encoders=summary["encoders"],
                                        thumbnail=summary["thumbnail"], path=path))
        entries.sort(key=lambda entry: (entry.name.casefold(), entry.name))
        return entries

    def names(self) -> list[str]:
        return [entry.name for entry in self.list() if not entry.error]

    def __contains__(self, name: str) -> bool:
        try:
            return self.path_for(name).is_file()
        except BadInput:
            return False

    def _check_real_folder(self) -> None:
        """A library folder that is a symbolic link (say, `identities/` shipped
        inside a project) would send identity files somewhere else: refused."""
        if self.folder.is_symlink():
            raise BadInput("the identity library folder is a symbolic link; refusing to write "
                           "through it", file=str(self.folder))

    def save(self, identity: Identity, overwrite: bool = False) -> Path:
        self._check_real_folder()
        path = self.path_for(identity.name)
        if path.exists() and not overwrite:
            raise BadInput(f"the library already has an identity named {identity.name!r}; "
                           f"choose another name or allow overwriting", file=str(path),
                           field="name")
        return save_identity(identity, path)

    def load(self, name: str) -> Identity:
        path = self.path_for(name)
        if not path.is_file():
            raise BadInput(f"no identity named {name!r} in the library {self.folder}",
                           file=str(path), field="name")
        identity = load_identity(path)
        if identity.name != name:
            raise BadInput(f"the library file for {name!r} holds the identity "
                           f"{identity.name!r}", file=str(path), field="name")
        return identity

    def delete(self, name: str) -> None:
        path = self.path_for(name)
        if not path.is_file():
            raise BadInput(f"no identity named {name!r} in the library {self.folder}",
                           file=str(path), field="name")
        try:
            path.unlink()
        except OSError as error:
            raise BadInput(f"cannot delete the identity file: {error.strerror or error}",
                           file=str(path)) from None


def printable(text: str) -> str:
    """`text` as it can be printed: undecodable bytes of a file name become U+FFFD,
    and so does a lone surrogate from a file's metadata (no byte stands for it)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace") \
        if not re.search("[\ud800-\udc7f\udd00-\udfff]", text) else \
        re.sub("[\ud800-\udfff]", "\ufffd", text)


def user_library_dir() -> Path:
    """$CANVAS_APP_LIBRARY, else ``<user data dir>/canvas-app/identities``."""
    from canvas_app.paths import env_or_user_dir

    return env_or_user_dir("CANVAS_APP_LIBRARY", "data", "identities")


def user_library() -> IdentityLibrary:
    return IdentityLibrary(user_library_dir())


def project_library(project_dir: str | Path) -> IdentityLibrary:
    return IdentityLibrary(Path(project_dir) / "identities")
