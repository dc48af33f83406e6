"""A shot's own video file, encoded as soon as the shot is rendered.

`ShotFile.start(clip)` encodes the clip's frames as H.264 MP4 (through
`encode.encode_video`, so exactly the file the Sequence would write) in a
background thread while the next shot renders; the Sequence later only copies
the bytes into its staging folder with the project graph added to the
container's metadata (a remux: no frame is encoded again). On a farm worker
the shot is encoded there, and the bytes travel back with the clip.

A clip whose frames changed after its shot file was made (a node that returns
`dataclasses.replace(clip, frames=...)`) no longer `matches`; neither does a
clip read back from the disk cache (it has no shot file): the Sequence then
encodes it itself, as it always did.

When a Sequence downstream writes ProRes or PNG frames, the shot's frames are
coded for those too, after its H.264 file (shot_frames.py): `coded(kind)`.
"""
from __future__ import annotations

import os
import tempfile
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

UNSPECIFIED = 2  # FFmpeg's value for colour primaries and transfer that were not tagged
MUXER_TAGS = {"major_brand", "minor_version", "compatible_brands", "encoder"}  # it writes its own
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _encoder_pool() -> ThreadPoolExecutor:
    """Two encodes at once at most: x264 is already multi-threaded, and the
    next shot is rendering beside them."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2, thread_name_prefix="canvas-shot-encode")
        return _pool


def _encode_bytes(frames, fps: float) -> bytes:
    from canvas_app.media.exports.encode import encode_video

    with tempfile.TemporaryDirectory(prefix="canvas-shot-") as folder:
        path = encode_video(frames, fps, Path(folder) / "shot.mp4")
        return path.read_bytes()


class ShotFile:
    """The H.264 MP4 of one clip, whole (untrimmed), without provenance."""

    def __init__(self, frames: list, fps: float, data: bytes | None = None,
                 future: Future | None = None) -> None:
        self.frames = frames  # the very list encoded: `matches` checks it is still the clip's
        self.fps = float(fps)
        self.count = len(frames)
        self._data = data
        self._future = future
        # export kind -> its frames coded (list of bytes), or the Future coding them
        self._coded: dict[str, list[bytes] | Future] = {}
        self._coded_travel = False  # settled for a trip (a farm worker's): they are pickled too

    @classmethod
    def start(cls, clip, also: dict[str, tuple] | None = None) -> "ShotFile":
        """Start encoding `clip` on a background thread and return at once;
        `also`: frame-by-frame exports to code its frames for (after the file),
        each with the span of it they show (shot_frames.wanted_by_sequences)."""
        snapshot = list(clip.frames)  # the encoder's own list: the clip's may be changed later
        shot = cls(clip.frames, clip.fps,
                   future=_encoder_pool().submit(_encode_bytes, snapshot, clip.fps))
        for kind, span in (also or {}).items():
            shot.code_for(kind, snapshot, span)
        return shot

    def code_for(self, kind: str, frames: list, span: tuple) -> None:
        """Start coding `frames` (this shot's, a list of its own) for `kind`, the
        `span` of them the cut shows as they are, after what is queued."""
        from canvas_app.media.exports.shot_frames import code_frames

        if not self.coding(kind):
            self._coded[kind] = _encoder_pool().submit(code_frames, kind, frames, self.fps, span)

    def coding(self, kind: str) -> bool:
        """Whether its frames are (being) coded for `kind`."""
        return self._coded.get(kind) is not None

    def release_coded(self) -> None:
        """Drop the coded frames (MBs a shot) once a Sequence has written them: a
        later export of this clip codes its frames itself, as one without them."""
        self._coded = {}

    def coded(self, kind: str) -> list[bytes] | None:
        """The frames coded for `kind` (waits for them); None when they were not
        asked for or their coding failed (the Sequence codes them itself)."""
        coded = self._coded.get(kind)
        if isinstance(coded, Future):
            try:
                coded = self._coded[kind] = coded.result()
            except Exception:
                coded = self._coded[kind] = None
        return coded

    def matches(self, clip) -> bool:
        return clip.frames is self.frames and len(clip.frames) == self.count and \
            abs(float(clip.fps) - self.fps) < 1e-9 and self.ready_or_pending

    @property
    def ready_or_pending(self) -> bool:
        return self._data is not None or self._future is not None

    def data(self) -> bytes:
        """The encoded file; waits for the encode (raises what it raised)."""
        if self._data is None:
            if self._future is None:
                raise RuntimeError("this shot file was not encoded")
            self._data = self._future.result()
        return self._data

    def settle(self) -> None:
        """Wait for the encodes, so the bytes travel when this is pickled
        (a farm worker does this before it returns the shot)."""
        if self._future is not None and self._data is None:
            try:
                self.data()
            except Exception:  # the Sequence encodes the shot itself and reports it
                self._future = None
        for kind in list(self._coded):
            self.coded(kind)
        self._coded_travel = True

    def __getstate__(self) -> dict:
        # Never wait here: the editor's engine pickles a finished shot for the window
        # while the encode may still run. Without its bytes a copy just does not match.
        done = self._data is not None or (self._future is not None and self._future.done()
                                          and self._future.exception() is None)
        # The coded frames (MBs a shot) travel only from a farm worker, which settles first:
        # the editor's window, which gets its shots pickled too, never needs them.
        coded = {kind: self.coded(kind) for kind in self._coded} if self._coded_travel else {}
        return {"frames": self.frames, "fps": self.fps, "count": self.count,
                "data": self.data() if done else None, "coded": coded}

    def __setstate__(self, state: dict) -> None:
        self.frames, self.fps, self.count = state["frames"], state["fps"], state["count"]
        self._data, self._future = state["data"], None
        self._coded, self._coded_travel = state.get("coded", {}), False

    def write(self, path: Path, metadata: dict[str, str]) -> Path:
        """The file at `path` with `metadata` added to its container, written
        atomically. Whatever the writer put in the file stays: the video stream
        as encoded (colour tags included), its tags (a timecode, a reel name),
        the container's tags."""
        import av

        path = Path(path)
        source = path.parent / f".{path.stem}.{uuid.uuid4().hex[:10]}.src{path.suffix}"
        temp = path.parent / f".{path.stem}.{uuid.uuid4().hex[:10]}.part{path.suffix}"
        try:
            source.write_bytes(self.data())
            with av.open(str(source)) as reader:
                incoming = reader.streams.video[0]
                context = incoming.codec_context
                flags = "+faststart+use_metadata_tags"
                if UNSPECIFIED not in {context.color_primaries, context.color_trc}:
                    flags += "+write_colr"  # the writer tagged the colours: keep the colr atom
                with av.open(str(temp), mode="w", format="mp4",
                             options={"movflags": flags}) as writer:
                    for key, value in reader.metadata.items():
                        if key not in MUXER_TAGS:
                            writer.metadata[key] = value
                    for key, value in metadata.items():
                        writer.metadata[key] = value
                    outgoing = writer.add_stream_from_template(incoming)
                    for key, value in incoming.metadata.items():  # a timecode makes its track
                        outgoing.metadata[key] = value
                    for packet in reader.demux(incoming):
                        if packet.dts is None:  # the demuxer's end-of-stream marker
                            continue
                        packet.stream = outgoing
                        writer.mux(packet)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            source.unlink(missing_ok=True)
        return path


def settle_outputs(outputs: dict | None, also: dict[str, tuple] | None = None) -> None:
    """Wait for the shot files of the clips among a node's outputs; `also`:
    frame-by-frame exports to code their frames for first, where the node did
    not (a farm worker knows no graph: the machine that sent the shot says)."""
    for value in (outputs or {}).values():
        shot = getattr(value, "shot_file", None)
        if isinstance(shot, ShotFile):
            for kind, span in (also or {}).items() if shot.matches(value) else ():
                shot.code_for(kind, list(value.frames), span)
            shot.settle()
