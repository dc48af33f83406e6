"""The contact sheet: one PNG, a row per shot - frames across the shot, then its
name, seed and identity score; a failed shot's row is marked red."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FRAMES_PER_ROW = 5
THUMB_HEIGHT = 120
LABEL_WIDTH = 260
PAD = 8
BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 230)
PASS = (90, 200, 120)
FAIL = (235, 64, 64)


def sample_frames(frames, first: int, last: int, count: int = FRAMES_PER_ROW) -> list[np.ndarray]:
    """`count` frames evenly over [first, last), first and last included."""
    picks = np.linspace(first, last - 1, min(count, last - first)).round().astype(int)
    return [np.asarray(frames[i]) for i in picks]


def render_contact_sheet(rows: list[dict], title: str = "") -> np.ndarray:
    """rows: {"frames": [RGB], "name", "seed", "score" (mean or None), "passed" (bool or None)}.
    Returns the sheet as an RGB array."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=15)
    thumbs = []
    for row in rows:
        scaled = []
        for frame in row["frames"]:
            h, w = frame.shape[:2]
            width = max(1, round(w * THUMB_HEIGHT / h))
            scaled.append(Image.fromarray(frame).resize((width, THUMB_HEIGHT), Image.LANCZOS))
        thumbs.append(scaled)
    strip = max((sum(t.width for t in row) + PAD * (len(row) - 1) for row in thumbs), default=0)
    header = 28 if title else 0
    width = PAD + LABEL_WIDTH + strip + PAD
    height = header + PAD + len(rows) * (THUMB_HEIGHT + PAD)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((PAD, 8), title, fill=TEXT, font=font)
    for index, (row, scaled) in enumerate(zip(rows, thumbs)):
        top = header + PAD + index * (THUMB_HEIGHT + PAD)
        failed = row.get("passed") is False
        colour = FAIL if failed else PASS if row.get("passed") else TEXT
        if failed:  # a red frame around the whole row
            draw.rectangle((2, top - 4, width - 3, top + THUMB_HEIGHT + 3), outline=FAIL, width=3)
        score = row.get("score")
        lines = [f"{index + 1}. {row['name']}",
                 f"seed {row['seed']}" if row.get("seed") is not None else "seed -",
                 f"identity {score:.3f}" if score is not None else "identity -",
                 "FAILED" if failed else "passed" if row.get("passed") else ""]
        for number, line in enumerate(lines):
            draw.text((PAD + 6, top + 8 + number * 18), line,
                      fill=colour if number >= 2 else TEXT, font=font)
        left = PAD + LABEL_WIDTH
        for thumb in scaled:
            sheet.paste(thumb, (left, top))
            left += thumb.width + PAD
    return np.asarray(sheet)


def write_contact_sheet(path: Path, rows: list[dict], title: str, text: dict[str, str]) -> Path:
    from canvas_app.media.images import save_png

    save_png(render_contact_sheet(rows, title), path, text)
    return path
