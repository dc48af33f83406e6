"""Stop pressed during a flow-matching pipeline's first step, as the user would."""
from __future__ import annotations

from unittest import mock

import pytest

from canvas_app.engine.context import Cancelled, RunContext


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
