"""Video files: H.264 MP4 encode, decode, probe, and fitting frames to a sequence size.

Uses PyAV (FFmpeg's libraries), so no `ffmpeg` executable is needed.

- `write_video(frames, fps, path)` encodes RGB uint8 frames to H.264 (libx264,
  yuv420p, +faststart) in an MP4. Frames may come from a list or any iterable
  (a generator keeps memory flat for long cuts). The frame size is taken from
  the first frame and rounded up to even numbers (yuv420p needs them) by
  padding with the edge pixels; later frames of another size are letterboxed
  to it. Timestamps count frames in a 1/fps time base, so players and ffprobe
  report exactly `len(frames)` frames and `len(frames) / fps` seconds. The file
  is written next to the target under a temporary name and moved into place
  (canvas_app.fileio.replacing), so a cancelled or failed export never leaves a half file
  under the real name. Colour: BT.709 from 720 lines up, BT.601 below, tagged
  (canvas_app/media/colour.py).
- `read_video(path, max_frames=None, sample=None)` decodes to RGB uint8 frames;
  `read_samples(path, n)` decodes only n evenly spaced ones (identity scoring).
- `probe(path)` reports frames, fps, width, height, duration and codec.
- `conform(frame, width, height, mode="fit")` letterboxes ("fit") or crops
  ("cover") a frame to a sequence size.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from canvas_app.engine.context import RunContext
from canvas_app.errors import BadInput
from canvas_app.fileio import replacing
from canvas_app.media.colour import colour_for, tag_stream, to_yuv


def fps_fraction(fps: float) -> Fraction:
    """An exact frame rate: 23.976 -> 24000/1001, 29.97 -> 30000/1001, 12 -> 12."""
    fps = float(fps)
    if not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    for base in (24, 30, 48, 60, 120):
        ntsc = Fraction(base * 1000, 1001)
        if abs(fps - float(ntsc)) < 0.0015:
            return ntsc
    return Fraction(fps).limit_denominator(1000)


def conform(frame: np.ndarray, width: int, height: int, *, mode: str = "fit") -> np.ndarray:
    """Fit a frame into width x height.

    "fit" scales it to fit whole and pads with black (letterbox / pillarbox);
    "cover" scales it to fill and crops the overflow evenly. A frame that
    already has the size is returned as is."""
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    frame = np.ascontiguousarray(frame[:, :, :3])
    if mode == "cover":
        scale = max(width / w, height / h)
    elif mode == "fit":
        scale = min(width / w, height / h)
    else:
        raise ValueError(f"mode must be 'fit' or 'cover', not {mode!r}")
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(frame, (nw, nh), interpolation=interpolation)
    if mode == "cover":
        x0, y0 = (nw - width) // 2, (nh - height) // 2
        return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = resized[:height, :width]
    return out


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got {frame.dtype}")
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"frames must be (H, W, 3) RGB, got shape {frame.shape}")
    return np.ascontiguousarray(frame[:, :, :3])


def write_video(frames: Iterable[np.ndarray], fps: float, path: str | Path, *, crf: int = 20,
                preset: str = "medium", ctx: RunContext | None = None) -> Path:
    """Encode RGB uint8 frames to an H.264 MP4 at `path`; returns the path.

    `ctx`, if given, is checked for cancel per frame and told the progress
    when the number of frames is known (a list or anything with len())."""
    import av

    path = Path(path)
    rate = fps_fraction(fps)
    total = len(frames) if hasattr(frames, "__len__") else None  # type: ignore[arg-type]
    count = 0
    with replacing(path, ".mp4") as temp:  # a cancelled or failed export leaves no half file
        with av.open(str(temp), mode="w", format="mp4",
                     options={"movflags": "+faststart+write_colr"}) as container:
            stream = None
            size = None
            for frame in frames:
                if ctx is not None:
                    ctx.check_cancel()
                frame = _as_rgb(frame)
                if stream is None:
                    h, w = frame.shape[:2]
                    size = (w + w % 2, h + h % 2)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = size
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = 1 / rate
                    stream.codec_context.time_base = 1 / rate
                    stream.options = {"crf": str(int(crf)), "preset": preset}
                    colour = colour_for(*size)
                    tag_stream(stream.codec_context, colour)
                if frame.shape[1] != size[0] or frame.shape[0] != size[1]:
                    frame = _even(frame)
                    if (frame.shape[1], frame.shape[0]) != size:
                        frame = conform(frame, *size)
                video_frame = to_yuv(av.VideoFrame.from_ndarray(frame, format="rgb24"), "yuv420p",
                                     colour)
                video_frame.pts = count
                video_frame.time_base = 1 / rate
                for packet in stream.encode(video_frame):
                    container.mux(packet)
                count += 1
                if ctx is not None and total:
                    ctx.progress(count / total, f"encoding frame {count}/{total}")
            if stream is None:
                raise ValueError("no frames to write")
            for packet in stream.encode(None):
                container.mux(packet)
    return path


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise BadInput("video not found", file=str(path))
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise BadInput(f"not a readable video ({error.__class__.__name__})", file=str(path)) from None
    if not container.streams.video:
        container.close()
        raise BadInput("file has no video stream", file=str(path))
    return container


def probe(path: str | Path) -> dict:
    """frames, fps, width, height, duration (s) and codec of the first video stream."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0)
        if frames <= 0:  # container does not index frames: count packets
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps if fps else 0.0
        return {
            "frames": frames,
            "fps": fps,
            "width": int(stream.codec_context.width),
            "height": int(stream.codec_context.height),
            "duration": duration,
            "codec": stream.codec_context.name,
        }


