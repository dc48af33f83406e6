"""An audio file laid under the cut: decoded with PyAV, trimmed or padded, faded out.

`load_audio(path, duration)` returns float32 samples shaped (2, n) at 48 kHz
stereo, exactly `duration` seconds long: a longer file is cut, a shorter one
padded with silence, and the last `fade` seconds fade to silence so the cut
never ends on a click. WAV, MP3, AAC (.m4a/.aac) and anything else FFmpeg
reads are accepted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from canvas_app.errors import BadInput

SAMPLE_RATE = 48000
AUDIO_SUFFIXES = (".wav", ".mp3", ".aac", ".m4a", ".flac", ".ogg")


# Rates real files use lie between 8 kHz telephone sound and 768 kHz studio masters; a
# header claiming more or less is damaged, and resampling it to 48 kHz would take
# gigabytes (2,147,483,647 Hz: MemoryError) or stretch a second into hours (1 Hz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000


def load_audio(path: str | Path, duration: float, *, fade: float = 1.0,
               node: str | None = None, field: str | None = None) -> np.ndarray:
    samples = decode_sound(path, duration, node=node, field=field)
    return fade_out(samples, fade)


def decode_sound(path: str | Path, duration: float, *, node: str | None = None,
                 field: str | None = None) -> np.ndarray:
    """The first `duration` seconds of the sound at 48 kHz stereo, padded with
    silence; BadInput naming the file for anything that cannot be laid under a cut."""
    import av

    path = Path(path)
    if not path.is_file():
        raise BadInput("audio file not found", file=str(path), node=node, field=field)
    wanted = max(1, int(round(duration * SAMPLE_RATE)))
    chunks, have = [], 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadInput("file has no audio stream", file=str(path), node=node, field=field)
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                if not MIN_SAMPLE_RATE <= (frame.sample_rate or 0) <= MAX_SAMPLE_RATE:
                    raise BadInput(f"its sample rate ({frame.sample_rate} Hz) is not one of a "
                                   f"sound ({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz): is the "
                                   "file damaged?", file=str(path), node=node, field=field)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
                    have += chunks[-1].shape[1]
                if have >= wanted:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
    except (av.FFmpegError, OSError, ValueError, MemoryError) as error:
        raise BadInput(f"not a readable audio file ({error.__class__.__name__})", file=str(path),
                       node=node, field=field) from None
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)
    samples = samples[:, :wanted].astype(np.float32)
    if not np.isfinite(samples).all():  # the AAC encoder refuses them with a bare errno 22
        raise BadInput("the sound holds NaN or infinite samples", file=str(path), node=node,
                       field=field)
    # Float files may go past full scale; the AAC encoder refuses 1e30 (errno 22) and
    # every integer format clips anyway: clipped here, as a player would.
    np.clip(samples, -1.0, 1.0, out=samples)
    if samples.shape[1] < wanted:
        samples = np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))
    return samples


def audio_problem(path: str | Path, seconds: float = 2.0) -> str | None:
    """Why `path` cannot be laid under a cut of `seconds`, found by decoding
    it as the run will (for `validate`, which must refuse what `run` would);
    None if fine."""
    try:
        decode_sound(path, seconds)
    except BadInput as error:
        return error.args[0]
    return None


def fade_out(samples: np.ndarray, seconds: float) -> np.ndarray:
    """A linear fade to silence over the last `seconds`."""
    length = min(samples.shape[1], int(round(max(0.0, seconds) * SAMPLE_RATE)))
    if length > 0:
        samples = samples.copy()
        samples[:, -length:] *= np.linspace(1.0, 0.0, length, dtype=np.float32)
    return samples


def write_wav(samples: np.ndarray, path: str | Path) -> Path:
    """Samples shaped (channels, n), floats in -1..1, as a 16-bit PCM WAV at
    48 kHz: the sound as it is under the cut (trimmed, padded, faded), for
    the timelines' audio track, which every editor reads."""
    import wave

    pcm = np.clip(np.round(np.asarray(samples, np.float32).T * 32767), -32768, 32767)
    path = Path(path)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(int(samples.shape[0]))
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.astype("<i2").tobytes())
    return path
