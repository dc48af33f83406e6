"""The values that travel along links between nodes.

Plain dataclasses over numpy arrays: no Qt, no torch. Every port type in
`canvas_app.graph.types` carries one of these. Frames are RGB uint8 arrays of
shape (H, W, 3).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Roles a reference image can play. Face and profile references feed the
# identity; the others condition the look of a shot.
ROLES = ("face", "profile", "outfit", "environment", "product")
FACE_ROLES = ("face", "profile")


@dataclass(frozen=True)
class RefImage:
    """One loaded reference image (EXIF orientation already applied)."""

    path: Path
    role: str
    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    sha256: str  # of the file's bytes

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class ImageSet:
    images: tuple[RefImage, ...]

    def with_roles(self, *roles: str) -> list[RefImage]:
        return [image for image in self.images if image.role in roles]


@dataclass
class FaceSample:
    """One reference face that went into (or was left out of) an identity."""

    source_name: str
    source_sha256: str
    role: str
    embeddings: dict[str, np.ndarray]  # encoder name -> L2-normalised vector
    thumbnail: np.ndarray  # aligned face crop, RGB uint8
    quality: float  # 0..1 weight from face size, sharpness and pose
    similarity: float = 1.0  # to the combined identity, with the primary encoder
    included: bool = True
    note: str = ""  # why it was left out, or which face was picked
    # The face as IP-Adapter FaceID Plus v2 was trained on it: insightface's
    # norm_crop to the ArcFace template at 224 px. None in identities locked
    # before it was kept (then made from the portrait's landmarks when needed).
    face_crop: np.ndarray | None = None


@dataclass
class Identity:
    """A locked identity: what every generated shot must look like.

    `embeddings` holds one combined, L2-normalised vector per encoder used
    (for instance "dlib" 128-d, "insightface/buffalo_l" 512-d). `portrait` is a
    head-and-shoulders crop of the best reference with the face landmarks in
    its own coordinates, so that renderers can frame the person without the
    original reference files.
    """

    name: str
    embeddings: dict[str, np.ndarray]
    samples: list[FaceSample] = field(default_factory=list)
    portrait: np.ndarray | None = None  # RGB uint8
    portrait_landmarks: np.ndarray | None = None  # (K, 2) float32, x/y pixels
    portrait_face_box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    created: str = ""
    notes: str = ""

    @property
    def identity_id(self) -> str:
        """A short content hash: the same embeddings give the same id."""
        import hashlib

        digest = hashlib.sha256()
        for encoder in sorted(self.embeddings):
            digest.update(encoder.encode())
            digest.update(np.ascontiguousarray(self.embeddings[encoder], dtype=np.float32).tobytes())
        return digest.hexdigest()[:16]

    @property
    def primary_encoder(self) -> str:
        return next(iter(self.embeddings))


@dataclass(frozen=True)
class ShotPrompt:
    positive: str = ""
    negative: str = ""
    shot_size: str = "medium"  # close-up | medium | wide
    camera_move: str = "static"  # see canvas_app.shot_directions.CAMERA_MOVES
    duration: float = 2.0  # seconds
    mood: str = "neutral"
    name: str = ""  # the Prompt node's title, used as the shot name


@dataclass
class Sound:
    """A shot's own sound (LTX-2 makes one with the picture): float samples in
    -1..1 shaped (channels, n) at `sample_rate`, starting on the clip's first frame."""

    samples: np.ndarray  # (channels, n) float32
    sample_rate: int

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate


@dataclass
class Clip:
    """A rendered shot: frames plus how they were made."""

    frames: list[np.ndarray]
    fps: float
    metadata: dict[str, Any] = field(default_factory=dict)
    # Its H.264 file, encoded as soon as it was rendered (media/exports/shot_files.py).
    shot_file: Any = field(default=None, repr=False, compare=False)
    # The sound made with the picture, if the model makes one; None: a silent shot.
    sound: Sound | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.frames[0].shape[:2]
        return width, height

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps


@dataclass
class SequenceResult:
    """What a Sequence node exported."""

    video_path: Path
    timeline_path: Path
    report_path: Path
    report: dict[str, Any]
    # [path, size, mtime_ns] of each exported file as written: a result is only
    # reused while its files are untouched.
    file_stamps: list | None = None
