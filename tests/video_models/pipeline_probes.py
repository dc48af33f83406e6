"""Probes on the diffusers pipelines the stages call: what they were called with,
and Stop pressed during their first step, as the user would."""
from __future__ import annotations

from unittest import mock

import pytest

from canvas_app.engine.context import Cancelled, RunContext


def spy(pipeline_class):
    """Record the keyword arguments of every call of a pipeline class, and run it.
    Returns (the patch to enter, the list of calls)."""
    original = pipeline_class.__call__
    calls = []

    def record(pipe, *args, **kwargs):
        calls.append(kwargs)
        return original(pipe, *args, **kwargs)

    return mock.patch.object(pipeline_class, "__call__", record), calls


def steps_seen_when_stopped_in_step_one(render) -> list:
    """Calls `render(ctx)` with Stop pressed during step 1 and expects Cancelled.
    Returns what the step callback saw: [its step, the pipeline's interrupt flag
    after it]; [0, True] means no second step ran and the pipeline was told."""
    from canvas_app.generation.video_models.latent_previews import FlowStepCallback

    ctx = RunContext()
    seen = []
    original = FlowStepCallback.__call__

    def stop_during_first_step(self, pipe, step, timestep, kwargs):
        seen.append(step)
        ctx.cancel_token.cancel()  # the user presses Stop during step 1
        try:
            return original(self, pipe, step, timestep, kwargs)
        finally:
            seen.append(pipe._interrupt)

    with mock.patch.object(FlowStepCallback, "__call__", stop_during_first_step):
        with pytest.raises(Cancelled):
            render(ctx)
    return seen
