"""Sequence: orders shots, trims them, joins them by cuts or dissolves, lays
sound under them and exports the cut.

Writes into the run's output folder, every file named after the cut so that
several Sequences can share a folder: `<name>.mp4` (the cut, H.264, with the
audio if one is set), `shots/<name>_NN_<shot>.mp4` (each shot untrimmed) with
a `.png` still of its first frame, `<name>.otio` (a timeline whose clips
reference the shot files with the trims as source ranges and dissolves as
transitions) and `<name>.report.json` (identity scores per shot). The
`export_*` params add ProRes, animated WebP/GIF, PNG frames, EDL, FCP7 XML,
FCPXML and a contact sheet (see canvas_app/media/exports/options.py). PNGs and
videos carry the project graph (canvas_app/media/exports/provenance.py).

Everything is written into a staging folder first and moved into place at
the end (canvas_app/media/publish.py), so a cancelled or failed export leaves
no half-written files; the files of the previous export of the same cut, and
only those, are replaced, and a crash in the middle never loses both.
"""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import CLIP, SEQUENCE
from canvas_app.media.exports.options import EXPORTS, param_name
from canvas_app.media.publish import new_staging, publish, stamps, stamps_valid
from canvas_app.values import SequenceResult

# timeline exports: option -> (OTIO adapter, file suffix)
TIMELINE_FORMATS = {"edl": ("cmx_3600", ".edl"), "fcp7": ("fcp_xml", ".fcp7.xml"),
                    "fcpxml": ("fcpx_xml", ".fcpxml")}
VIDEO_FORMATS = {"prores": ("prores", ".mov"), "webp": ("webp", ".webp"), "gif": ("gif", ".gif")}