def sample_indices(total: int, max_samples: int) -> list[int]:
    """At most `max_samples` evenly spaced frame indices of `total`, first and last included."""
    if total <= 0:
        return []
    if max_samples <= 0 or total <= max_samples:
        return list(range(total))
    return sorted({int(round(v)) for v in np.linspace(0, total - 1, max_samples)})


def read_samples(path: str | Path, max_samples: int = 8) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Up to `max_samples` evenly spaced RGB frames (first and last included):
    ([(index, frame)], total frames). Decoding stops after the last one wanted."""
    container = _open(path)
    try:
        with container:
            stream = container.streams.video[0]
            total = int(stream.frames or 0)
            if total <= 0:  # not in the header: count packets (no decoding)
                total = sum(1 for packet in container.demux(stream) if packet.size)
        wanted = set(sample_indices(total, max_samples))
        last = max(wanted) if wanted else -1
        sampled = []
        with _open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    sampled.append((index, frame.to_ndarray(format="rgb24")))
                if index >= last:
                    break
    except BadInput:
        raise
    except Exception as error:  # av.FFmpegError and friends
        raise BadInput(f"not a readable video ({error.__class__.__name__}: {error})",
                       file=str(path)) from None
    if not sampled:
        raise BadInput("the video has no frames", file=str(path))
    return sampled, max(total, sampled[-1][0] + 1)


def read_video(path: str | Path, max_frames: int | None = None,
               sample: int | None = None) -> tuple[list[np.ndarray], float]:
    """Decode a video to RGB uint8 frames; returns (frames, fps).

    `max_frames` stops after that many frames from the start. `sample` keeps at
    most that many frames, evenly spaced over the whole video (first and last
    included) - enough to score a shot without holding all of it."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        wanted: set[int] | None = None
        if sample is not None:
            total = int(stream.frames or 0)
            if total <= 0:
                total = probe(path)["frames"]
            if max_frames is not None:
                total = min(total, max_frames)
            if total > max(1, int(sample)):
                wanted = set(sample_indices(total, max(1, int(sample))))
        frames: list[np.ndarray] = []
        index = 0
        for frame in container.decode(stream):
            if max_frames is not None and index >= max_frames:
                break
            if wanted is None or index in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            index += 1
        return frames, fps
