"""Each shot's own sound laid at the shot's place in the cut, mixed with the Sequence's audio file.

A clip can carry the sound its model made with the picture (`Clip.sound`, LTX-2's).
Under the cut, shot k's sound starts where shot k starts (dissolve included) and
plays at normal speed for as long as the shot lasts in the cut:

- trims apply: the sound is cut at the shot's in and out points, as the picture is;
- a dissolve of L frames into shot k crossfades the sounds over the same L frames
  (equal power: cos/sin gains, so two unrelated sounds keep their loudness through
  the middle, where a linear fade would dip by 3 dB);
- at a hard cut each sound starts and ends with a 5 ms ramp, so no edit clicks;
- shots without sound are silent there.

The Sequence's own `audio` file (music, a voice-over: trimmed, padded and faded
by `audio.load_audio`) is mixed in by summing: both are heard. If the sum would
go past full scale anywhere, the whole mix is scaled down by its peak, so it
never clips and the balance between the two stays as made. Everything is 48 kHz
stereo float32 (channels, n), what the MP4/ProRes encoders and `write_wav` take.
"""
from __future__ import annotations

import numpy as np

from canvas_app.media.exports.audio import SAMPLE_RATE

DECLICK_SECONDS = 0.005


def at_cut_rate(sound) -> np.ndarray:
    """A `Sound` as 48 kHz stereo float32 (channels, n), resampled by FFmpeg's swr."""
    import av

    # NaN or infinite samples (a diverged model) would make the AAC encoder fail with a bare
    # errno: they become silence and full scale.
    samples = np.ascontiguousarray(np.clip(np.nan_to_num(np.asarray(sound.samples, np.float32)),
                                           -1.0, 1.0))
    if samples.shape[0] > 2:  # keep the front pair; these models make mono or stereo
        samples = np.ascontiguousarray(samples[:2])
    if samples.shape[0] == 1:  # both speakers at full level (swr's upmix would lower it 3 dB)
        samples = np.repeat(samples, 2, axis=0)
    if int(sound.sample_rate) == SAMPLE_RATE:
        return samples
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
    frame.sample_rate = int(sound.sample_rate)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    chunks = [out.to_ndarray() for out in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    if samples.shape[1] >= length:
        return samples[:, :length]
    return np.pad(samples, ((0, 0), (0, length - samples.shape[1])))


def _edges(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Gains over a shot's span: equal-power ramps over its dissolves, else a declick ramp."""
    gains = np.ones(length, np.float32)
    declick = max(1, int(round(DECLICK_SECONDS * SAMPLE_RATE)))
    head = fade_in if fade_in > 0 else min(declick, length)
    tail = fade_out if fade_out > 0 else min(declick, length)
    if head:
        ramp = np.linspace(0.0, 1.0, head + 2, dtype=np.float32)[1:-1]
        gains[:head] *= np.sin(ramp * np.pi / 2) if fade_in > 0 else ramp
    if tail:
        ramp = np.linspace(1.0, 0.0, tail + 2, dtype=np.float32)[1:-1]
        gains[length - tail:] *= np.sin(ramp * np.pi / 2) if fade_out > 0 else ramp
    return gains


def clip_sound(clip) -> np.ndarray | None:
    """A clip's own sound alone, as long as the clip (its shot file's sound track)."""
    if getattr(clip, "sound", None) is None:
        return None
    return _fit(at_cut_rate(clip.sound), max(1, int(round(clip.duration * SAMPLE_RATE))))


def shots_with_sound(plan) -> list[int]:
    """1-based numbers of the shots that carry a sound of their own."""
    return [index + 1 for index, shot in enumerate(plan.shots)
            if getattr(shot.clip, "sound", None) is not None]


def lay_shot_sounds(plan, under: np.ndarray | None) -> np.ndarray | None:
    """The sound under the cut: each shot's own sound at its place (see the module
    docstring) mixed with `under` (the audio file as laid, or None). None when
    neither exists, `under` unchanged when no shot has a sound."""
    if not shots_with_sound(plan):
        return under
    seconds = plan.total_frames / plan.fps
    total = max(1, int(round(seconds * SAMPLE_RATE)))
    track = np.zeros((2, total), np.float32)
    starts = plan.starts()
    for index, shot in enumerate(plan.shots):
        sound = getattr(shot.clip, "sound", None)
        if sound is None:
            continue
        clip_fps = float(shot.clip.fps)
        source = at_cut_rate(sound)
        first = int(round(shot.first / clip_fps * SAMPLE_RATE))
        last = int(round(shot.last / clip_fps * SAMPLE_RATE))
        offset = int(round(starts[index] / plan.fps * SAMPLE_RATE))
        length = min(total - offset, int(round(plan.shot_length(index) / plan.fps * SAMPLE_RATE)))
        if length <= 0:
            continue
        fade_in = int(round(shot.dissolve / plan.fps * SAMPLE_RATE))
        following = plan.shots[index + 1].dissolve if index + 1 < len(plan.shots) else 0
        fade_out = int(round(following / plan.fps * SAMPLE_RATE))
        segment = _fit(source[:, first:max(first, last)], length)
        track[:, offset:offset + length] += segment * _edges(length, min(fade_in, length),
                                                             min(fade_out, length))
    if under is not None:
        track += _fit(np.asarray(under, np.float32), total)
    peak = float(np.abs(track).max()) if track.size else 0.0
    if peak > 1.0:
        track /= peak
    return track