def safe_name(text: str, fallback: str = "cut") -> str:
    """A file name that cannot leave the output folder."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return name[:80] or fallback


class Progress:
    """Frames done of all the frames an export writes, with an ETA, as node progress."""

    def __init__(self, ctx, total: int):
        self.ctx, self.total, self.done, self.started = ctx, max(1, total), 0, time.monotonic()
        self.what = ""

    def step(self, count: int = 1) -> None:
        self.done += count
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        self.ctx.progress(self.done / self.total,
                          f"{self.what}: frame {self.done}/{self.total}, ETA {eta:.0f} s")


def _summary(params) -> list[str]:
    # A module-level function, not a lambda: the spec travels to the engine process by pickle.
    return [f"exports {params.get('name')}.mp4"]


class Sequence(NodeType):
    spec = NodeSpec(
        type_name="Sequence", version=1, title="Sequence", category="Output",
        description="Orders shots (in the order they are connected), trims them, joins them by "
                    "cuts or dissolves, lays sound under them and exports the cut: MP4, ProRes, "
                    "WebP/GIF, PNG frames, OTIO/EDL/FCP XML timelines, a contact sheet and an "
                    "identity report.",
        inputs=(PortSpec("clips", CLIP, "Shots", multiple=True),),
        outputs=(PortSpec("sequence", SEQUENCE, "Sequence"),),
        params=(
            ParamSpec("name", "str", "cut", help="Base name of the exported files."),
            ParamSpec("trims", "trims", [], help="Per shot, in order: in and out points in "
                                                 "seconds, and seconds of dissolve into it."),
            ParamSpec("fps", "float", 0.0, minimum=0.0, maximum=120.0,
                      help="Frame rate of the cut; 0 = the first shot's."),
            ParamSpec("width", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
            ParamSpec("height", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
            ParamSpec("audio", "file", "", help="WAV, MP3 or AAC laid under the cut, trimmed or "
                                                "padded to its length.",
                      file_filter="Audio (*.wav *.mp3 *.aac *.m4a *.flac *.ogg)"),
            ParamSpec("audio_fade", "float", 1.0, minimum=0.0, maximum=30.0,
                      help="Seconds of fade out at the end of the sound."),
        ) + tuple(ParamSpec(param_name(key), "bool", False, label=label, help=f"Write {what}.")
                  for key, (label, what) in EXPORTS.items()),
        summary=_summary,
    )

    def run(self, inputs, params, ctx):
        from canvas_app.media.exports.cut import CutPlan, PlannedShot
        from canvas_app.media.exports.encode import encode_video
        from canvas_app.media.exports.provenance import KEY, graph_json
        from canvas_app.media.images import save_png
        from canvas_app.media.timeline import TimelineShot, write_timeline
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
        chosen = {key for key in EXPORTS if params.get(param_name(key))}

        planned = []
        for index, clip in enumerate(clips):
            trim = trims[index] if index < len(trims) else None
            first, last = self._trim_frames(clip, trim, index, node)
            dissolve = int(round((trim or {}).get("dissolve", 0.0) * fps))
            planned.append(PlannedShot(clip, first, last, dissolve))
        plan = CutPlan(planned, fps, (width, height))
        problem = plan.check()
        if problem:
            raise BadInput(problem, node=node, field="trims")
        audio = None
        if params.get("audio"):
            from canvas_app.media.exports.audio import load_audio

            audio = load_audio(params["audio"], plan.total_frames / fps,
                               fade=params.get("audio_fade", 1.0), node=node, field="audio")
        provenance = {KEY: graph_json(ctx.graph, ctx.output_dir)} if ctx.graph is not None else {}

        video_passes = 1 + len(chosen & set(VIDEO_FORMATS))
        frames_total = sum(shot.source_frames for shot in planned) if "frames" in chosen else 0
        progress = Progress(ctx, sum(len(c.frames) for c in clips) + video_passes *
                            plan.total_frames + frames_total)

        out_dir = Path(ctx.output_dir)
        staging = new_staging(out_dir)
        exported = []
        try:
            (staging / "shots").mkdir()
            timeline_shots, cut_ranges, texts, stems = [], [], [], []
            for index, (clip, shot) in enumerate(zip(clips, planned)):
                shot_name = safe_name(str(clip.metadata.get("shot") or f"shot{index + 1}"), "shot")
                stems.append(f"{name}_{index + 1:02d}_{shot_name}")
                shot_file = Path("shots") / f"{stems[-1]}.mp4"
                progress.what = f"shot {index + 1} of {len(clips)}"
                encode_video(clip.frames, clip.fps, staging / shot_file, metadata=provenance,
                             on_frame=lambda _count: progress.step())
                # A still of each shot with how it was made in its PNG text chunks.
                texts.append({**png_text(clip.metadata), **provenance})
                save_png(clip.frames[shot.first], staging / shot_file.with_suffix(".png"),
                         texts[-1])
                timeline_shots.append(TimelineShot(
                    name=str(clip.metadata.get("shot") or f"Shot {index + 1}"),
                    media_path=out_dir / shot_file, available_frames=len(clip.frames),
                    in_frame=shot.first, out_frame=shot.last, metadata=_timeline_metadata(clip),
                    dissolve=shot.dissolve))
                cut_ranges.append((clip, shot.first, shot.last))

            progress.what = "cut"
            encode_video(plan.frames(), fps, staging / f"{name}.mp4", audio=audio,
                         metadata=provenance, on_frame=lambda _count: progress.step())
            for key in sorted(chosen & set(VIDEO_FORMATS)):
                kind, suffix = VIDEO_FORMATS[key]
                progress.what = EXPORTS[key][0]
                encode_video(plan.frames(), fps, staging / f"{name}{suffix}", kind=kind,
                             audio=audio, metadata=provenance,
                             on_frame=lambda _count: progress.step())
                exported.append(f"{name}{suffix}")
            if "frames" in chosen:
                from canvas_app.media.exports.frames import write_frame_sequences

                progress.what = "PNG frames"
                write_frame_sequences(plan, staging / "frames", stems, texts,
                                      on_frame=lambda _count: progress.step())
                exported += [f"frames/{stem}" for stem in stems]
            write_timeline(staging / f"{name}.otio", name, timeline_shots, fps, media_root=out_dir)
            for key in sorted(chosen & set(TIMELINE_FORMATS)):
                adapter, suffix = TIMELINE_FORMATS[key]
                write_timeline(staging / f"{name}{suffix}", name, timeline_shots, fps,
                               media_root=out_dir, adapter_name=adapter)
                exported.append(f"{name}{suffix}")
            if "contact_sheet" in chosen:
                from canvas_app.media.exports.contact_sheet import sample_frames, write_contact_sheet

                rows = [{"frames": sample_frames(shot.clip.frames, shot.first, shot.last),
                         "name": ts.name, "seed": shot.clip.metadata.get("seed"),
                         "score": (shot.clip.metadata.get("identity_score") or {}).get("mean"),
                         "passed": shot.clip.metadata.get("identity_passed")}
                        for shot, ts in zip(planned, timeline_shots)]
                write_contact_sheet(staging / f"{name}.contact.png", rows,
                                    f"{name} - {len(rows)} shots, {plan.total_frames / fps:.1f} s",
                                    {"Software": "canvas-app", **provenance})
                exported.append(f"{name}.contact.png")
            report = build_report(name, cut_ranges, fps=fps, size=(width, height),
                                  video=f"{name}.mp4", timeline=f"{name}.otio",
                                  shot_files=[str(Path("shots") / Path(s.media_path).name)
                                              for s in timeline_shots])
            report["duration"] = plan.total_frames / fps
            report["frames"] = plan.total_frames
            report["transitions"] = [{"into_shot": i + 1, "dissolve_frames": s.dissolve}
                                     for i, s in enumerate(planned) if s.dissolve]
            report["audio"] = str(params["audio"]) if audio is not None else None
            report["exports"] = exported
            write_report(staging / f"{name}.report.json", report)
            ctx.check_cancel()
            published = publish(staging, out_dir, name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = SequenceResult(video_path=out_dir / f"{name}.mp4",
                                timeline_path=out_dir / f"{name}.otio",
                                report_path=out_dir / f"{name}.report.json", report=report)
        result.file_stamps = stamps(published)
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

    def check_inputs(self, params):
        """The sound must decode before the run starts, so that validate refuses it too."""
        from canvas_app.media.exports.audio import audio_problem

        problems = super().check_inputs(params)
        audio = params.get("audio")
        problem = audio_problem(audio) if audio and Path(audio).is_file() else None
        return problems + ([("audio", f"{audio}: {problem}")] if problem else [])

    def output_name(self, params):
        return safe_name(str(params.get("name", "")))

    def cache_key_extra(self, params, ctx):
        return str(Path(ctx.output_dir).resolve()) if ctx.output_dir else ""

    def is_result_valid(self, outputs):
        """The export is still there, untouched since it was written."""
        result = outputs.get("sequence")
        return result is not None and stamps_valid(result.file_stamps)

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




def _timeline_metadata(clip) -> dict:
    keys = ("shot", "node", "backend", "model", "seed", "tries", "identity_passed")
    data = {key: clip.metadata[key] for key in keys if key in clip.metadata}
    score = clip.metadata.get("identity_score") or {}
    data["identity_mean"] = score.get("mean")
    data["identity_min"] = score.get("minimum")
    return data
