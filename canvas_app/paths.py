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
        return Path(value).expanduser()
    import platformdirs

    base = {"data": platformdirs.user_data_dir, "cache": platformdirs.user_cache_dir}[kind]
    return Path(base(APP_NAME, appauthor=False)) / subfolder
