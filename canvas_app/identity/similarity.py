"""Similarity of face embeddings: pure maths on stored vectors, no model.

Similarity is "higher = more alike" for every encoder and one threshold, 0.4,
means "same person":

- insightface: cosine similarity of the normalised embeddings.
- dlib: ``1 - DLIB_DESCRIPTOR_NORM * euclidean distance`` of the normalised
  embeddings. dlib's raw descriptors have a nearly constant length (about
  1.46), so this is 1 - dlib's own distance and dlib's published rule "same
  person if distance < 0.6" becomes "similarity > 0.4"."""
from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.4
# Mean length of dlib's raw 128-d descriptors (measured: 1.36..1.59, median 1.46).
DLIB_DESCRIPTOR_NORM = 1.46


def normalize(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm <= 1e-12:
        raise ValueError("cannot normalise a zero or non-finite vector")
    return (vector / norm).astype(np.float32)


def encoder_family(encoder_name: str) -> str:
    return "insightface" if encoder_name.startswith("insightface") else encoder_name


def similarity(encoder_name: str, a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two normalised embeddings made by `encoder_name`."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"embedding sizes differ: {a.shape[0]} and {b.shape[0]}")
    if encoder_family(encoder_name) == "dlib":
        return float(1.0 - DLIB_DESCRIPTOR_NORM * np.linalg.norm(a - b))
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b)) or 1e-12
    return float(np.dot(a, b) / denominator)
