"""Reference: one or more image files, each with a role."""
from __future__ import annotations

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import IMAGES
from canvas_app.values import ImageSet


def summarize(params) -> list[str]:
    images = params.get("images") or []
    if not images:
        return ["no images yet: drop files here"]
    roles: dict[str, int] = {}
    for entry in images:
        roles[entry["role"]] = roles.get(entry["role"], 0) + 1
    names = ", ".join(entry["path"].replace("\\", "/").rsplit("/", 1)[-1] for entry in images)
    return [", ".join(f"{count} {role}" for role, count in roles.items()), names]


class Reference(NodeType):
    spec = NodeSpec(
        type_name="Reference", version=1, title="Reference", category="Inputs",
        description="Image files with a role each: face, profile, outfit, environment, product.",
        outputs=(PortSpec("images", IMAGES, "Images"),),
        params=(ParamSpec("images", "images", [], label="Images",
                          help="JPEG, PNG or WebP files; EXIF orientation is applied."),),
        summary=summarize, drop_param="images",
        drop_priority=10,  # a photo dropped on empty canvas is a reference
    )

    def check_inputs(self, params):
        problems = super().check_inputs(params)
        if not params.get("images"):
            problems.append(("images", "add at least one image"))
        return problems

    def run(self, inputs, params, ctx):
        from canvas_app.media.images import load_reference

        entries = params["images"]
        if not entries:
            raise BadInput("add at least one image", node=ctx.node_title or ctx.node_id,
                           field="images")
        loaded = []
        for index, entry in enumerate(entries):
            loaded.append(load_reference(entry["path"], entry["role"],
                                         node=ctx.node_title or ctx.node_id, field="images"))
            ctx.progress((index + 1) / len(entries))
        return {"images": ImageSet(tuple(loaded))}
