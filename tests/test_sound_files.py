"""Sound files under the cut: `validate` and `run` give the same answer.

Each kind of file is either refused by `validate` with a message naming the
file and the field (and `run` refuses it too, exit 2, nothing exported), or
it is a sound both accept, and the exported cut carries it (an audio track,
audible where the file was). The files are made here with PyAV, in the codecs
and containers users bring (8/24/32-bit, u-law and ADPCM WAV, FLAC, Opus,
AAC, MP3), and damaged the ways files arrive damaged.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
from pathlib import Path

import numpy as np
import pytest

from canvas_app.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "spokesperson" / "spokesperson.canvas.json"
CUT_SECONDS = 3.0  # three 1-second shots: a fault after 2 s is inside the cut


def tone(seconds: float, rate: int, channels: int, amplitude: float = 0.5) -> np.ndarray:
    """A 440 Hz tone, shaped (channels, samples), float32."""
    t = np.arange(int(round(seconds * rate))) / rate
    return np.tile(amplitude * np.sin(2 * np.pi * 440 * t), (channels, 1)).astype(np.float32)


def encoded(path: Path, codec: str, *, rate=48000, layout="stereo", seconds=CUT_SECONDS,
            samples=None, container=None) -> Path:
    """`samples` (or a tone) encoded with PyAV's `codec` into `path`."""
    import av

    channels = av.AudioLayout(layout).nb_channels
    samples = tone(seconds, rate, channels) if samples is None else samples
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        step = 1024
        for start in range(0, samples.shape[1], step):
            chunk = samples[:, start:start + step]  # packed 16-bit: what every layout takes
            packed = np.round(chunk.T.reshape(1, -1) * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def float_wav(path: Path, samples: np.ndarray, rate: int = 48000, channels: int = 1) -> Path:
    """A 32-bit float WAV written byte by byte: header fields can say anything."""
    raw = np.asarray(samples, "<f4").tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(raw)) + b"WAVEfmt "
                     + struct.pack("<IHHIIHH", 16, 3, channels, rate,
                                   min(2**32 - 1, rate * 4 * channels),
                                   4 * channels, 32)
                     + b"data" + struct.pack("<I", len(raw)) + raw)
    return path


def patched(path: Path, marker: bytes, value: bytes) -> Path:
    """`path` with the 4 bytes after `marker` replaced by `value`."""
    data = bytearray(path.read_bytes())
    at = data.index(marker) + len(marker)
    data[at:at + len(value)] = value
    path.write_bytes(bytes(data))
    return path


def nan_after_two_seconds(path: Path) -> Path:
    samples = tone(CUT_SECONDS, 48000, 1)[0]
    samples[int(2.5 * 48000):] = np.nan
    return float_wav(path, samples)


def id3_only(path: Path) -> Path:
    """An MP3 that is its ID3v2 tag and nothing else."""
    frame = b"TIT2" + struct.pack(">I", 6) + b"\x00\x00" + b"\x03song\x00"
    path.write_bytes(b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(frame) + 100]) + frame + bytes(100))
    return path


def empty_aac_track(path: Path) -> Path:
    """An .m4a with an AAC track and not one sample in it."""
    import av

    with av.open(str(path), "w", format="mp4") as output:
        output.add_stream("aac", rate=48000, layout="stereo")
        output.start_encoding()  # the header and the empty track, written without a packet
    assert path.stat().st_size > 0
    return path


def link_to_dev_zero(path: Path) -> Path:
    path.symlink_to("/dev/zero")
    return path


