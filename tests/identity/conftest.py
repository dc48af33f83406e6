"""Real photos and shared, once-loaded models for the identity tests.

Photos: scikit-image's astronaut (Eileen Collins), and insightface's bundled
Tom_Hanks_54745.png (112 x 112, ArcFace-aligned) and t1.jpg (a group of six).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))



def insightface_images() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "images"


def _read(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    height, width = image.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage.data import astronaut as load

    return np.ascontiguousarray(load()[:, :, :3])


@pytest.fixture(scope="session")
def hanks() -> np.ndarray:
    return _read(insightface_images() / "Tom_Hanks_54745.png")


@pytest.fixture(scope="session")
def group() -> np.ndarray:
    return _read(insightface_images() / "t1.jpg")


@pytest.fixture(scope="session")
def dlib_encoder():
    from canvas_app.identity import get_encoder

    return get_encoder("dlib")


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("photos")


@pytest.fixture(scope="session")
def write_photo(photo_dir):
    """Save an array as a PNG (or JPEG) file and load it back as a RefImage,
    exactly as a Reference node would."""
    from PIL import Image

    from canvas_app.media.images import load_reference

    def write(name: str, pixels: np.ndarray, role: str = "face"):
        path = photo_dir / name
        if not path.exists():
            Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(path)
        return load_reference(path, role)

    return write


@pytest.fixture(scope="session")
def astronaut_variants(astronaut):
    """The same woman under changes a user's photos have: crop, mirror,
    darker, brighter, uneven lighting, smaller, larger."""
    height, width = astronaut.shape[:2]
    ramp = np.linspace(0.55, 1.25, width, dtype=np.float32)[None, :, None]
    return {
        "crop": astronaut[20:330, 80:400],
        "mirror": astronaut[:, ::-1],
        "dark": (astronaut * 0.45).astype(np.uint8),
        "bright": np.clip(astronaut.astype(np.float32) * 1.4 + 20, 0, 255).astype(np.uint8),
        "side_light": np.clip(astronaut.astype(np.float32) * ramp, 0, 255).astype(np.uint8),
        "small": resize(astronaut, 0.6),
        "large": resize(astronaut, 2.0),
    }


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models folder holding the tiny exported pack as models/tiny/*.onnx."""
    from tiny_insightface import build_pack

    root = tmp_path_factory.mktemp("models")
    build_pack(root / "models" / "tiny")
    return root


@pytest.fixture(scope="session")
def eileen(write_photo, astronaut, astronaut_variants):
    """An identity built from three photos of the astronaut (dlib)."""
    from canvas_app.identity import build_identity

    refs = [write_photo("eileen.png", astronaut),
            write_photo("eileen_mirror.png", astronaut_variants["mirror"]),
            write_photo("eileen_dark.png", astronaut_variants["dark"])]
    return build_identity("Eileen", refs)
