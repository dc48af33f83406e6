"""Sequence: orders shots, trims them, joins them by cuts or dissolves, lays
sound under them and exports the cut.

Writes into the run's output folder, every file named after the cut so that
several Sequences can share a folder: `<name>.mp4` (the cut, H.264, with its
sound: the audio file if one is set, mixed with each shot's own sound where the
shot has one, see canvas_app/media/exports/shot_sound.py), `shots/<name>_NN_<shot>.mp4` (each shot untrimmed) with
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
import math
import re
import shutil
from functools import partial
from pathlib import Path

from canvas_app.errors import BadInput
from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.spec import IdentityVerdict, MemoryCost
from canvas_app.graph.types import CLIP, SEQUENCE
from canvas_app.media.exports.options import EXPORTS, param_name
from canvas_app.media.publish import new_staging, publish, stamps, stamps_valid
from canvas_app.values import SequenceResult

# timeline exports: option -> (OTIO adapter, file suffix)
TIMELINE_FORMATS = {"edl": ("cmx_3600", ".edl"), "fcp7": ("fcp_xml", ".fcp7.xml"),
                    "fcpxml": ("fcpx_xml", ".fcpxml")}
VIDEO_FORMATS = {"prores": ("prores", ".mov"), "webp": ("webp", ".webp"), "gif": ("gif", ".gif")}


MAX_CUT_SECONDS = 24 * 3600
SOUND_BYTES_PER_SECOND = 48000 * 2 * 4 * 3  # 48 kHz stereo float32, decoded, resampled, padded


def safe_name(text: str, fallback: str = "cut") -> str:
    """A file name that cannot leave the output folder."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    return name[:80] or fallback


