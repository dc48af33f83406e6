"""Where insightface model packs live: ``<dir>/models/<pack>/*.onnx``."""
from __future__ import annotations

from pathlib import Path

DEFAULT_INSIGHTFACE_PACK = "buffalo_l"
INSIGHTFACE_PREFIX = "insightface/"
INSIGHTFACE_LICENSE_NOTE = (
    "insightface's pretrained model packs are licensed for non-commercial research use only")


def default_models_dir() -> Path:
    """$CANVAS_APP_MODELS, else ``<user data dir>/canvas-app/insightface``."""
    from canvas_app.paths import env_or_user_dir

    return env_or_user_dir("CANVAS_APP_MODELS", "data", "insightface")


def resolve_models_dir(models_dir: str | Path | None) -> Path:
    from canvas_app.paths import expand_home

    return expand_home(models_dir, "--models-dir") if models_dir is not None else \
        default_models_dir()


def pack_dir(pack: str, models_dir: str | Path | None = None) -> Path:
    return resolve_models_dir(models_dir) / "models" / pack


def pack_is_present(path: Path) -> bool:
    """Whether `path` holds an installed pack (its .onnx files or a manifest)."""
    try:
        return path.is_dir() and (any(path.glob("*.onnx")) or (path / "manifest.json").is_file())
    except OSError:
        return False


def installed_packs(models_dir: str | Path | None = None) -> list[str]:
    root = resolve_models_dir(models_dir) / "models"
    try:
        children = sorted(root.iterdir()) if root.is_dir() else []
    except OSError:
        return []
    return [child.name for child in children if pack_is_present(child)]