# name -> (how to make it, "good" or "bad"): a good sound is laid under the cut;
# a bad one is refused by validate and run alike.
SOUNDS = {
    "8-bit PCM WAV": (lambda p: encoded(p / "u8.wav", "pcm_u8"), "good"),
    "24-bit PCM WAV": (lambda p: encoded(p / "s24.wav", "pcm_s24le"), "good"),
    "32-bit float WAV": (lambda p: encoded(p / "f32.wav", "pcm_f32le"), "good"),
    "u-law WAV, 8 kHz mono": (lambda p: encoded(p / "ulaw.wav", "pcm_mulaw", rate=8000,
                                                 layout="mono"), "good"),
    "IMA ADPCM WAV": (lambda p: encoded(p / "adpcm.wav", "adpcm_ima_wav", layout="mono"), "good"),
    "16-bit WAV, 8 kHz mono": (lambda p: encoded(p / "mono8k.wav", "pcm_s16le", rate=8000,
                                                  layout="mono"), "good"),
    "7.1 channels WAV": (lambda p: encoded(p / "seven_one.wav", "pcm_s16le", layout="7.1"), "good"),
    "FLAC": (lambda p: encoded(p / "tone.flac", "flac"), "good"),
    "Opus in Ogg": (lambda p: encoded(p / "tone.ogg", "libopus", container="ogg"), "good"),
    "AAC in M4A": (lambda p: encoded(p / "tone.m4a", "aac", container="mp4"), "good"),
    "MP3": (lambda p: encoded(p / "tone.mp3", "libmp3lame"), "good"),
    "MP3 cut off in the middle": (lambda p: truncated(encoded(p / "half.mp3", "libmp3lame")),
                                  "good"),
    "WAV whose data chunk claims 2 GB": (lambda p: patched(encoded(p / "liar.wav", "pcm_s16le"),
                                                           b"data", b"\xff\xff\xff\x7f"), "good"),
    "a sound shorter than one frame": (lambda p: float_wav(p / "blip.wav", np.full(100, 0.5)),
                                       "good"),
    "MP3 with only an ID3 tag": (lambda p: id3_only(p / "tag.mp3"), "bad"),
    "AAC track of zero length in M4A": (lambda p: empty_aac_track(p / "empty.m4a"), "bad"),
    "WAV at 2,147,483,647 Hz": (lambda p: float_wav(p / "fast.wav", tone(0.5, 48000, 1)[0],
                                                     rate=2**31 - 1), "bad"),
    "WAV with 0 channels": (lambda p: patched(float_wav(p / "none.wav", tone(1, 48000, 1)[0]),
                                              b"fmt \x10\x00\x00\x00\x03\x00", b"\x00\x00"),
                            "bad"),
    "WAV with NaN samples after 2 s": (lambda p: nan_after_two_seconds(p / "nan.wav"), "bad"),
    "WAV of 1e30 loud float samples": (lambda p: float_wav(p / "loud.wav", np.full(96000, 1e30)),
                                       "good"),  # clipped to full scale, as a player would
    "WAV at 1 Hz": (lambda p: float_wav(p / "slow.wav", tone(1, 48000, 1)[0], rate=1), "bad"),
    "symlink to /dev/zero": (lambda p: link_to_dev_zero(p / "zero.wav"), "bad"),
    "a FIFO named .wav": (lambda p: (os.mkfifo(p / "pipe.wav"), p / "pipe.wav")[1], "bad"),
}


def truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


@contextlib.contextmanager
def answers_within(seconds: int):
    def on_alarm(*_):
        raise TimeoutError(f"no answer within {seconds} s: a hang")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def project_with_sound(folder: Path, sound: Path) -> Path:
    project = json.loads(EXAMPLE.read_text())
    for node in project["nodes"]:
        for entry in node["params"].get("images", []):
            entry["path"] = str(EXAMPLE.parent / entry["path"])
        if node["type"] == "Prompt":
            node["params"]["duration"] = CUT_SECONDS / 3
        if node["type"] == "Generate":
            node["params"].update(width=64, height=64, fps=4.0, guard_tries=1)
        if node["type"] == "Sequence":
            node["params"].update({name: False for name in node["params"]
                                   if name.startswith("export_")})
            node["params"].update(audio=str(sound), audio_fade=0.0,
                                  trims=[{"in": 0.0, "out": None}] * 3)
    path = folder / "sound.canvas.json"
    path.write_text(json.dumps(project))
    return path


def loudness(video: Path) -> float | None:
    """The RMS of the cut's sound; None when it has no audio track."""
    import av

    with av.open(str(video)) as container:
        if not container.streams.audio:
            return None
        samples = [frame.to_ndarray().astype(np.float64).ravel()
                   for frame in container.decode(container.streams.audio[0])]
    joined = np.concatenate(samples) if samples else np.zeros(1)
    return float(np.sqrt(np.mean(joined ** 2)))


@pytest.mark.parametrize("kind", list(SOUNDS))
def test_a_sound_is_refused_by_validate_and_run_alike_or_laid_under_the_cut(
        kind, tmp_path, capsys):
    make, verdict = SOUNDS[kind]
    (tmp_path / "sounds").mkdir()
    sound = make(tmp_path / "sounds")
    project = project_with_sound(tmp_path, sound)
    out = tmp_path / "out"
    with answers_within(120):
        validated = main(["validate", str(project)])
        said = capsys.readouterr().err
        ran = main(["run", str(project), "--out", str(out), "--quiet"])
        answered = capsys.readouterr().err
    assert "Traceback" not in said + answered
    if verdict == "bad":
        assert validated == 2 and str(sound) in said and "field audio" in said, said
        assert ran == 2 and str(sound) in answered, answered
        assert not list(out.glob("*.mp4")) if out.exists() else True
    else:
        assert validated == 0, said
        assert ran == 0, answered
        level = loudness(out / "spokesperson.mp4")
        assert level is not None, "the cut has no sound"
        if kind != "a sound shorter than one frame":  # a 2 ms blip padded with silence
            assert level > 0.05, f"the cut's sound is silent ({level})"
