"""Which exports a Sequence writes: one bool param each, and `canvas-app run --export`.

The cut's H.264 MP4, its .otio and the report are always written; the rest
are chosen per Sequence (params `export_<name>`) or for one run from the
command line (`--export prores,webp,...`, `--export all`, `--export none`).
"""
from __future__ import annotations

# name -> (param label, what it writes)
EXPORTS: dict[str, tuple[str, str]] = {
    "prores": ("ProRes 422 HQ", "<name>.mov, for editing"),
    "webp": ("Animated WebP", "<name>.webp, for quick sharing"),
    "gif": ("Animated GIF", "<name>.gif, for quick sharing"),
    "frames": ("PNG frames", "frames/<name>_NN_<shot>/NNNNN.png, every frame of each shot as cut"),
    "edl": ("CMX 3600 EDL", "<name>.edl, for Avid, Resolve, Premiere"),
    "fcp7": ("Final Cut Pro 7 XML", "<name>.fcp7.xml, for Premiere and Resolve"),
    "fcpxml": ("FCPXML", "<name>.fcpxml, for Final Cut Pro and Resolve"),
    "contact_sheet": ("Contact sheet", "<name>.contact.png, a row per shot with its score"),
}


def param_name(export: str) -> str:
    return f"export_{export}"


def parse_exports(text: str) -> dict[str, bool]:
    """`--export` text to {export: on}: "all", "none" or a comma list of names.
    Raises ValueError naming an unknown export."""
    words = [word.strip().lower() for word in text.split(",") if word.strip()]
    if words == ["all"]:
        return {name: True for name in EXPORTS}
    if words == ["none"]:
        return {name: False for name in EXPORTS}
    unknown = [word for word in words if word not in EXPORTS]
    if unknown:
        raise ValueError(f"unknown export {', '.join(unknown)}; choose from "
                         f"{', '.join(EXPORTS)}, all or none")
    return {name: name in words for name in EXPORTS}


def apply_exports(graph, chosen: dict[str, bool]) -> int:
    """Set the export params of every Sequence node; returns how many were changed."""
    count = 0
    for node in graph.nodes.values():
        if node.type_name != "Sequence":
            continue
        for name, on in chosen.items():
            graph.set_param(node.id, param_name(name), bool(on))
        count += 1
    return count