def named_shot(clip, graph):
    """The clip named after the node that rendered it (its Generate: the shot), so
    that the Timeline, the report, the contact sheet and the file names all use
    one name per shot; the prompt's name stays when that node is not known."""
    from dataclasses import replace

    node = graph.nodes.get(clip.metadata.get("node")) if graph is not None else None
    if node is None or clip.metadata.get("shot") == node.title:
        return clip
    return replace(clip, metadata={**clip.metadata, "shot": node.title})


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
                      help="Frame rate of the cut; 0 = the first shot's (24 when the EDL or "
                           "XML exports are on and no timecode rate is a multiple of it)."),
            ParamSpec("width", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
            ParamSpec("height", "int", 0, minimum=0, maximum=8192, help="0 = the first shot's."),
            ParamSpec("audio", "file", "", help="WAV, MP3 or AAC laid under the cut, trimmed or "
                                                "padded to its length, and mixed with the "
                                                "shots' own sound (LTX-2's) where they have one.",
                      file_filter="Audio (*.wav *.mp3 *.aac *.m4a *.flac *.ogg)"),
            ParamSpec("audio_fade", "float", 1.0, minimum=0.0, maximum=30.0,
                      help="Seconds of fade out at the end of the sound."),
        ) + tuple(ParamSpec(param_name(key), "bool", False, label=label, help=f"Write {what}.")
                  for key, (label, what) in EXPORTS.items()),
        summary=_summary,
    )

    def run(self, inputs, params, ctx):
        from canvas_app.media.exports.cut import CutPlan
        from canvas_app.media.exports.provenance import KEY, graph_json
        from canvas_app.media.exports.schedule import ExportJobs
        from canvas_app.media.images import save_png
        from canvas_app.media.timeline import TimelineShot, TimelineSound, reel_name
        from canvas_app.report import build_report, png_text, write_report

        node = ctx.node_title or ctx.node_id
        clips = [named_shot(clip, ctx.graph) for clip in inputs.get("clips") or [] if clip is not None]
        if not clips:
            raise BadInput("connect at least one shot", node=node, field="clips")
        if ctx.output_dir is None:
            raise BadInput("no output folder was chosen for the export", node=node)
        name = safe_name(params["name"])
        chosen = {key for key in EXPORTS if params.get(param_name(key))}
        fps = params["fps"] or _first_shot_rate(clips[0].fps, chosen)
        width = params["width"] or clips[0].size[0]
        height = params["height"] or clips[0].size[1]
        trims = params["trims"]
        problem = _timecode_problem(fps, chosen)
        if problem:
            raise BadInput(problem, node=node, field="fps")

        planned = self._planned(clips, trims, fps, node)
        plan = CutPlan(planned, fps, (width, height))
        problem = plan.check()
        if problem:
            raise BadInput(problem, node=node, field="trims")
        audio = None
        if params.get("audio"):
            from canvas_app.media.exports.audio import load_audio

            audio = load_audio(params["audio"], plan.total_frames / fps,
                               fade=params.get("audio_fade", 1.0), node=node, field="audio")
        audio = _with_shot_sounds(plan, audio)
        provenance = {KEY: graph_json(ctx.graph, ctx.output_dir)} if ctx.graph is not None else {}

        out_dir = Path(ctx.output_dir)
        staging = new_staging(out_dir)
        exported = []
        try:
            (staging / "shots").mkdir()
            timeline_shots, cut_ranges, texts, stems, shot_files, reels = [], [], [], [], [], []
            for index, (clip, shot) in enumerate(zip(clips, planned)):
                shot_name = safe_name(str(clip.metadata.get("shot") or f"shot{index + 1}"), "shot")
                stems.append(f"{name}_{index + 1:02d}_{shot_name}")
                shot_file = Path("shots") / f"{stems[-1]}.mp4"
                shot_files.append(shot_file)
                reel = reel_name(name, index)  # the EDL's reel, tagged in the file
                reels.append(reel)
                # A still of each shot with how it was made in its PNG text chunks.
                texts.append({**png_text(clip.metadata), **provenance})
                save_png(clip.frames[shot.first], staging / shot_file.with_suffix(".png"),
                         texts[-1])
                timeline_shots.append(TimelineShot(
                    name=str(clip.metadata.get("shot") or f"Shot {index + 1}"),
                    media_path=out_dir / shot_file, available_frames=len(clip.frames),
                    in_frame=shot.first, out_frame=shot.last, metadata=_timeline_metadata(clip),
                    dissolve=shot.dissolve, reel=reel, media_fps=clip.fps,
                    size=_even_size(clip.frames[0])))
                cut_ranges.append((clip, shot.first, shot.last))
            sound = None
            if audio is not None:  # a copy in the output folder, as under the cut (faded)
                from canvas_app.media.exports.audio import write_wav

                sound_file = Path(f"{name}.wav")
                write_wav(audio, staging / sound_file)
                sound = TimelineSound(out_dir / sound_file, plan.total_frames / fps)

            # Every file below is independent of the others: they are written side by side
            # (canvas_app/media/exports/schedule.py), the slowest started first.
            # Frames coded when their shot was rendered (shot_frames.py) only wait: those jobs last.
            from canvas_app.media.exports.shot_frames import coded_ahead
            from canvas_app.media.exports.shot_frames import release as release_coded_frames

            jobs = ExportJobs(ctx)
            for key in ("prores", "webp"):
                if key in chosen:
                    kind, suffix = VIDEO_FORMATS[key]
                    jobs.add(EXPORTS[key][0], plan.total_frames, partial(
                        _encode_cut, plan, fps, staging / f"{name}{suffix}", kind, audio,
                        provenance), waits=any(coded_ahead(clip, key) for clip in clips))
            if "frames" in chosen:
                from canvas_app.media.exports.frames import write_frame_sequences

                for index in range(len(planned)):  # a job per shot: PNG frames are the slowest
                    jobs.add(f"PNG frames {index + 1}", planned[index].source_frames, partial(
                        _write_frames, plan, index, staging / "frames", stems, texts,
                        write_frame_sequences), waits=coded_ahead(clips[index], "frames"))
            jobs.add("cut", plan.total_frames, partial(
                _encode_cut, plan, fps, staging / f"{name}.mp4", "h264", audio, provenance))
            if "gif" in chosen:
                jobs.add(EXPORTS["gif"][0], plan.total_frames, partial(
                    _encode_cut, plan, fps, staging / f"{name}.gif", "gif", audio, provenance))
            for index, clip in enumerate(clips):
                jobs.add(f"shot {index + 1} of {len(clips)}", len(clip.frames), partial(
                    _write_shot_file, clip, staging / shot_files[index], provenance, reels[index]))
            jobs.add("timelines", 0, partial(
                _write_timelines, staging, name, sorted(chosen & set(TIMELINE_FORMATS)),
                timeline_shots, fps, out_dir, sound, (width + width % 2, height + height % 2)))
            if "contact_sheet" in chosen:
                jobs.add(EXPORTS["contact_sheet"][0], 0, partial(
                    _write_contact_sheet, staging / f"{name}.contact.png", planned,
                    timeline_shots, f"{name} - {len(planned)} shots, "
                                    f"{plan.total_frames / fps:.1f} s", provenance))
            jobs.run()
            release_coded_frames(clips)  # written: MBs a shot given back

            exported += [f"{name}{VIDEO_FORMATS[key][1]}"
                         for key in sorted(chosen & set(VIDEO_FORMATS))]
            if "frames" in chosen:
                exported += [f"frames/{stem}" for stem in stems]
            exported += [f"{name}{TIMELINE_FORMATS[key][1]}"
                         for key in sorted(chosen & set(TIMELINE_FORMATS))]
            if "contact_sheet" in chosen:
                exported.append(f"{name}.contact.png")
            report = build_report(name, cut_ranges, fps=fps, size=(width, height),
                                  video=f"{name}.mp4", timeline=f"{name}.otio",
                                  shot_files=[str(Path("shots") / Path(s.media_path).name)
                                              for s in timeline_shots])
            report["duration"] = plan.total_frames / fps
            report["frames"] = plan.total_frames
            report["transitions"] = [{"into_shot": i + 1, "dissolve_frames": s.dissolve}
                                     for i, s in enumerate(planned) if s.dissolve]
            report["audio"] = str(params["audio"]) if params.get("audio") else None
            report["shot_sounds"] = _shots_with_sound(plan)
            report["sound_file"] = f"{name}.wav" if audio is not None else None
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

    @classmethod
    def _planned(cls, clips, trims, fps, node) -> list:
        """Each shot's frames as trimmed, and its dissolve in frames of the cut."""
        from canvas_app.media.exports.cut import PlannedShot

        planned = []
        for index, clip in enumerate(clips):
            trim = trims[index] if index < len(trims) else None
            first, last = cls._trim_frames(clip, trim, index, node)
            dissolve = int(round((trim or {}).get("dissolve", 0.0) * fps))
            planned.append(PlannedShot(clip, first, last, dissolve))
        return planned

    def check_cut(self, params, clips):
        """The run's own trim and dissolve checks, made on stand-ins with the
        frames and rate each shot will have, so that `validate` refuses what
        `run` would (a half-second dissolve into a shot of two frames)."""
        from types import SimpleNamespace

        from canvas_app.media.exports.cut import CutPlan

        if not clips or any(clip is None for clip in clips) or sum(c[0] for c in clips) > 10**6:
            return []  # a shot whose length is known only once rendered
        stand_ins = [SimpleNamespace(frames=range(frames), fps=fps) for frames, fps in clips]
        chosen = {key for key in EXPORTS if params.get(param_name(key))}
        fps = params["fps"] or _first_shot_rate(stand_ins[0].fps, chosen)
        try:
            plan = CutPlan(self._planned(stand_ins, params["trims"], fps, None), fps, (1, 1))
        except BadInput as error:
            return [(error.field or "trims", error.args[0])]
        problem = plan.check()
        if problem:
            return [("trims", problem)]
        return self._sound_problems(params, plan.total_frames / fps)

    @staticmethod
    def _sound_problems(params, seconds):
        """The sound decoded as long as the cut lasts, as the run will: a NaN
        after the first seconds is found too."""
        from canvas_app.media.exports.audio import audio_problem

        audio = params.get("audio")
        if not audio or not Path(audio).is_file() or not 0 < seconds <= MAX_CUT_SECONDS:
            return []
        problem = audio_problem(audio, seconds)
        return [("audio", f"{audio}: {problem}")] if problem else []

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
        """`validate` refuses a frame rate the EDL and XML timelines cannot count,
        and a sound that does not decode (checked before the run starts)."""
        from canvas_app.media.exports.audio import audio_problem

        problems = super().check_inputs(params)
        chosen = {key for key in EXPORTS if params.get(param_name(key))}
        fps = params.get("fps")
        fps = fps if isinstance(fps, (int, float)) and not isinstance(fps, bool) else 0
        problem = _timecode_problem(fps, chosen) if math.isfinite(fps) and fps > 0 else None
        problems += [("fps", problem)] if problem else []
        audio = params.get("audio")
        problem = audio_problem(audio) if audio and Path(audio).is_file() else None
        return problems + ([("audio", f"{audio}: {problem}")] if problem else [])

    def cut_cost(self, params, shot_seconds, shots_with_sound=False):
        """The cut's sound (its audio file, or shots' own sounds), held whole for as
        long as the cut lasts: each shot is at least one frame of the cut, so a tiny
        fps (0.001) makes a cut of hours, and its sound gigabytes, from shots of a second."""
        fps = params.get("fps")
        if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not fps > 0:
            return None  # 0: the first shot's rate, which that shot's own cost covers
        seconds = sum(max(1.0, math.ceil(min(shot * fps, 1e12))) / fps for shot in shot_seconds
                      if math.isfinite(shot))
        advice = "raise the fps, or set 0 for the first shot's"
        if seconds > MAX_CUT_SECONDS:
            return MemoryCost(0, "fps", advice, seconds=seconds, problem=(
                f"at {fps:g} fps the cut would last {seconds / 3600:.3g} hours (each shot is at "
                f"least one frame long); {advice}"))
        sound = seconds * SOUND_BYTES_PER_SECOND if params.get("audio") or shots_with_sound else 0
        return MemoryCost(int(sound), "fps", advice, seconds=seconds)

    def output_name(self, params):
        return safe_name(str(params.get("name", "")))

    def cache_key_extra(self, params, ctx):
        folder = str(Path(ctx.output_dir).resolve()) if ctx.output_dir else ""
        # Shots are named after their Generate nodes: renaming one exports again (and
        # renders nothing again: the Generate's own key has no title in it).
        names = [ctx.graph.nodes[link.src].title for link in ctx.graph.links_into(ctx.node_id, "clips")
                 if link.src in ctx.graph.nodes] if ctx.graph is not None else []
        return folder + ("|shots=" + json.dumps(names) if names else "")

    def identity_verdict(self, outputs):
        """The whole cut's: the mean over its shots, passed only if every shot
        passed (no single threshold: each shot has its own)."""
        result = outputs.get("sequence")
        summary = getattr(result, "report", {}).get("summary") if result is not None else None
        if not isinstance(summary, dict):
            return None
        return IdentityVerdict(summary.get("mean_identity"), bool(summary.get("all_passed", True)))

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




