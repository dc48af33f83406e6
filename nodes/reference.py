"""Reference: one or more image files, each with a role."""
from __future__ import annotations

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import IMAGES
from canvas_app.values import ImageSet


class Reference(NodeType):
    spec = NodeSpec(
        type_name="Reference", version=1, title="Reference", category="Inputs",
        description="Image files with a role each: face, profile, outfit, environment, product.",
        outputs=(PortSpec("images", IMAGES, "Images"),),
        params=(ParamSpec("images", "images", [], label="Images",
                          help="JPEG, PNG or WebP files; EXIF orientation is applied."),),
    )

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
