"""Per-user folders: an environment variable when set, else the platform's
folder for this program (platformdirs). One rule for every such folder."""
from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "canvas-app"


def env_or_user_dir(variable: str, kind: str, subfolder: str) -> Path:
    """$`variable` (with ~ expanded) when set, else `subfolder` of the user's
    `kind` folder ("data" or "cache") for this program."""
    value = os.environ.get(variable)
    if value:
        return expand_home(value, field=variable)
    import platformdirs

    base = {"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir}[kind]
    return Path(base(APP_NAME, appauthor=False)) / subfolder


def expand_home(path: str | Path, field: str | None = None) -> Path:
    """`path` with a leading ~ or ~user expanded; a ~user that does not exist is
    bad input (Path.expanduser raised RuntimeError)."""
    text = str(path)
    expanded = os.path.expanduser(text)
    if text.startswith("~") and expanded == text:
        from canvas_app.errors import BadInput

        user = text[1:].split("/", 1)[0].split(os.sep, 1)[0]
        raise BadInput(f"no user {user!r} on this machine, so ~{user} names no folder",
                       file=text[:200], field=field)
    return Path(expanded)
