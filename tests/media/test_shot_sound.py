"""Each shot's own sound (LTX-2 makes one) carried by the Sequence into the cut.

The shots carry tones the ear could tell apart; the exported MP4 and the WAV beside
it are decoded with PyAV and each stretch of the cut is checked for which tone plays
there: the sound of a shot sits where the shot sits, trims cut it, a dissolve
crossfades it, a silent shot stays silent, and the Sequence's audio file is mixed in.
"""
from __future__ import annotations

import pickle
import wave
from pathlib import Path

import numpy as np
import pytest

from canvas_app.engine.context import RunContext
from canvas_app.values import Clip, Sound
from nodes.sequence import Sequence

FPS, SECONDS = 12.0, 2.0
RATE = 48000


def tone(freq: float, seconds: float, rate: int, channels: int = 1, level: float = 0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return np.repeat((np.sin(2 * np.pi * freq * t) * level)[None].astype(np.float32), channels, 0)


def clip(colour, sound=None) -> Clip:
    frames = [np.full((32, 32, 3), colour, np.uint8) for _ in range(int(FPS * SECONDS))]
    return Clip(frames=frames, fps=FPS, metadata={"shot": f"shot {colour}"}, sound=sound)


def params(**changes) -> dict:
    values = {spec.name: spec.default for spec in Sequence.spec.params}
    values.update(changes)
    return values


def export(out_dir: Path, clips, **changes):
    ctx = RunContext(node_id="sequence1", node_title="Sequence", output_dir=out_dir)
    return Sequence().run({"clips": clips}, params(**changes), ctx)["sequence"]


def decoded(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        chunks = [out.to_ndarray() for frame in container.decode(container.streams.audio[0])
                  for out in resampler.resample(frame)]
    return np.concatenate(chunks, axis=1)


def level(samples: np.ndarray, start: float, end: float, freq: float) -> float:
    """Amplitude of the `freq` tone between `start` and `end` seconds (left channel)."""
    part = samples[0, int(start * RATE):int(end * RATE)]
    t = np.arange(len(part)) / RATE
    return float(2 * np.abs(np.dot(part, np.exp(-2j * np.pi * freq * t))) / len(part))


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    """A (440 Hz, 16 kHz mono) | dissolve 0.5 s | B (stereo 24 kHz: 2000 Hz for its first
    0.5 s, trimmed away, then 1000 Hz) | hard cut | C (silent). 2 + 1.5 + 2 - 0.5 = 5 s."""
    b_sound = np.concatenate([tone(2000, 0.5, 24000, 2), tone(1000, 1.5, 24000, 2)], axis=1)
    clips = [clip((200, 0, 0), Sound(tone(440, SECONDS, 16000), 16000)),
             clip((0, 200, 0), Sound(b_sound, 24000)), clip((0, 0, 200))]
    out = tmp_path_factory.mktemp("shot_sound")
    result = export(out, clips, name="film", export_prores=True, export_edl=True,
                    export_fcp7=True, export_fcpxml=True,
                    trims=[{"in": 0.0, "out": None}, {"in": 0.5, "out": None, "dissolve": 0.5},
                           {"in": 0.0, "out": None}])
    return out, result


@pytest.mark.parametrize("file", ["film.mp4", "film.mov", "film.wav"])
def test_each_shot_is_heard_where_it_is_seen(cut, file):
    samples = decoded(cut[0] / file)
    assert samples.shape[1] / RATE == pytest.approx(5.0, abs=0.05)  # the cut's length
    assert level(samples, 0.2, 1.4, 440) > 0.4  # shot A alone, at its own level
    assert level(samples, 0.2, 1.4, 1000) < 0.02
    assert level(samples, 2.1, 2.9, 1000) > 0.4  # shot B alone
    assert level(samples, 2.1, 2.9, 440) < 0.02
    assert np.abs(samples[:, int(3.05 * RATE):]).max() < 0.02  # shot C has no sound: silence


def test_each_shot_file_carries_its_own_sound_untrimmed(cut):
    """shots/*.mp4 are the shots as rendered (untrimmed): A's file plays its 440 Hz for
    the whole 2 s, B's starts with the 2000 Hz its trim cut from the cut, C's is silent."""
    import av

    files = sorted((cut[0] / "shots").glob("film_*.mp4"))
    assert len(files) == 3
    a, b = decoded(files[0]), decoded(files[1])
    assert a.shape[1] / RATE == pytest.approx(SECONDS, abs=0.05)
    assert level(a, 0.2, 1.8, 440) > 0.3
    assert level(b, 0.05, 0.45, 2000) > 0.3 and level(b, 0.7, 1.8, 1000) > 0.3
    with av.open(str(files[2])) as silent:
        assert not silent.streams.audio


def test_a_trim_cuts_the_sound_as_it_cuts_the_picture(cut):
    samples = decoded(cut[0] / "film.wav")
    # B's first 0.5 s (a 2000 Hz tone) was trimmed away with its frames.
    assert level(samples, 1.5, 3.0, 2000) < 0.02


def test_a_dissolve_crossfades_the_sound(cut):
    samples = decoded(cut[0] / "film.wav")
    early, late = level(samples, 1.5, 1.6, 440), level(samples, 1.9, 2.0, 440)
    rising_early, rising_late = level(samples, 1.5, 1.6, 1000), level(samples, 1.9, 2.0, 1000)
    assert early > late and rising_late > rising_early  # A fades out as B fades in
    middle_a, middle_b = level(samples, 1.7, 1.8, 440), level(samples, 1.7, 1.8, 1000)
    # equal power: each at about 0.5 x cos(45 deg) = 0.35 in the middle, no dip to 0.25
    assert middle_a == pytest.approx(0.35, abs=0.05) and middle_b == pytest.approx(0.35, abs=0.05)


def test_the_timeline_and_report_point_at_the_mixed_sound(cut):
    import opentimelineio as otio

    out, result = cut
    timeline = otio.adapters.read_from_file(str(out / "film.otio"))
    audio = [track for track in timeline.tracks if track.kind == otio.schema.TrackKind.Audio]
    assert audio and Path(audio[0][0].media_reference.target_url.replace("file://", "")).name \
        == "film.wav"
    assert result.report["shot_sounds"] == [1, 2] and result.report["sound_file"] == "film.wav"
    assert result.report["audio"] is None  # no audio file was set: only the shots' sound
    for timeline in ("film.edl", "film.fcp7.xml", "film.fcpxml"):  # every editor gets the sound
        assert "film.wav" in (out / timeline).read_text(encoding="utf-8"), timeline


def test_the_audio_file_is_mixed_with_the_shots_sound(tmp_path):
    music = tmp_path / "music.wav"
    pcm = (tone(300, 4.0, 44100)[0] * 32767 * 0.8).astype("<i2")
    with wave.open(str(music), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(44100)
        handle.writeframes(pcm.tobytes())
    clips = [clip((200, 0, 0), Sound(tone(440, SECONDS, 16000, level=0.9), 16000)),
             clip((0, 0, 200))]
    result = export(tmp_path / "out", clips, name="mix", audio=str(music), audio_fade=0.0)
    samples = decoded(tmp_path / "out" / "mix.mp4")
    voice, music_under_a = level(samples, 0.2, 1.8, 440), level(samples, 0.2, 1.8, 300)
    assert voice > 0.6 and music_under_a > 0.15  # both heard over shot A
    assert level(samples, 2.2, 3.8, 300) > 0.15 and level(samples, 2.2, 3.8, 440) < 0.02
    # 0.9 + the music would clip: the whole mix is scaled down, the balance kept
    assert voice < 0.9 and voice / music_under_a == pytest.approx(0.9 / 0.283, rel=0.1)
    assert np.abs(decoded(tmp_path / "out" / "mix.wav")).max() <= 1.0  # scaled, never clipped
    assert result.report["audio"].endswith("music.wav") and result.report["shot_sounds"] == [1]


def test_silent_shots_export_as_before(tmp_path):
    result = export(tmp_path / "out", [clip((9, 9, 9)), clip((99, 99, 99))], name="quiet")
    import av

    with av.open(str(tmp_path / "out" / "quiet.mp4")) as container:
        assert not container.streams.audio  # no sound anywhere: no sound track
    assert not (tmp_path / "out" / "quiet.wav").exists() and result.report["shot_sounds"] == []


def test_a_clip_keeps_its_sound_through_the_disk_cache_and_the_farm(tmp_path):
    from canvas_app.media.clip_files import load_clip, save_clip

    shot = clip((1, 2, 3), Sound(tone(440, SECONDS, 16000, channels=2), 16000))
    assert save_clip(shot, tmp_path)
    again = load_clip(tmp_path)
    assert again.sound.sample_rate == 16000 and np.array_equal(again.sound.samples,
                                                                shot.sound.samples)
    shipped = pickle.loads(pickle.dumps(shot))  # how Ray carries a clip back from a GPU actor
    assert np.array_equal(shipped.sound.samples, shot.sound.samples)

    silent = tmp_path / "silent"
    silent.mkdir()
    save_clip(clip((1, 2, 3)), silent)  # a cache written before clips had sound reads the same
    assert load_clip(silent).sound is None and not (silent / "sound.npy").exists()


def test_a_diverged_sound_exports_instead_of_failing(tmp_path):
    broken = tone(440, SECONDS, 16000)
    broken[0, 100:200] = np.nan  # a model that diverged for a moment
    broken[0, 300] = np.inf
    export(tmp_path / "out", [clip((5, 5, 5), Sound(broken, 16000))], name="nan")
    samples = decoded(tmp_path / "out" / "nan.mp4")
    assert np.isfinite(samples).all() and level(samples, 0.2, 1.8, 440) > 0.4


def test_a_shot_at_another_frame_rate_keeps_its_sound_in_sync(tmp_path):
    """An LTX-2 shot at 24 fps cut with a 16 fps Wan shot: the cut runs at the first shot's
    16 fps, the 24 fps shot's frames are dropped, its sound plays at its own speed and length."""
    frames24 = [np.full((32, 32, 3), 80, np.uint8) for _ in range(48)]  # 2 s at 24 fps
    wan = Clip(frames=[np.full((32, 32, 3), 10, np.uint8)] * 16, fps=16.0, metadata={})  # 1 s
    ltx2 = Clip(frames=frames24, fps=24.0, metadata={},
                sound=Sound(tone(1000, 2.0, 24000), 24000))
    export(tmp_path / "out", [wan, ltx2], name="rates")
    samples = decoded(tmp_path / "out" / "rates.wav")
    assert samples.shape[1] / RATE == pytest.approx(3.0, abs=0.02)
    assert np.abs(samples[:, :int(0.95 * RATE)]).max() < 0.02  # the silent Wan shot
    assert level(samples, 1.1, 2.9, 1000) > 0.4  # the whole 2 s of sound under its 2 s of picture
