"""Prompt: what the shot shows and how it is shot."""
from __future__ import annotations

from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import PROMPT
from canvas_app.shot_directions import CAMERA_MOVES, MOODS, SHOT_SIZES
from canvas_app.values import ShotPrompt


def summarize(params) -> list[str]:
    text = (params.get("positive") or "").strip().replace("\n", " ")
    return [text or "(empty prompt)",
            f"{params.get('shot_size')} · {params.get('camera_move')} · {params.get('duration')} s"]


class Prompt(NodeType):
    spec = NodeSpec(
        type_name="Prompt", version=1, title="Prompt", category="Shots", header_color="#2b7480",
        description="Positive and negative text plus shot directions.",
        outputs=(PortSpec("prompt", PROMPT, "Prompt"),),
        params=(
            ParamSpec("positive", "text", "", help="What the shot shows.", rows=3),
            ParamSpec("negative", "text", "blurry, deformed, extra fingers",
                      help="What the generator should avoid."),
            ParamSpec("shot_size", "choice", "medium", choices=SHOT_SIZES,
                      help="How much of the person is in frame."),
            ParamSpec("camera_move", "choice", "static", choices=CAMERA_MOVES),
            ParamSpec("duration", "float", 2.0, minimum=0.1, maximum=60.0, step=0.1,
                      help="Shot length in seconds."),
            ParamSpec("mood", "choice", "neutral", choices=MOODS, help="Colour grade and light."),
        ),
        summary=summarize,
    )

    def cache_key_extra(self, params, ctx):
        return ctx.node_title  # the title is the shot's name in the cut

    def run(self, inputs, params, ctx):
        return {"prompt": ShotPrompt(positive=params["positive"], negative=params["negative"],
                                     shot_size=params["shot_size"],
                                     camera_move=params["camera_move"],
                                     duration=params["duration"], mood=params["mood"],
                                     name=ctx.node_title)}
