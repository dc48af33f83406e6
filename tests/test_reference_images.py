"""Reference images: formats, EXIF orientation, and clear errors."""
import numpy as np
import pytest
from PIL import Image

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput
from canvas_app.media.images import load_reference
from nodes.reference import Reference


def picture(width=40, height=20):
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)  # red left half
    return Image.fromarray(pixels)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_formats_load_as_rgb(tmp_path, suffix):
    path = tmp_path / f"ref{suffix}"
    picture().save(path)
    ref = load_reference(path, "face")
    assert ref.pixels.shape == (20, 40, 3) and ref.pixels.dtype == np.uint8
    assert ref.pixels[10, 5, 0] > 200 and ref.pixels[10, 35, 0] < 60
    assert len(ref.sha256) == 64


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display", as phones write it
    picture().save(path, exif=exif)
    ref = load_reference(path, "face")
    assert ref.pixels.shape == (40, 20, 3)  # portrait, as the photo is meant to be seen
    assert ref.pixels[5, 10, 0] > 200 and ref.pixels[35, 10, 0] < 60  # red half now on top


def test_reference_node_names_the_bad_file(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    ctx = RunContext(node_id="reference1", node_title="Hero face")
    with pytest.raises(BadInput) as caught:
        Reference().run({}, {"images": [{"path": str(bad), "role": "face"}]}, ctx)
    message = str(caught.value)
    assert "notes.png" in message and "Hero face" in message and "images" in message
    with pytest.raises(BadInput, match="at least one image"):
        Reference().run({}, {"images": []}, ctx)


def test_export_names_cannot_leave_the_output_folder(tmp_path):
    from nodes.sequence import safe_name

    for hostile in ("../../etc/passwd", "/abs/path", "..", "a/../../b", "C:\\windows\\x"):
        name = safe_name(hostile)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert (tmp_path / f"{name}.mp4").resolve().parent == tmp_path.resolve()