def _with_shot_sounds(plan, audio):
    """The audio file as laid (or None) mixed with the shots' own sounds, each at
    its shot's place in the cut."""
    from canvas_app.media.exports.shot_sound import lay_shot_sounds

    return lay_shot_sounds(plan, audio)


def _shots_with_sound(plan) -> list[int]:
    from canvas_app.media.exports.shot_sound import shots_with_sound

    return shots_with_sound(plan)


# The export jobs: module-level functions (each called with on_frame) so that what
# each one writes and reads is plain to see.
def _encode_cut(plan, fps, path, kind, audio, provenance, on_frame):
    from canvas_app.media.exports.encode import KINDS, encode_video

    coded = _coded_earlier(plan) if KINDS[kind].intra_only else None
    encode_video(plan.frames(coded), fps, path, kind=kind, audio=audio, metadata=provenance,
                 on_frame=on_frame)


def _coded_earlier(plan):
    """The ProRes frames coded when each shot was rendered (shot_frames.py), as
    stand-ins for the cut's frames shown as they are: only dissolves are coded here."""
    from canvas_app.media.exports.encode import EncodedFrame
    from canvas_app.media.exports.shot_frames import prores_frames

    shots = [prores_frames(plan, index) for index in range(len(plan.shots))]
    if not any(shots):
        return None
    return lambda index, frame: EncodedFrame(shots[index][frame], plan.size) \
        if shots[index] is not None and shots[index][frame] is not None else None


