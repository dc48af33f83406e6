"""Sequence: orders shots, trims them and exports the cut.

Writes into the run's output folder, every file named after the cut so that
several Sequences can share a folder: `<name>.mp4` (the cut, H.264),
`shots/<name>_NN_<shot>.mp4` (each shot untrimmed) with a `.png` still of its
first frame whose text chunks record seed, model and settings, `<name>.otio`
(a timeline whose clips reference the shot files with the trims as source
ranges) and `<name>.report.json` (identity scores per shot). Everything is
written into a staging folder first and moved into place at the end, so a
cancelled or failed export leaves no half-written files; the files of the
previous export of the same cut, and only those, are replaced.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import CLIP, SEQUENCE
from canvas_app.values import SequenceResult


def safe_name(text: str, fallback: str = "cut") -> str:
    """A file name that cannot leave the output folder."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return name[:80] or fallback


def _summary(params) -> list[str]:
    # A module-level function, not a lambda: the spec travels to the engine process by pickle.
    return [f"exports {params.get('name')}.mp4"]


class Sequence(NodeType):
    spec = NodeSpec(
        type_name="Sequence", version=1, title="Sequence", category="Output",
        description="Orders shots (in the order they are connected), trims them and exports an "
                    "MP4, an OpenTimelineIO timeline and an identity report.",
        inputs=(PortSpec("clips", CLIP, "Shots", multiple=True),),
        outputs=(PortSpec("sequence", SEQUENCE, "Sequence"),),
        params=(
            ParamSpec("name", "str", "cut", help="Base name of the exported files."),
            ParamSpec("trims", "trims", [], help="Per shot, in order: in and out points in seconds."),
            ParamSpec("fps", "float", 0.0, minimum=0.0, maximum=120.0,
                      help="Frame rate of the cut; 0 = the first shot's."),
            ParamSpec("width", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
            ParamSpec("height", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
        ),
        summary=_summary,
    )

    def run(self, inputs, params, ctx):
        from canvas_app.media.timeline import TimelineShot, write_timeline
        from canvas_app.media.video import conform, write_video
        from canvas_app.media.images import save_png
        from canvas_app.report import build_report, png_text, write_report

        node = ctx.node_title or ctx.node_id
        clips = [clip for clip in inputs.get("clips") or [] if clip is not None]
        if not clips:
            raise BadInput("connect at least one shot", node=node, field="clips")
        if ctx.output_dir is None:
            raise BadInput("no output folder was chosen for the export", node=node)
        name = safe_name(params["name"])
        fps = params["fps"] or clips[0].fps
        width = params["width"] or clips[0].size[0]
        height = params["height"] or clips[0].size[1]
        trims = params["trims"]

        out_dir = Path(ctx.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
        try:
            (staging / "shots").mkdir()
            timeline_shots, cut_ranges = [], []
            total = sum(len(clip.frames) for clip in clips)
            done = 0
            for index, clip in enumerate(clips):
                shot_name = safe_name(str(clip.metadata.get("shot") or f"shot{index + 1}"), "shot")
                shot_file = Path("shots") / f"{name}_{index + 1:02d}_{shot_name}.mp4"
                first, last = self._trim_frames(clip, trims[index] if index < len(trims) else None,
                                                index, node)
                write_video(clip.frames, clip.fps, staging / shot_file)
                # A still of each shot with how it was made in its PNG text chunks.
                save_png(clip.frames[first], staging / shot_file.with_suffix(".png"),
                         png_text(clip.metadata))
                timeline_shots.append(TimelineShot(
                    name=str(clip.metadata.get("shot") or f"Shot {index + 1}"),
                    media_path=out_dir / shot_file, available_frames=len(clip.frames),
                    in_frame=first, out_frame=last, metadata=_timeline_metadata(clip)))
                cut_ranges.append((clip, first, last))
                done += len(clip.frames)
                ctx.progress(0.5 * done / total, f"shot {index + 1} of {len(clips)}")

            def cut_frames():
                produced, count = 0, sum(last - first for _, first, last in cut_ranges)
                for clip, first, last in cut_ranges:
                    for frame in _retime(clip.frames[first:last], clip.fps, fps):
                        yield conform(frame, width, height)
                        produced += 1
                        ctx.progress(0.5 + 0.5 * min(1.0, produced / max(1, count)))

            write_video(cut_frames(), fps, staging / f"{name}.mp4")
            write_timeline(staging / f"{name}.otio", name, timeline_shots, fps, media_root=out_dir)
            report = build_report(name, cut_ranges, fps=fps, size=(width, height),
                                  video=f"{name}.mp4", timeline=f"{name}.otio",
                                  shot_files=[str(Path("shots") / Path(s.media_path).name)
                                              for s in timeline_shots])
            write_report(staging / f"{name}.report.json", report)
            ctx.check_cancel()
            self._publish(staging, out_dir, name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = SequenceResult(video_path=out_dir / f"{name}.mp4",
                                timeline_path=out_dir / f"{name}.otio",
                                report_path=out_dir / f"{name}.report.json", report=report)
        result.file_stamps = _file_stamps(result)
        return {"sequence": result}

    @staticmethod
    def _trim_frames(clip, trim, index, node) -> tuple[int, int]:
        count = len(clip.frames)
        if not trim:
            return 0, count
        first = int(round(trim["in"] * clip.fps))
        last = count if trim["out"] is None else min(count, int(round(trim["out"] * clip.fps)))
        if first >= last:
            raise BadInput(f"trim {index + 1} leaves no frames (the shot is "
                           f"{count / clip.fps:.2f} s long)", node=node, field="trims")
        return first, last

    @staticmethod
    def _publish(staging: Path, out_dir: Path, name: str) -> None:
        """Move the finished export into place. The shot files of the previous
        export of this cut (listed in its report) go; nothing else is touched."""
        old_report = out_dir / f"{name}.report.json"
        if old_report.is_file():
            try:
                previous = json.loads(old_report.read_text(encoding="utf-8"))
                old_files = [shot["file"] for shot in previous.get("shots", [])]
            except (ValueError, KeyError, TypeError, AttributeError):
                old_files = []
            shots_dir = (out_dir / "shots").resolve()
            for relative in old_files:
                for old in (out_dir / str(relative), (out_dir / str(relative)).with_suffix(".png")):
                    if old.resolve().parent == shots_dir:  # never outside shots/
                        old.unlink(missing_ok=True)
        (out_dir / "shots").mkdir(exist_ok=True)
        for item in (staging / "shots").iterdir():
            item.replace(out_dir / "shots" / item.name)
        for item in staging.iterdir():
            if item.is_file():
                item.replace(out_dir / item.name)

    def cache_key_extra(self, params, ctx):
        return str(Path(ctx.output_dir).resolve()) if ctx.output_dir else ""

    def is_result_valid(self, outputs):
        """The export is still there, untouched since it was written."""
        result = outputs.get("sequence")
        return result is not None and result.file_stamps is not None and \
            _file_stamps(result) == result.file_stamps

    def save_result(self, outputs, folder):
        result = outputs["sequence"]
        if result.file_stamps is None:
            return False
        (Path(folder) / "sequence.json").write_text(json.dumps({
            "video": str(result.video_path), "timeline": str(result.timeline_path),
            "report": str(result.report_path), "files": result.file_stamps}), encoding="utf-8")
        return True

    def load_result(self, folder):
        from canvas_app.project.io import read_json

        data = json.loads((Path(folder) / "sequence.json").read_text(encoding="utf-8"))
        report_path = Path(data["report"])
        result = SequenceResult(video_path=Path(data["video"]),
                                timeline_path=Path(data["timeline"]), report_path=report_path,
                                report=read_json(report_path) if report_path.is_file() else {})
        result.file_stamps = data["files"]
        return {"sequence": result}


def _file_stamps(result) -> list | None:
    """Size and modification time of each exported file (None if one is missing)."""
    from canvas_app.fileio import file_stamp

    stamps = [file_stamp(path) for path in (result.video_path, result.timeline_path,
                                            result.report_path)]
    return None if None in stamps else stamps


def _retime(frames, source_fps: float, target_fps: float):
    """Hold or drop frames so a shot keeps its duration at the cut's rate."""
    if abs(source_fps - target_fps) < 1e-6:
        yield from frames
        return
    count = max(1, round(len(frames) * target_fps / source_fps))
    for index in range(count):
        yield frames[min(len(frames) - 1, int(index * source_fps / target_fps))]


def _timeline_metadata(clip) -> dict:
    keys = ("shot", "node", "backend", "model", "seed", "tries", "identity_passed")
    data = {key: clip.metadata[key] for key in keys if key in clip.metadata}
    score = clip.metadata.get("identity_score") or {}
    data["identity_mean"] = score.get("mean")
    data["identity_min"] = score.get("minimum")
    return data
