"""<cut>.report.json: the proof that the identity held, one entry per shot."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from canvas_app.fileio import atomic_write_text

REPORT_VERSION = 1
_SHOT_KEYS = ("backend", "model", "model_revision", "seed", "tries", "scheduler", "steps",
              "guidance", "identity_strength", "reference_strength", "identity_id",
              "shot_size", "camera_move", "mood")
# Per-frame data that would swamp the report; the clip keeps it.
_BULKY_KEYS = {"face_boxes", "identity_score"}


def build_report(name: str, cut_ranges, *, fps: float, size: tuple[int, int], video: str,
                 timeline: str, shot_files: list[str]) -> dict[str, Any]:
    shots = []
    for index, (clip, first, last) in enumerate(cut_ranges):
        meta = clip.metadata
        score = dict(meta.get("identity_score") or {})
        entry: dict[str, Any] = {
            "index": index + 1,
            "name": meta.get("shot") or f"Shot {index + 1}",
            "node": meta.get("node"),
            "file": shot_files[index],
            "frames": len(clip.frames),
            "fps": clip.fps,
            "in_frame": first,
            "out_frame": last,
        }
        entry.update({key: meta[key] for key in _SHOT_KEYS if key in meta})
        entry["generation"] = {key: value for key, value in meta.items()
                               if key not in _BULKY_KEYS and _is_plain(value)}
        entry["identity_score"] = {
            "mean": score.get("mean"),
            # frames with no face counted as 0; what pass/fail is decided on
            "effective_mean": score.get("effective_mean", score.get("mean")),
            "minimum": score.get("minimum"),
            "recognizer": score.get("recognizer"),
            "independent_of_generator": score.get("independent"),
            "worst_frame": score.get("worst_frame"),
            "frames_scored": score.get("frames_sampled"),
            "frames_without_face": score.get("frames_without_face"),
            "frame_indices": score.get("frame_indices"),
            "per_frame": score.get("similarities"),
            "notes": score.get("notes") or [],
        }
        entry["threshold"] = meta.get("identity_threshold")
        entry["passed"] = bool(meta.get("identity_passed", False))
        shots.append(entry)
    means = [s["identity_score"]["mean"] for s in shots if s["identity_score"]["mean"] is not None]
    return {
        "report_version": REPORT_VERSION,
        "name": name,
        "video": video,
        "timeline": timeline,
        "fps": fps,
        "width": size[0],
        "height": size[1],
        "frames": sum(last - first for _, first, last in cut_ranges),
        "shots": shots,
        "summary": {
            "shots": len(shots),
            "passed": sum(1 for s in shots if s["passed"]),
            "all_passed": all(s["passed"] for s in shots),
            "mean_identity": sum(means) / len(means) if means else None,
            "worst_shot": min(shots, key=lambda s: s["identity_score"]["mean"]
                              if s["identity_score"]["mean"] is not None else -1.0)["name"]
            if shots else None,
        },
    }


def _is_plain(value, depth: int = 0) -> bool:
    """JSON-ready without help (numbers, text, small lists and dicts of them)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth < 3 and isinstance(value, (list, tuple)) and len(value) <= 64:
        return all(_is_plain(item, depth + 1) for item in value)
    if depth < 3 and isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def png_text(metadata: dict[str, Any]) -> dict[str, str]:
    """How a frame was made, for the text chunks of a saved PNG."""
    text = {key: json.dumps(value) if not isinstance(value, str) else value
            for key, value in metadata.items() if key not in _BULKY_KEYS and _is_plain(value)}
    text["Software"] = "canvas-app"
    return text


def write_report(path: Path, report: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(report, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