def _write_shot_file(clip, path, provenance, reel, on_frame):
    """The shot's file as encoded when it was rendered, with the graph and the reel
    added; encoded now when it has none (read from the disk cache, or its frames
    were replaced)."""
    from canvas_app.media.exports.encode import encode_video
    from canvas_app.media.exports.shot_sound import clip_sound

    shot = getattr(clip, "shot_file", None)
    if shot is not None and shot.matches(clip) and clip.sound is None:
        try:
            shot.write(path, {**provenance, "reel_name": reel})
            return
        except Exception:  # its encode failed: encoding here reports why, naming this node
            pass
    # A shot's own sound (LTX-2's) goes into its file too: that one is encoded here.
    encode_video(clip.frames, clip.fps, path, audio=clip_sound(clip), metadata=provenance,
                 on_frame=on_frame, reel=reel)


def _write_frames(plan, index, folder, stems, texts, write_frame_sequences, on_frame):
    """One shot's PNG frames (write_frame_sequences over a plan of that shot alone)."""
    from canvas_app.media.exports.cut import CutPlan

    single = CutPlan([plan.shots[index]], plan.fps, plan.size)
    write_frame_sequences(single, folder, [stems[index]], [texts[index]], on_frame=on_frame)


def _write_timelines(staging, name, keys, timeline_shots, fps, out_dir, sound, size, on_frame):
    from canvas_app.media.timeline import write_timeline

    write_timeline(staging / f"{name}.otio", name, timeline_shots, fps, media_root=out_dir,
                   sound=sound)
    for key in keys:
        adapter, suffix = TIMELINE_FORMATS[key]
        write_timeline(staging / f"{name}{suffix}", name, timeline_shots, fps,
                       media_root=out_dir, adapter_name=adapter, sound=sound, size=size)


