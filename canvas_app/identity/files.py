"""Identity files: safetensors arrays + JSON metadata in the safetensors header.

Layout (format version 1)::

    embeddings.<k>               float32 (D_k,)   combined embedding of encoder k
    samples.<i>.embeddings.<k>   float32 (D_k,)   sample i's embedding with encoder k
    samples.<i>.thumbnail        uint8 (h, w, 3)  sample i's aligned face
    samples.<i>.face_crop        uint8 (224, 224, 3) FaceID Plus v2 crop (optional)
    portrait                     uint8 (H, W, 3)  head-and-shoulders crop (optional)
    portrait_landmarks           float32 (5, 2)   in portrait pixels (optional)

``__metadata__["canvas_app.identity"]`` holds JSON: format and version, the
name, the encoder names (k indexes this list) and embedding sizes, one entry
per sample (source name and sha256, role, quality, similarity, included, note,
which encoders it has), the portrait face box, created time, notes, and the
identity id (checked on load).

Loading never unpickles: the file is parsed as safetensors only, and every
array is checked for dtype, shape, finiteness and norm before it reaches an
`Identity`. Anything wrong is a BadInput naming the file.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.fileio import atomic_write_bytes, open_regular
from canvas_app.values import FaceSample, Identity

FORMAT = "canvas-app.identity"
FORMAT_VERSION = 1
METADATA_KEY = "canvas_app.identity"
SUFFIX = ".safetensors"
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_SAMPLES = 1000
MAX_EMBEDDING_SIZE = 8192
MAX_IMAGE_SIDE = 4096
MIN_IMAGE_SIDE = 8  # a face thumbnail or portrait smaller than this is not a picture of anyone
# Embedding sizes fixed by the encoder (insightface packs differ between models).
KNOWN_EMBEDDING_SIZES = {"dlib": 128}
NORM_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------- save

def _metadata(identity: Identity) -> dict[str, Any]:
    encoders = list(identity.embeddings)
    samples = []
    for sample in identity.samples:
        unknown = [name for name in sample.embeddings if name not in encoders]
        if unknown:
            raise ValueError(f"sample {sample.source_name} has embeddings for {unknown}, "
                             f"which the identity does not have")
        samples.append({
            "source_name": str(sample.source_name),
            "source_sha256": str(sample.source_sha256),
            "role": str(sample.role),
            "quality": float(sample.quality),
            "similarity": float(sample.similarity),
            "included": bool(sample.included),
            "note": str(sample.note),
            "encoders": [encoders.index(name) for name in sample.embeddings],
            "has_face_crop": sample.face_crop is not None,
        })
    box = identity.portrait_face_box
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": str(identity.name),
        "identity_id": identity.identity_id,
        "encoders": encoders,
        "embedding_sizes": [int(np.asarray(identity.embeddings[name]).size) for name in encoders],
        "samples": samples,
        "portrait_face_box": None if box is None else [float(v) for v in box],
        "has_portrait": identity.portrait is not None,
        "has_portrait_landmarks": identity.portrait_landmarks is not None,
        "created": str(identity.created),
        "notes": str(identity.notes),
    }


def _check_vector(vector, what: str) -> None:
    array = np.asarray(vector)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind != "f":
        raise ValueError(f"the {what} must be a 1-d float vector, not {array.dtype} {array.shape}")
    norm = float(np.linalg.norm(array.astype(np.float64)))
    if not np.isfinite(array).all() or abs(norm - 1.0) > NORM_TOLERANCE:
        raise ValueError(f"the {what} is not an L2-normalised finite vector")


def _check_image(image, what: str) -> None:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 \
            or not (MIN_IMAGE_SIDE <= array.shape[0] <= MAX_IMAGE_SIDE
                    and MIN_IMAGE_SIDE <= array.shape[1] <= MAX_IMAGE_SIDE):
        raise ValueError(f"the {what} must be an RGB uint8 image, not {array.dtype} {array.shape}")


def _check_for_save(identity: Identity) -> None:
    """Refuse to write what load_identity would refuse to read."""
    if not identity.embeddings:
        raise ValueError("an identity needs at least one embedding")
    for name, vector in identity.embeddings.items():
        _check_vector(vector, f"{name} embedding")
    for i, sample in enumerate(identity.samples):
        for name, vector in sample.embeddings.items():
            _check_vector(vector, f"sample {i} {name} embedding")
        _check_image(sample.thumbnail, f"sample {i} thumbnail")
        if sample.face_crop is not None:
            _check_image(sample.face_crop, f"sample {i} face crop")
    if identity.portrait is not None:
        _check_image(identity.portrait, "portrait")
    if identity.portrait_landmarks is not None:
        points = np.asarray(identity.portrait_landmarks)
        if points.ndim != 2 or points.shape[1] != 2 or not np.isfinite(points).all():
            raise ValueError("the portrait landmarks must be finite (K, 2) points")
        height, width = np.asarray(identity.portrait).shape[:2] \
            if identity.portrait is not None else (0, 0)
        if identity.portrait is None or (points < -max(width, height)).any() \
                or (points[:, 0] > 2 * width).any() or (points[:, 1] > 2 * height).any():
            raise ValueError("the portrait landmarks must lie on the portrait")


def identity_to_bytes(identity: Identity) -> bytes:
    from safetensors.numpy import save

    _check_for_save(identity)
    metadata = _metadata(identity)
    tensors: dict[str, np.ndarray] = {}
    for k, name in enumerate(metadata["encoders"]):
        tensors[f"embeddings.{k}"] = np.ascontiguousarray(identity.embeddings[name],
                                                          dtype=np.float32).reshape(-1)
    for i, sample in enumerate(identity.samples):
        for name, vector in sample.embeddings.items():
            k = metadata["encoders"].index(name)
            tensors[f"samples.{i}.embeddings.{k}"] = np.ascontiguousarray(
                vector, dtype=np.float32).reshape(-1)
        tensors[f"samples.{i}.thumbnail"] = np.ascontiguousarray(sample.thumbnail, dtype=np.uint8)
        if sample.face_crop is not None:
            tensors[f"samples.{i}.face_crop"] = np.ascontiguousarray(sample.face_crop, dtype=np.uint8)
    if identity.portrait is not None:
        tensors["portrait"] = np.ascontiguousarray(identity.portrait, dtype=np.uint8)
    if identity.portrait_landmarks is not None:
        tensors["portrait_landmarks"] = np.ascontiguousarray(identity.portrait_landmarks,
                                                             dtype=np.float32)
    return save(tensors, metadata={METADATA_KEY: json.dumps(metadata, ensure_ascii=False,
                                                            allow_nan=False)})


def save_identity(identity: Identity, path: str | Path) -> Path:
    """Save atomically to `path` (a .safetensors file). Returns the path."""
    path = Path(path)
    try:
        data = identity_to_bytes(identity)
    except ValueError as error:
        raise BadInput(f"cannot save this identity: {error}", file=str(path)) from None
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise BadInput(f"cannot write the identity file: {error.strerror or error}",
                       file=str(path)) from None
    return path


# ----------------------------------------------------------------------------- load

class _Damaged(Exception):
    pass


def _has_safetensors_shape(data: bytes) -> bool:
    """An 8-byte little-endian header length that fits the file, then a JSON object.
    (The first byte alone says nothing: a header 128 bytes long mod 256 starts with 0x80.)"""
    if len(data) < 10:
        return False
    (header_size,) = struct.unpack("<Q", data[:8])
    return 2 <= header_size <= min(MAX_HEADER_BYTES, len(data) - 8) and data[8:9] == b"{"


def _looks_pickled(data: bytes) -> bool:
    """A pickle (PROTO opcode 0x80 and a protocol number, or protocol 0/1 opcodes
    ending in STOP) or a PyTorch zip archive: neither is ever unpickled here."""
    if data[:4] == b"PK\x03\x04":
        return True
    if len(data) >= 2 and data[0] == 0x80 and 1 <= data[1] <= 5:
        return True
    return data[:1] in (b"(", b"}", b"]", b"c") and data.rstrip()[-1:] == b"."


def _read_header(data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse the safetensors header ourselves first: size limits, JSON, metadata."""
    if not _has_safetensors_shape(data) and _looks_pickled(data):
        raise _Damaged("this is a pickled (PyTorch/pickle) file, not an identity file; "
                       "it was not opened, because unpickling can run code")
    if len(data) < 8:
        raise _Damaged("the file is too short to be an identity file")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > MAX_HEADER_BYTES:
        raise _Damaged(f"the header claims {header_size} bytes, more than an identity file "
                       f"ever needs")
    if 8 + header_size > len(data):
        raise _Damaged("the file is truncated (the header runs past its end)")
    try:
        header = json.loads(data[8:8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise _Damaged("the header is not valid JSON: not an identity file") from None
    if not isinstance(header, dict):
        raise _Damaged("the header is not a JSON object")
    raw_metadata = header.get("__metadata__")
    if not isinstance(raw_metadata, dict) or not isinstance(raw_metadata.get(METADATA_KEY), str):
        raise _Damaged("this safetensors file has no canvas-app identity metadata")
    try:
        metadata = json.loads(raw_metadata[METADATA_KEY])
    except (json.JSONDecodeError, RecursionError):
        raise _Damaged("the identity metadata is not valid JSON") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _Damaged("this safetensors file is not a canvas-app identity")
    version = metadata.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _Damaged("the identity file has no format version")
    if version > FORMAT_VERSION:
        raise _Damaged(f"identity file format {version} is newer than this program "
                       f"understands ({FORMAT_VERSION}); update canvas-app")
    if version < 1:
        raise _Damaged(f"unknown identity file format version {version}")
    return header, metadata


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _Damaged(message)


def _string(meta: dict, key: str, default: str | None = None) -> str:
    value = meta.get(key, default)
    _expect(isinstance(value, str), f"metadata field {key!r} is missing or not text")
    return value


def _number(meta: dict, key: str) -> float:
    value = meta.get(key)
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)  # an int near 10**400 overflows
        except OverflowError:
            pass
    _expect(number is not None and math.isfinite(number),
            f"metadata field {key!r} is missing or not a number")
    return number


def _tensor(tensors: dict[str, np.ndarray], key: str, dtype, shape_check, what: str) -> np.ndarray:
    _expect(key in tensors, f"the {what} ({key}) is missing")
    array = tensors[key]
    _expect(array.dtype == np.dtype(dtype), f"the {what} ({key}) has dtype {array.dtype}, "
                                            f"expected {np.dtype(dtype)}")
    _expect(shape_check(array.shape), f"the {what} ({key}) has the wrong shape {array.shape}")
    if array.dtype.kind == "f":
        _expect(bool(np.isfinite(array).all()), f"the {what} ({key}) holds NaN or infinity")
    return array


def _embedding(tensors, key: str, size: int, what: str) -> np.ndarray:
    vector = _tensor(tensors, key, np.float32, lambda shape: shape == (size,), what)
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    _expect(abs(norm - 1.0) <= NORM_TOLERANCE, f"the {what} ({key}) is not normalised "
                                               f"(length {norm:.4f})")
    return vector


def _image(tensors, key: str, what: str) -> np.ndarray:
    return _tensor(tensors, key, np.uint8,
                   lambda shape: len(shape) == 3 and shape[2] == 3
                   and MIN_IMAGE_SIDE <= shape[0] <= MAX_IMAGE_SIDE
                   and MIN_IMAGE_SIDE <= shape[1] <= MAX_IMAGE_SIDE, what)


def identity_from_bytes(data: bytes) -> Identity:
    """Parse and validate; raises _Damaged with a user-readable reason."""
    from safetensors.numpy import load

    _header, meta = _read_header(data)
    try:
        tensors = load(data)
    except Exception as error:  # SafetensorError, ValueError... on inconsistent offsets
        raise _Damaged(f"the arrays cannot be read ({error.__class__.__name__}: "
                       f"{str(error)[:200]})") from None

    name = _string(meta, "name")
    encoders = meta.get("encoders")
    sizes = meta.get("embedding_sizes")
    _expect(isinstance(encoders, list) and 1 <= len(encoders) <= 16
            and all(isinstance(e, str) and e for e in encoders)
            and len(set(encoders)) == len(encoders), "the encoder list is missing or invalid")
    _expect(isinstance(sizes, list) and len(sizes) == len(encoders)
            and all(isinstance(s, int) and not isinstance(s, bool)
                    and 1 <= s <= MAX_EMBEDDING_SIZE for s in sizes),
            "the embedding sizes are missing or invalid")
    for encoder, size in zip(encoders, sizes):
        expected = KNOWN_EMBEDDING_SIZES.get(encoder)
        _expect(expected is None or size == expected,
                f"the {encoder} embedding has {size} values; {encoder} makes {expected}")
    embeddings = {encoder: _embedding(tensors, f"embeddings.{k}", sizes[k],
                                      f"{encoder} embedding")
                  for k, encoder in enumerate(encoders)}

    raw_samples = meta.get("samples", [])
    _expect(isinstance(raw_samples, list) and len(raw_samples) <= MAX_SAMPLES,
            "the sample list is invalid")
    samples = []
    for i, raw in enumerate(raw_samples):
        _expect(isinstance(raw, dict), f"sample {i} is invalid")
        indices = raw.get("encoders")
        _expect(isinstance(indices, list) and all(
            isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(encoders)
            for k in indices) and len(set(indices)) == len(indices),
            f"sample {i} lists invalid encoders")
        included = raw.get("included")
        _expect(isinstance(included, bool), f"sample {i} has no 'included' flag")
        samples.append(FaceSample(
            source_name=_string(raw, "source_name"),
            source_sha256=_string(raw, "source_sha256"),
            role=_string(raw, "role"),
            embeddings={encoders[k]: _embedding(tensors, f"samples.{i}.embeddings.{k}", sizes[k],
                                                f"sample {i} {encoders[k]} embedding")
                        for k in indices},
            thumbnail=_image(tensors, f"samples.{i}.thumbnail", f"sample {i} thumbnail"),
            quality=_number(raw, "quality"),
            similarity=_number(raw, "similarity"),
            included=included,
            note=_string(raw, "note", ""),
            face_crop=(_image(tensors, f"samples.{i}.face_crop", f"sample {i} face crop")
                       if raw.get("has_face_crop") is True else None),
        ))

    portrait = portrait_landmarks = None
    if meta.get("has_portrait"):
        portrait = _image(tensors, "portrait", "portrait")
    if meta.get("has_portrait_landmarks"):
        portrait_landmarks = _tensor(tensors, "portrait_landmarks", np.float32,
                                     lambda shape: len(shape) == 2 and shape[1] == 2
                                     and 1 <= shape[0] <= 200, "portrait landmarks")
        height, width = portrait.shape[:2] if portrait is not None else (0, 0)
        _expect(portrait is not None and bool(
            (portrait_landmarks >= -width).all() and (portrait_landmarks[:, 0] <= 2 * width).all()
            and (portrait_landmarks[:, 1] <= 2 * height).all()
            and (portrait_landmarks >= -height).all()),
            "the portrait landmarks lie far outside the portrait")
    box = meta.get("portrait_face_box")
    if box is not None:
        _expect(isinstance(box, list) and len(box) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            and -2 * MAX_IMAGE_SIDE <= v <= 2 * MAX_IMAGE_SIDE for v in box),
            "the portrait face box is invalid")
        box = tuple(float(v) for v in box)

    identity = Identity(name=name, embeddings=embeddings, samples=samples, portrait=portrait,
                        portrait_landmarks=portrait_landmarks, portrait_face_box=box,
                        created=_string(meta, "created", ""), notes=_string(meta, "notes", ""))
    stored_id = meta.get("identity_id")
    _expect(stored_id is None or stored_id == identity.identity_id,
            "the embeddings do not match the identity id stored with them (the file was "
            "altered or damaged)")
    return identity


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BadInput("identity file not found", file=str(path)) from None
    except OSError as error:
        raise BadInput(f"cannot read the identity file: {error.strerror or error}",
                       file=str(path)) from None
    if not path.is_file():
        raise BadInput("not a regular file", file=str(path))
    if size > MAX_FILE_BYTES:
        raise BadInput(f"the file is {size // (1024 * 1024)} MiB, far larger than an identity "
                       f"file can be", file=str(path))
    try:
        with open_regular(path) as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BadInput(f"cannot read the identity file: {error.strerror or error}",
                       file=str(path)) from None


