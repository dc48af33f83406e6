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

Intra-only formats (ProRes: every frame coded on its own) can take frames
encoded earlier: `encode_frames` codes a shot's frames as soon as it is
rendered (canvas_app/media/exports/shot_frames.py) and `encode_video` muxes an
`EncodedFrame` as it is, so the cut only encodes its dissolves. The bytes are
the ones its own encoder would have made from the same frame (same settings,
no state carried from frame to frame).
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
    intra_only: bool = False  # every frame coded on its own: frames encoded earlier can be muxed


@dataclass(frozen=True)
class EncodedFrame:
    """A frame already coded by `encode_frames` (same kind and rate), `size` as coded."""
    data: bytes
    size: tuple[int, int]


KINDS = {
    "h264": Kind("mp4", "libx264", "yuv420p", {"crf": "20", "preset": "medium"}, "aac"),
    # profile 3 = 422 HQ; vendor apl0 makes Final Cut and QuickTime treat it as Apple's own.
    "prores": Kind("mov", "prores_ks", "yuv422p10le", {"profile": "3", "vendor": "apl0"},
                   "pcm_s16le", intra_only=True),
    # compression_level 2 (libwebp's "method", default 4): half the CPU for 4-5 % more bytes at
    # the same quality setting, 0.2 dB PSNR apart (docs/export.md).
    "webp": Kind("webp", "libwebp_anim", "yuv420p",
                 {"quality": "80", "compression_level": "2", "loop": "0"}, None, 640),
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
    from canvas_app.media.video import fps_fraction

    spec = KINDS[kind]
    path = Path(path)
    step = frame_step(float(fps), spec.max_fps)
    rate = fps_fraction(fps) / step
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("no frames to write")
    size = first.size if isinstance(first, EncodedFrame) else \
        _even_size(first.shape[1], first.shape[0], spec.max_width)
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
            stream.time_base = 1 / rate
            _configure(stream.codec_context, spec, colour if yuv else None, rate)
            sound = None
            if audio is not None and spec.audio_codec is not None:
                sound = container.add_stream(spec.audio_codec, rate=SAMPLE_RATE)
                sound.layout = "stereo"
                _encode_audio(container, sound, audio)
            count = 0
            muxer = _InOrder(container, stream, reorder=spec.intra_only)
            for index, frame in enumerate(_chain(first, iterator)):
                if index % step:  # dropped (a GIF over 50 fps), but counted as done
                    if on_frame is not None:
                        on_frame(index + 1)
                    continue
                if isinstance(frame, EncodedFrame):
                    if not spec.intra_only or frame.size != size:
                        raise ValueError(f"a frame encoded earlier does not fit this {kind} file")
                    muxer.add_encoded(frame.data, count)
                else:
                    video_frame = _video_frame(frame, size, spec.pix_fmt if yuv else None, colour)
                    video_frame.pts = count
                    video_frame.time_base = 1 / rate
                    muxer.add(stream.encode(video_frame))
                count += 1
                if on_frame is not None:
                    on_frame(index + 1)
            muxer.add(stream.encode(None))
            muxer.finish()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def encode_frames(frames: Iterable[np.ndarray], fps: float, kind: str = "prores") -> list[bytes]:
    """Each frame coded as `encode_video(..., kind=kind)` would code it in a cut
    of the same size and rate (an intra-only kind), for `EncodedFrame`."""
    import av

    from canvas_app.media.video import fps_fraction

    spec = KINDS[kind]
    if not spec.intra_only:
        raise ValueError(f"{kind} codes frames from one another: they cannot be coded alone")
    rate = fps_fraction(fps)
    coded, context, size = [], None, None
    for index, frame in enumerate(frames):
        if context is None:
            size = _even_size(frame.shape[1], frame.shape[0], spec.max_width)
            colour = colour_for(*size)
            context = av.CodecContext.create(spec.codec, "w")
            context.width, context.height = size
            context.pix_fmt = spec.pix_fmt
            _configure(context, spec, colour, rate)
        video_frame = _video_frame(frame, size, spec.pix_fmt, colour)
        video_frame.pts = index
        video_frame.time_base = 1 / rate
        coded += context.encode(video_frame)
    if context is None:
        return []
    coded += context.encode(None)
    coded.sort(key=lambda packet: packet.pts)  # frame threads hand them back late, in order
    return [bytes(packet) for packet in coded]


def _configure(codec_context, spec: Kind, colour, rate) -> None:
    """One encoder's settings, shared by `encode_video` and `encode_frames`: the
    same settings make the same bytes from the same frame."""
    if colour is not None:
        tag_stream(codec_context, colour)
    codec_context.time_base = 1 / rate
    codec_context.options = {k: v for k, v in spec.options.items() if k != "loop"}
    codec_context.thread_type = "AUTO"


def _video_frame(frame: np.ndarray, size: tuple[int, int], pix_fmt: str | None, colour):
    import av

    from canvas_app.media.video import conform

    if (frame.shape[1], frame.shape[0]) != size:
        frame = conform(np.ascontiguousarray(frame[:, :, :3]), *size)
    video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    if pix_fmt is not None:  # our matrix, not the encoder's default guess (BT.601 at any size)
        video_frame = to_yuv(video_frame, pix_fmt, colour)
    return video_frame


class _InOrder:
    """Muxes an intra-only stream's packets in frame order: its encoder hands
    them back a few frames late (frame threads), a frame coded earlier is ready
    at once. Other streams' packets go through as the encoder orders them
    (decode order, B-frames)."""

    def __init__(self, container, stream, reorder: bool) -> None:
        self.container, self.stream, self.reorder = container, stream, reorder
        self.waiting: dict[int, object] = {}
        self.next = 0

    def add(self, packets) -> None:
        if not self.reorder:
            self.container.mux(packets)
            return
        for packet in packets:
            self.waiting[packet.pts] = packet
        self._flush()

    def add_encoded(self, data: bytes, pts: int) -> None:
        import av

        packet = av.Packet(data)
        packet.stream = self.stream
        packet.time_base = self.stream.codec_context.time_base  # counts frames, as the encoder
        packet.pts = packet.dts = pts
        packet.duration = 1
        packet.is_keyframe = True
        self.add([packet])

    def _flush(self) -> None:
        while self.next in self.waiting:
            self.container.mux(self.waiting.pop(self.next))
            self.next += 1

    def finish(self) -> None:
        for pts in sorted(self.waiting):  # whatever an encoder numbered otherwise
            self.container.mux(self.waiting.pop(pts))


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
