"""The shot directions a prompt gives, in one place: shot sizes, camera moves
and moods, with the other words users write for them."""
from __future__ import annotations

SHOT_SIZES = ("close-up", "medium", "wide")
CAMERA_MOVES = ("static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down")
MOODS = ("neutral", "warm", "cool", "dramatic", "noir", "dreamy", "golden-hour")

_SIZE_ALIASES = {
    "closeup": "close-up", "close": "close-up", "cu": "close-up", "mcu": "close-up",
    "medium-close-up": "close-up", "extreme-close-up": "close-up", "ecu": "close-up",
    "mid": "medium", "ms": "medium", "medium-shot": "medium", "mid-shot": "medium",
    "ws": "wide", "long": "wide", "wide-shot": "wide", "long-shot": "wide", "full": "wide",
    "establishing": "wide",
}
_MOVE_ALIASES = {
    "none": "static", "still": "static", "locked": "static", "locked-off": "static",
    "zoom-in": "push-in", "dolly-in": "push-in", "push": "push-in", "pushin": "push-in",
    "zoom-out": "pull-out", "dolly-out": "pull-out", "pull": "pull-out", "pullout": "pull-out",
    "pan-l": "pan-left", "pan-r": "pan-right", "tilt-u": "tilt-up", "tilt-d": "tilt-down",
}
_MOOD_ALIASES = {
    "": "neutral", "none": "neutral", "natural": "neutral", "default": "neutral",
    "warmer": "warm", "cosy": "warm", "cozy": "warm",
    "cold": "cool", "cooler": "cool", "blue": "cool",
    "moody": "dramatic", "drama": "dramatic", "high-contrast": "dramatic",
    "black-and-white": "noir", "black-white": "noir", "bw": "noir", "b&w": "noir",
    "mono": "noir", "monochrome": "noir", "film-noir": "noir",
    "dream": "dreamy", "soft": "dreamy", "ethereal": "dreamy",
    "golden": "golden-hour", "goldenhour": "golden-hour", "sunset": "golden-hour",
    "magic-hour": "golden-hour",
}


def _canonical(value: str | None) -> str:
    return (value or "").strip().lower().replace("_", "-").replace(" ", "-")


def _resolve(value: str | None, known: tuple[str, ...], aliases: dict[str, str],
             fallback: str) -> tuple[str, bool]:
    key = _canonical(value)
    if key in known:
        return key, True
    if key in aliases:
        return aliases[key], True
    return fallback, False


def resolve_shot_size(value: str | None) -> tuple[str, bool]:
    """(canonical shot size, known); unknown sizes resolve to "medium"."""
    return _resolve(value, SHOT_SIZES, _SIZE_ALIASES, "medium")


def resolve_camera_move(value: str | None) -> tuple[str, bool]:
    """(canonical camera move, known); unknown moves resolve to "static"."""
    return _resolve(value, CAMERA_MOVES, _MOVE_ALIASES, "static")


def resolve_mood(value: str | None) -> tuple[str, bool]:
    """(canonical mood, known); unknown moods resolve to "neutral"."""
    return _resolve(value, MOODS, _MOOD_ALIASES, "neutral")