def load_identity(path: str | Path) -> Identity:
    """Load and validate an identity file; BadInput naming the file if it is
    not a sound identity file."""
    path = Path(path)
    data = _read_file(path)
    try:
        return identity_from_bytes(data)
    except _Damaged as error:
        raise BadInput(f"not a valid identity file: {error}", file=str(path)) from None


def read_summary(path: str | Path) -> dict[str, Any]:
    """Name, id, created, encoders and the thumbnail of the best included
    sample, reading only the header and that one array (for library lists)."""
    path = Path(path)
    try:
        with open_regular(path) as handle:
            head = handle.read(8)
            if len(head) == 8:
                (size,) = struct.unpack("<Q", head)
                if size <= MAX_HEADER_BYTES:
                    head += handle.read(size)
    except OSError as error:
        raise BadInput(f"cannot read the identity file: {error.strerror or error}",
                       file=str(path)) from None
    try:
        header, meta = _read_header(head)
        name = _string(meta, "name")
        encoders = meta.get("encoders")
        _expect(isinstance(encoders, list) and all(isinstance(e, str) for e in encoders),
                "the encoder list is invalid")
        thumbnail = None
        samples = meta.get("samples") or []
        if isinstance(samples, list):
            candidates = [i for i, s in enumerate(samples) if isinstance(s, dict)
                          and s.get("included") is True
                          and isinstance(s.get("quality"), (int, float))]
            if candidates:
                best = max(candidates, key=lambda i: samples[i]["quality"])
                thumbnail = _read_one_array(path, header, f"samples.{best}.thumbnail", len(head))
        identity_id = meta.get("identity_id")
        return {"name": name, "id": identity_id if isinstance(identity_id, str) else "",
                "created": meta.get("created") if isinstance(meta.get("created"), str) else "",
                "encoders": list(encoders), "thumbnail": thumbnail}
    except _Damaged as error:
        raise BadInput(f"not a valid identity file: {error}", file=str(path)) from None


def _read_one_array(path: Path, header: dict, key: str, data_start: int) -> np.ndarray | None:
    entry = header.get(key)
    if not isinstance(entry, dict) or entry.get("dtype") != "U8":
        return None
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(shape, list) and len(shape) == 3 and shape[2] == 3
            and all(isinstance(v, int) and 0 < v <= MAX_IMAGE_SIDE for v in shape)):
        return None
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(isinstance(v, int) and v >= 0 for v in offsets)):
        return None
    begin, end = offsets
    if end - begin != shape[0] * shape[1] * 3:
        return None
    with open(path, "rb") as handle:
        handle.seek(data_start + begin)
        data = handle.read(end - begin)
    if len(data) != end - begin:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()
