"""Video files through PyAV: H.264 MP4, ProRes 422 HQ MOV, animated WebP and GIF.

`encode_video(frames, fps, path, kind=...)` takes RGB uint8 frames from any
iterable and writes the file atomically (a temporary name beside it, then
os.replace), so a failed or cancelled export leaves the previous file as it
was. MP4 and MOV can carry an audio track (float samples from
`audio.load_audio`: AAC in the MP4, 16-bit PCM in the MOV) and text metadata
(the project graph, see `provenance`). Timestamps count frames in a 1/fps
time base, so readers report exactly len(frames) frames at fps.

Colour: RGB frames are converted to Y'CbCr with the matrix the standards
give the frame size (BT.709 for HD and up, BT.601 - SMPTE 170M, or BT.470BG
for 576-line PAL - below 720 lines) in limited ("tv") range, and tagged so:
primaries, transfer, matrix and range in the stream (H.264 VUI, ProRes frame
header) and in the container's `colr` atom, so players and editors decode
the colours as they were made instead of guessing from the size.

MP4 and MOV get a timecode track starting at 00:00:00:00 and, when given,
a reel name (`reel_name` tag on the file, and on the timecode track of a
MOV), which the EDL's events name.
"""
from __future__ import annotations

import os
import uuid
from fractions import Fraction
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from canvas_app.media.colour import BT601_525, colour_for, tag_stream, to_yuv


@dataclass(frozen=True)
class Kind:
    container: str
    codec: str
    pix_fmt: str
    options: dict
    audio_codec: str | None  # None: the format carries no sound
    max_width: int = 0  # sharing formats are scaled down
    max_fps: float = 0  # GIF delays are whole hundredths of a second: faster frames are dropped


KINDS = {
    "h264": Kind("mp4", "libx264", "yuv420p", {"crf": "20", "preset": "medium"}, "aac"),
    # profile 3 = 422 HQ; vendor apl0 makes Final Cut and QuickTime treat it as Apple's own.
    "prores": Kind("mov", "prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"},
                   "pcm_s16le"),
    "webp": Kind("webp", "libwebp_anim", "yuv420p", {"quality": "80", "loop": "0"}, None, 640),
    "gif": Kind("gif", "gif", "rgb8", {"loop": "0"}, None, 480, 50),
}


def frame_step(fps: float, max_fps: float) -> int:
    """Keep every k-th frame so that fps / k is at most max_fps (1 = all)."""
    if not max_fps or fps <= max_fps:
        return 1
    return int(np.ceil(fps / max_fps))


def _even_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    if max_width and width > max_width:
        height, width = max(1, round(height * max_width / width)), max_width  # 8192x2: not 0
    return width + width % 2, height + height % 2


def encode_video(frames: Iterable[np.ndarray], fps: float, path: str | Path, *, kind: str = "h264",
                 audio: np.ndarray | None = None, metadata: dict[str, str] | None = None,
                 on_frame: Callable[[int], None] | None = None, reel: str | None = None) -> Path:
    """Write `frames` as a `kind` file at `path`; `on_frame(count)` after each
    frame (progress, and a cancel point if it raises). `reel` names the
    file's reel (an EDL event's source) in its metadata."""
    import av

    from canvas_app.media.exports.audio import SAMPLE_RATE
    from canvas_app.media.video import conform, fps_fraction

    spec = KINDS[kind]
    path = Path(path)
    step = frame_step(float(fps), spec.max_fps)
    rate = fps_fraction(fps) / step
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("no frames to write")
    size = _even_size(first.shape[1], first.shape[0], spec.max_width)
    colour = colour_for(*size) if kind != "webp" else BT601_525  # WebP is BT.601 by its spec
    yuv = spec.pix_fmt.startswith("yuv")
    movie = spec.container in ("mp4", "mov")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{path.stem}.{uuid.uuid4().hex[:10]}.part{path.suffix}"
    options = {"movflags": "+faststart+use_metadata_tags+write_colr"} if movie else {}
    if spec.container in ("webp", "gif"):
        options["loop"] = spec.options.get("loop", "0")
    try:
        with av.open(str(temp), mode="w", format=spec.container, options=options) as container:
            for key, value in (metadata or {}).items():
                container.metadata[key] = _utf8(value)
            stream = container.add_stream(spec.codec, rate=rate)
            stream.width, stream.height = size
            stream.pix_fmt = spec.pix_fmt
            if movie:
                stream.metadata["timecode"] = "00:00:00:00"
                if reel:
                    container.metadata["reel_name"] = stream.metadata["reel_name"] = _utf8(reel)
            if yuv:
                tag_stream(stream.codec_context, colour)
            stream.time_base = 1 / rate
            stream.codec_context.time_base = 1 / rate
            stream.options = {k: v for k, v in spec.options.items() if k != "loop"}
            stream.thread_type = "AUTO"
            sound = None
            if audio is not None and spec.audio_codec is not None:
                sound = container.add_stream(spec.audio_codec, rate=SAMPLE_RATE)
                sound.layout = "stereo"
                _encode_audio(container, sound, audio)
            count = 0
            for index, frame in enumerate(_chain(first, iterator)):
                if index % step:  # dropped (a GIF over 50 fps), but counted as done
                    if on_frame is not None:
                        on_frame(index + 1)
                    continue
                if (frame.shape[1], frame.shape[0]) != size:
                    frame = conform(np.ascontiguousarray(frame[:, :, :3]), *size)
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                                         format="rgb24")
                if yuv:  # our matrix, not the encoder's default guess (BT.601 at any size)
                    video_frame = to_yuv(video_frame, spec.pix_fmt, colour)
                video_frame.pts = count
                video_frame.time_base = 1 / rate
                container.mux(stream.encode(video_frame))
                count += 1
                if on_frame is not None:
                    on_frame(index + 1)
            container.mux(stream.encode(None))
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _utf8(text) -> str:
    """Text FFmpeg can store (UTF-8): a lone surrogate, from a file name say, becomes "?"."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def _chain(first, rest):
    yield first
    yield from rest


def _encode_audio(container, stream, samples: np.ndarray) -> None:
    """All of the sound first: it is small, and the muxer interleaves it."""
    import av

    from canvas_app.media.exports.audio import SAMPLE_RATE

    block = 1024
    for start in range(0, samples.shape[1], block):
        chunk = np.ascontiguousarray(samples[:, start:start + block], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
