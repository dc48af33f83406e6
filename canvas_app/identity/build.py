"""Turning face references into one locked identity."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.identity.faces import DetectedFace, FaceEncoder
from canvas_app.identity.image_input import as_rgb_uint8
from canvas_app.identity.registry import canonical_encoder_name, get_encoder
from canvas_app.identity.similarity import normalize
from canvas_app.identity.geometry import faceid_crop, portrait_crop
from canvas_app.identity.quality import FaceQuality, assess, check
from canvas_app.values import FACE_ROLES, FaceSample, Identity, RefImage

# A detection at least this sure counts at its full size when picking the largest face.
CLEAR_DETECTION_SCORE = 0.5

FaceIndex = int | None | Sequence[int | None] | Mapping[str, int | None]


@dataclass
class ChosenFace:
    face: DetectedFace
    index: int  # position among the faces, numbered left to right from 0
    count: int
    note: str


@dataclass
class _Prepared:
    reference: RefImage
    choice: ChosenFace
    quality: FaceQuality
    embeddings: dict[str, np.ndarray]
    thumbnail: np.ndarray
    face_crop: np.ndarray | None = None  # 224-px ArcFace-template crop for FaceID Plus v2


def _prominence(face: DetectedFace) -> float:
    """Size, discounted for unsure detections: a badge or a pattern that a
    detector barely takes for a face must not win over a real face of the same
    size. (Detector scores: dlib's HOG margin, about 0..3; insightface 0..1.)"""
    return face.area * min(1.0, max(face.score, 0.0) / CLEAR_DETECTION_SCORE)


def choose_face(encoder: FaceEncoder, image: np.ndarray, *, face_index: int | None = None,
                file: str | None = None, node: str | None = None) -> ChosenFace:
    """Detect faces and pick one: the largest, or `face_index` counting from
    the left (0 = leftmost)."""
    faces = sorted(encoder.detect(image), key=lambda face: face.center[0])
    if not faces:
        raise BadInput("no face found in this image (a face needs to be at least about 40 px "
                       "tall, facing the camera)", file=file, node=node)
    count = len(faces)
    if face_index is None:
        index = max(range(count), key=lambda i: _prominence(faces[i]))
        note = (f"{count} faces found; used face {index} (counted from the left from 0), "
                f"the largest; set face_index to pick another") if count > 1 else ""
    else:
        index = int(face_index)
        if not 0 <= index < count:
            raise BadInput(f"face_index {index} does not exist: {count} face(s) found, numbered "
                           f"0 to {count - 1} from the left", file=file, node=node,
                           field="face_index")
        note = f"{count} faces found; used face {index} (counted from the left from 0) as asked" \
            if count > 1 else ""
    return ChosenFace(face=faces[index], index=index, count=count, note=note)


def _matching_face(encoder: FaceEncoder, image: np.ndarray, target: DetectedFace, *,
                   file: str | None, node: str | None, primary: str) -> DetectedFace:
    """The face `encoder` finds at the place another encoder chose."""
    faces = encoder.detect(image)
    cx, cy = target.center
    best, best_distance = None, float("inf")
    for face in faces:
        fx, fy = face.center
        distance = float(np.hypot(fx - cx, fy - cy))
        if distance < best_distance:
            best, best_distance = face, distance
    if best is None or best_distance > 0.5 * max(target.height, target.width):
        raise BadInput(f"{encoder.name} found no face where {primary} found the chosen face",
                       file=file, node=node)
    return best


def _face_index_for(face_index: FaceIndex, position: int, reference: RefImage) -> int | None:
    if face_index is None or isinstance(face_index, (int, np.integer)):
        return None if face_index is None or int(face_index) < 0 else int(face_index)
    if isinstance(face_index, Mapping):
        value = face_index.get(str(reference.path), face_index.get(reference.name))
    else:
        value = face_index[position] if position < len(face_index) else None
    return None if value is None or int(value) < 0 else int(value)


def _prepare(reference: RefImage, encoders: list[FaceEncoder], face_index: int | None,
             node: str | None) -> _Prepared:
    file = str(reference.path)
    image = as_rgb_uint8(reference.pixels, file=file)
    primary = encoders[0]
    choice = choose_face(primary, image, face_index=face_index, file=file, node=node)
    aligned = primary.align(image, choice.face)
    quality = assess(choice.face, aligned)
    check(quality, reference.role, file=file, node=node)
    embeddings = {primary.name: primary.embed(aligned)}
    for encoder in encoders[1:]:
        face = _matching_face(encoder, image, choice.face, file=file, node=node,
                              primary=primary.name)
        embeddings[encoder.name] = encoder.embed(encoder.align(image, face))
    return _Prepared(reference=reference, choice=choice, quality=quality, embeddings=embeddings,
                     thumbnail=aligned, face_crop=faceid_crop(image, choice.face.landmarks))


def _weighted_mean(prepared: list[_Prepared], members: Sequence[int], encoder: str) -> np.ndarray:
    total = np.zeros_like(prepared[members[0]].embeddings[encoder], dtype=np.float64)
    for i in members:
        total += prepared[i].quality.weight * prepared[i].embeddings[encoder].astype(np.float64)
    return normalize(total)


def build_identity(name: str, references: Sequence[RefImage], *,
                   encoders: Sequence[str] = ("dlib",), face_index: FaceIndex = None,
                   models_dir: str | Path | None = None, ctx=None) -> Identity:
    """Detect, check, align and embed the face in every face/profile reference
    and combine them into one identity.

    - Each reference gets a quality weight (face size, sharpness, pose); the
      identity's embedding per encoder is the normalised weighted mean.
    - A reference that does not look like the others (similarity to the
      weighted mean of the others below the threshold, worst first) is kept
      in `samples` with included=False and the numbers in its note. Two
      references that disagree, or no majority, is a BadInput.
    - `face_index`: None = the largest face in each image; an int applies to
      every image; a sequence (per reference) or a mapping (file name or path
      -> index) picks per image. Faces are numbered from the left from 0.
    - The first encoder is the primary one: it picks the face, decides
      outliers, and gives FaceSample.similarity.
    """
    node = (ctx.node_title or ctx.node_id or None) if ctx is not None else None
    if not str(name).strip():
        raise BadInput("the identity needs a name", node=node, field="name")
    names: list[str] = []
    for encoder_name in encoders:
        canonical = canonical_encoder_name(encoder_name)
        if canonical not in names:
            names.append(canonical)
    if not names:
        raise BadInput("choose at least one face encoder", node=node, field="encoders")
    faces = [ref for ref in references if ref.role in FACE_ROLES]
    if not faces:
        raise BadInput("no face or profile reference to build an identity from", node=node,
                       field="references")
    loaded = [get_encoder(encoder_name, models_dir) for encoder_name in names]
    primary = loaded[0]
    threshold = primary.threshold

    prepared: list[_Prepared] = []
    for position, reference in enumerate(faces):
        if ctx is not None:
            ctx.progress(position / len(faces), f"face {position + 1} of {len(faces)}: "
                                                f"{reference.name}")
        prepared.append(_prepare(reference, loaded, _face_index_for(face_index, position, reference),
                                 node))

    included = list(range(len(prepared)))
    left_out: dict[int, str] = {}
    if len(prepared) == 2:
        value = primary.similarity(prepared[0].embeddings[primary.name],
                                   prepared[1].embeddings[primary.name])
        if value < threshold:
            raise BadInput(
                f"{prepared[0].reference.name} and {prepared[1].reference.name} look like "
                f"different people (similarity {value:.2f}, same person needs "
                f"{threshold:.2f} or more with {primary.name})",
                file=str(prepared[1].reference.path), node=node, field="references")
    elif len(prepared) >= 3:
        while len(included) >= 3:
            scores = {}
            for i in included:
                others = [j for j in included if j != i]
                scores[i] = primary.similarity(prepared[i].embeddings[primary.name],
                                               _weighted_mean(prepared, others, primary.name))
            worst = min(scores, key=scores.get)
            if scores[worst] >= threshold:
                break
            included.remove(worst)
            left_out[worst] = (f"left out: looks like a different person (similarity "
                               f"{scores[worst]:.2f} to the other references, same person "
                               f"needs {threshold:.2f} with {primary.name})")
        if len(included) == 2:
            a, b = included
            value = primary.similarity(prepared[a].embeddings[primary.name],
                                       prepared[b].embeddings[primary.name])
            if value < threshold:
                included = []
        if len(included) * 2 <= len(prepared):
            summary = ", ".join(f"{p.reference.name}" for p in prepared)
            raise BadInput(
                f"the references do not agree on one person: no majority of {summary} looks "
                f"alike with {primary.name}; remove the photos of other people",
                file=str(prepared[0].reference.path), node=node, field="references")

    combined = {encoder.name: _weighted_mean(prepared, included, encoder.name)
                for encoder in loaded}
    samples = []
    for i, item in enumerate(prepared):
        notes = [text for text in (item.choice.note, left_out.get(i, "")) if text]
        samples.append(FaceSample(
            source_name=item.reference.name,
            source_sha256=item.reference.sha256,
            role=item.reference.role,
            embeddings={key: value.astype(np.float32) for key, value in item.embeddings.items()},
            thumbnail=np.ascontiguousarray(item.thumbnail, dtype=np.uint8),
            quality=float(item.quality.weight),
            similarity=float(round(primary.similarity(item.embeddings[primary.name],
                                                      combined[primary.name]), 6)),
            included=i in included,
            note="; ".join(notes),
            face_crop=item.face_crop,
        ))

    best = max(included, key=lambda i: prepared[i].quality.weight)
    best_item = prepared[best]
    portrait, portrait_landmarks, portrait_box = portrait_crop(
        as_rgb_uint8(best_item.reference.pixels), best_item.choice.face.box,
        best_item.choice.face.landmarks)
    notes = [f"built from {len(included)} of {len(prepared)} face reference(s) with "
             f"{', '.join(names)}; portrait from {best_item.reference.name}"]
    for i in sorted(left_out):
        notes.append(f"{prepared[i].reference.name} {left_out[i]}")
    if ctx is not None:
        ctx.progress(1.0, "identity built")
    return Identity(
        name=str(name),
        embeddings=combined,
        samples=samples,
        portrait=portrait,
        portrait_landmarks=portrait_landmarks.astype(np.float32),
        portrait_face_box=portrait_box,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        notes="; ".join(notes),
    )
