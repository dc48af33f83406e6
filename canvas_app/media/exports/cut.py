"""The cut as a plan: trimmed shots in order, each entered by a cut or a dissolve.

A dissolve of L frames into shot k overlaps the last L frames of shot k-1
(as trimmed) with the first L frames of shot k, blending from the outgoing
shot to the incoming one, so the cut is L frames shorter than its shots laid
end to end. Frame numbers are counted at the cut's frame rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass
class PlannedShot:
    clip: object  # canvas_app.values.Clip
    first: int  # first frame used, in the clip's own frames
    last: int  # one past the last frame used
    dissolve: int = 0  # frames of dissolve from the previous shot into this one (0 = cut)

    @property
    def source_frames(self) -> int:
        return self.last - self.first


def retime_indices(count: int, source_fps: float, target_fps: float) -> list[int]:
    """Which source frame shows at each frame of the target rate (held or dropped)."""
    if abs(source_fps - target_fps) < 1e-6:
        return list(range(count))
    length = max(1, round(count * target_fps / source_fps))
    return [min(count - 1, int(index * source_fps / target_fps)) for index in range(length)]


class CutPlan:
    """Shots at the cut's rate and size; `frames()` streams the finished cut."""

    def __init__(self, shots: list[PlannedShot], fps: float, size: tuple[int, int]):
        self.shots, self.fps, self.size = shots, float(fps), (int(size[0]), int(size[1]))
        self._indices = [retime_indices(shot.source_frames, shot.clip.fps, self.fps)
                         for shot in shots]

    def shot_length(self, index: int) -> int:
        """Frames of shot `index` at the cut's rate, dissolves not taken off."""
        return len(self._indices[index])

    def check(self) -> str | None:
        """A message when a dissolve is longer than the shots it joins allow."""
        for index, shot in enumerate(self.shots):
            if shot.dissolve <= 0:
                continue
            if index == 0:
                return "shot 1 cannot dissolve: there is no shot before it"
            room_in = self.shot_length(index) - (self.shots[index + 1].dissolve
                                                 if index + 1 < len(self.shots) else 0)
            room_out = self.shot_length(index - 1) - self.shots[index - 1].dissolve
            if shot.dissolve > min(room_in, room_out):
                return (f"the dissolve into shot {index + 1} ({shot.dissolve} frames) is longer "
                        f"than the shots it joins ({min(room_in, room_out)} frames to spare)")
        return None

    @property
    def total_frames(self) -> int:
        return sum(self.shot_length(i) for i in range(len(self.shots))) - \
            sum(shot.dissolve for shot in self.shots)

    def starts(self) -> list[int]:
        """The cut frame where each shot begins (its dissolve included)."""
        starts, position = [], 0
        for index in range(len(self.shots)):
            position -= self.shots[index].dissolve
            starts.append(position)
            position += self.shot_length(index)
        return starts

    def _frame(self, index: int, local: int) -> np.ndarray:
        from canvas_app.media.video import conform

        shot = self.shots[index]
        return conform(np.asarray(shot.clip.frames[shot.first + self._indices[index][local]]),
                       *self.size)

    def frames(self, coded=None) -> Iterator[np.ndarray]:
        """Every frame of the cut in order, dissolves blended. `coded(shot index,
        clip frame index)` may give a stand-in for a frame shown as it is (a frame
        coded earlier, encode.EncodedFrame), or None."""
        for index, shot in enumerate(self.shots):
            length = self.shot_length(index)
            tail = self.shots[index + 1].dissolve if index + 1 < len(self.shots) else 0
            for local in range(shot.dissolve):
                previous = self.shot_length(index - 1) - shot.dissolve + local
                yield blend(self._frame(index - 1, previous), self._frame(index, local),
                            (local + 1) / (shot.dissolve + 1))
            for local in range(shot.dissolve, length - tail):
                stand_in = coded(index, shot.first + self._indices[index][local]) if coded else None
                yield stand_in if stand_in is not None else self._frame(index, local)

    def frame_at(self, position: int) -> np.ndarray:
        """One frame of the cut (for the timeline panel's playhead)."""
        starts = self.starts()
        for index in reversed(range(len(self.shots))):
            if position >= starts[index]:
                local = min(position - starts[index], self.shot_length(index) - 1)
                shot = self.shots[index]
                if local < shot.dissolve:
                    previous = self.shot_length(index - 1) - shot.dissolve + local
                    return blend(self._frame(index - 1, previous), self._frame(index, local),
                                 (local + 1) / (shot.dissolve + 1))
                return self._frame(index, local)
        return self._frame(0, 0)


def blend(outgoing: np.ndarray, incoming: np.ndarray, amount: float) -> np.ndarray:
    """`amount` of the incoming frame over the outgoing one."""
    mixed = outgoing.astype(np.float32) * (1.0 - amount) + incoming.astype(np.float32) * amount
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
