"""How much does a generated shot look like the locked identity?

The recogniser that scores a shot should not be the one that conditioned its
generation (a generator can learn to please its own recogniser; PuLID scores
with a different one), so `score_frames` prefers another encoder the identity
has an embedding for, and says which one it used and whether it is
independent.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.identity.image_input import as_rgb_uint8
from canvas_app.identity.registry import can_run, canonical_encoder_name, get_encoder
from canvas_app.identity.similarity import encoder_family
from canvas_app.media.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from canvas_app.values import Identity



@dataclass
class ShotScore:
    """Likeness of one shot to an identity (similarity: higher = more alike)."""

    identity_name: str
    identity_id: str
    encoder: str  # the recogniser that scored
    conditioned_encoder: str | None  # the one that conditioned generation, if known
    independent: bool  # True when `encoder` differs from `conditioned_encoder`
    threshold: float  # same person at or above this
    frames_total: int
    frame_indices: list[int]  # which frames were sampled
    similarities: list[float | None]  # per sampled frame; None = no face found
    mean: float | None  # over sampled frames with a face
    minimum: float | None
    worst_frame: int | None  # frame index (into the shot) of the minimum
    frames_without_face: int
    source: str = ""  # file the frames came from, when scored from media
    notes: list[str] = field(default_factory=list)

    @property
    def frames_sampled(self) -> int:
        return len(self.frame_indices)

    @property
    def passed(self) -> bool:
        """The shot as a whole looks like the identity (mean at or above the threshold)."""
        return self.mean is not None and self.mean >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["similarities"] = [None if v is None else round(float(v), 4)
                                for v in self.similarities]
        for key in ("mean", "minimum", "threshold"):
            if data[key] is not None:
                data[key] = round(float(data[key]), 4)
        data["frames_sampled"] = self.frames_sampled
        data["passed"] = self.passed
        data["recognizer"] = self.encoder  # the name reports use
        data["file"] = self.source or None
        return data


def choose_scoring_encoder(identity: Identity, conditioned_encoder: str | None = None,
                           models_dir=None) -> tuple[str, bool, str]:
    """(encoder name, independent, note). Prefers an encoder of another family
    than `conditioned_encoder`, then another pack of the same family, and uses
    the conditioning encoder itself only when nothing else can run here."""
    conditioned = canonical_encoder_name(conditioned_encoder) if conditioned_encoder else None
    runnable = [name for name in identity.embeddings if can_run(name, models_dir)]
    if not runnable:
        raise BadInput(f"none of this identity's encoders ({', '.join(identity.embeddings)}) "
                       f"can run here; install the model pack it was made with",
                       field="encoders")
    if conditioned is None:
        return runnable[0], True, ""

    def rank(name: str) -> int:
        if name == conditioned:
            return 2
        return 1 if encoder_family(name) == encoder_family(conditioned) else 0

    best = min(runnable, key=lambda name: (rank(name), runnable.index(name)))
    if best == conditioned:
        return best, False, (f"scored with {best}, the encoder that conditioned generation: no "
                             f"other encoder of this identity can run here, so the score is "
                             f"not independent")
    return best, True, ""


def _score_sampled(identity: Identity, sampled: Sequence[tuple[int, np.ndarray]], total: int, *,
                   conditioned_encoder: str | None, models_dir, source: str = "") -> ShotScore:
    name, independent, note = choose_scoring_encoder(identity, conditioned_encoder, models_dir)
    encoder = get_encoder(name, models_dir)
    target = identity.embeddings[name]
    if np.asarray(target).shape != (encoder.embedding_size,):
        from canvas_app.errors import BadInput

        raise BadInput(f"the identity {identity.name!r} has a {np.asarray(target).size}-value "
                       f"{name} embedding, but {name} makes {encoder.embedding_size}-value ones: "
                       f"the identity file was made by another model; build it again",
                       field="identity")
    similarities: list[float | None] = []
    for _index, frame in sampled:
        image = as_rgb_uint8(frame, file=source or None)
        faces = encoder.detect(image)
        if not faces:
            similarities.append(None)
            continue
        # Several faces: the one most like the identity is the one to judge.
        similarities.append(max(encoder.similarity(encoder.embed(encoder.align(image, face)),
                                                   target) for face in faces))
    found = [(index, value) for (index, _frame), value in zip(sampled, similarities)
             if value is not None]
    mean = float(np.mean([value for _index, value in found])) if found else None
    worst = min(found, key=lambda item: item[1]) if found else None
    notes = [note] if note else []
    if not found and sampled:
        notes.append("no face found in any sampled frame")
    return ShotScore(
        identity_name=identity.name, identity_id=identity.identity_id, encoder=name,
        conditioned_encoder=canonical_encoder_name(conditioned_encoder)
        if conditioned_encoder else None,
        independent=independent, threshold=float(encoder.threshold), frames_total=int(total),
        frame_indices=[int(index) for index, _frame in sampled],
        similarities=[None if v is None else float(v) for v in similarities],
        mean=mean, minimum=None if worst is None else float(worst[1]),
        worst_frame=None if worst is None else int(worst[0]),
        frames_without_face=sum(1 for v in similarities if v is None),
        source=source, notes=notes)


def score_frames(identity: Identity, frames: Sequence[np.ndarray], *,
                 conditioned_encoder: str | None = None, max_samples: int = 8,
                 models_dir=None) -> ShotScore:
    """Score up to `max_samples` evenly spaced frames (RGB uint8) of one shot."""
    frames = list(getattr(frames, "frames", frames))
    if not frames:
        raise BadInput("the shot has no frames to score")
    from canvas_app.media.video import sample_indices

    indices = sample_indices(len(frames), max_samples)
    return _score_sampled(identity, [(i, frames[i]) for i in indices], len(frames),
                          conditioned_encoder=conditioned_encoder, models_dir=models_dir)


def score_media(identity: Identity, paths: Sequence[str | Path], *,
                conditioned_encoder: str | None = None, max_samples: int = 8,
                models_dir=None) -> list[ShotScore]:
    """One ShotScore per file: an image file is a one-frame shot; a video is
    sampled evenly."""
    from canvas_app.media.images import load_rgb
    from canvas_app.media.video import read_samples

    scores = []
    for raw in paths:
        path = Path(raw)
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            sampled, total = read_samples(path, max_samples)
        elif suffix in IMAGE_SUFFIXES:
            sampled, total = [(0, load_rgb(path))], 1
        else:
            raise BadInput(f"cannot score {suffix or 'this'} files; use images "
                           f"({', '.join(IMAGE_SUFFIXES)}) or videos ({', '.join(VIDEO_SUFFIXES)})",
                           file=str(path))
        scores.append(_score_sampled(identity, sampled, total,
                                     conditioned_encoder=conditioned_encoder,
                                     models_dir=models_dir, source=str(path)))
    return scores


def summarize(scores: Sequence[ShotScore]) -> dict[str, Any]:
    """Mean over shots and the worst shot, for reports."""
    means = [(i, s.mean) for i, s in enumerate(scores) if s.mean is not None]
    worst = min(means, key=lambda item: item[1]) if means else None
    return {
        "shots": len(scores),
        "mean": None if not means else round(float(np.mean([m for _i, m in means])), 4),
        "worst_shot": None if worst is None else worst[0],
        "worst_source": None if worst is None else scores[worst[0]].source,
        "worst_mean": None if worst is None else round(float(worst[1]), 4),
        "shots_without_face": sum(1 for s in scores if s.mean is None),
    }
