"""The identity guard: render, score against the identity, re-roll if needed."""
from __future__ import annotations

import dataclasses

from canvas_app.engine.context import RunContext
from canvas_app.generation.base import GeneratorBackend, ShotRequest
from canvas_app.values import Clip

# Seeds of later tries are spread out so they do not share noise patterns.
SEED_STRIDE = 1_000_003
SCORE_SHARE = 0.15  # of each try's progress bar


def effective_score(score) -> float | None:
    """Mean similarity with frames where no face was found counted as 0: a
    shot that loses the face must not pass on the few frames that keep it."""
    values = [value or 0.0 for value in getattr(score, "similarities", None) or []]
    if not values:
        return score.mean
    return sum(values) / len(values) if score.mean is not None else None


def _sub_context(ctx: RunContext, start: float, span: float) -> RunContext:
    def progress(fraction: float, message: str) -> None:
        if ctx.on_progress is not None:
            ctx.on_progress(start + span * fraction, message)

    return dataclasses.replace(ctx, on_progress=progress)


def render_with_guard(backend: GeneratorBackend, request: ShotRequest, ctx: RunContext, *,
                      threshold: float, tries: int = 1) -> Clip:
    from canvas_app.identity import score_frames

    best: Clip | None = None
    best_mean = float("-inf")
    attempts = []
    tries = tries_asked = max(1, tries)
    rerolls_help = getattr(backend, "seed_changes_likeness", True)
    if not rerolls_help:
        tries = 1
    for attempt in range(tries):
        seed = (request.seed + attempt * SEED_STRIDE) % (2**31)
        start = attempt / tries
        render_ctx = _sub_context(ctx, start, (1 - SCORE_SHARE) / tries)
        clip = backend.render(dataclasses.replace(request, seed=seed), render_ctx)
        ctx.check_cancel()
        score = score_frames(request.identity, clip.frames,
                             conditioned_encoder=clip.metadata.get("identity_encoder"))
        ctx.progress(start + 1 / tries)
        effective = effective_score(score)
        mean = effective if effective is not None else float("-inf")
        attempts.append({"seed": seed, "mean": score.mean, "effective": effective})
        clip.metadata["identity_score"] = {**score.to_dict(), "effective_mean": effective}
        if best is None or mean > best_mean:
            best, best_mean = clip, mean
        if mean >= threshold:
            break
        if attempt + 1 < tries:
            ctx.log(f"identity score {effective} below {threshold}; re-rolling the seed")
    assert best is not None
    best.metadata["identity_threshold"] = threshold
    best.metadata["identity_passed"] = best_mean >= threshold
    best.metadata["tries"] = len(attempts)
    best.metadata["attempts"] = attempts
    if not rerolls_help and best_mean < threshold and tries_asked > 1:
        best.metadata.setdefault("notes", [])
        if isinstance(best.metadata["notes"], list):
            best.metadata["notes"].append(f"{backend.name}: the seed does not change the likeness, "
                                          "so the identity guard did not re-roll")
        ctx.warn(f"below the identity threshold, and {backend.name} cannot re-roll the likeness "
                 "with another seed: change the prompt or the references, or lower the threshold")
    return best