def _write_contact_sheet(path, planned, timeline_shots, title, provenance, on_frame):
    from canvas_app.media.exports.contact_sheet import sample_frames, write_contact_sheet

    rows = [{"frames": sample_frames(shot.clip.frames, shot.first, shot.last),
             "name": ts.name, "seed": shot.clip.metadata.get("seed"),
             "score": (shot.clip.metadata.get("identity_score") or {}).get("mean"),
             "passed": shot.clip.metadata.get("identity_passed")}
            for shot, ts in zip(planned, timeline_shots)]
    write_contact_sheet(path, rows, title, {"Software": "canvas-app", **provenance})


def _timecode_problem(fps: float, chosen: set[str]) -> str | None:
    """Why the chosen timeline exports cannot be written at `fps` (0 = not known yet)."""
    from canvas_app.media.timeline import timecode_fraction

    formats = sorted(chosen & set(TIMELINE_FORMATS))
    if not fps or not formats:
        return None
    try:
        timecode_fraction(fps)
    except ValueError as error:
        exports = ", ".join(EXPORTS[key][0] for key in formats)
        needs = "export needs" if len(formats) == 1 else "exports need"
        return (f"{error}, which the {exports} {needs}: choose such a cut rate (e.g. 24, 25 "
                f"or 30) or turn {'that export' if len(formats) == 1 else 'those'} off")
    return None


def _first_shot_rate(fps: float, chosen: set[str]) -> float:
    """The cut's rate when its fps param is 0: the first shot's, unless the EDL or
    XML timelines are wanted and no timecode rate is a multiple of it (a 7 fps
    shot): then 24 fps, the shots' frames held as long as they last."""
    if _timecode_problem(fps, chosen):
        return 24.0
    return fps


def _even_size(frame) -> tuple[int, int]:
    """A shot file's frame size (encoded rounded up to even numbers)."""
    height, width = frame.shape[:2]
    return width + width % 2, height + height % 2


def _timeline_metadata(clip) -> dict:
    keys = ("shot", "node", "backend", "model", "seed", "tries", "identity_passed")
    data = {key: clip.metadata[key] for key in keys if key in clip.metadata}
    score = clip.metadata.get("identity_score") or {}
    data["identity_mean"] = score.get("mean")
    data["identity_min"] = score.get("minimum")
    return data
