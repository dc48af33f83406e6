"""Exports of a cut, one module per kind of file.

- `cut`: the cut as a plan of trimmed shots with cuts or dissolves between
  them, and its frames (retimed, conformed, blended) as a stream.
- `encode`: video files through PyAV - H.264 MP4, ProRes 422 HQ MOV,
  animated WebP / GIF - with an optional audio track and provenance metadata.
- `audio`: an audio file laid under the cut (trimmed or padded, faded out).
- `edl`, `xmeml`, `fcpxml`: the cut as a CMX 3600 EDL, Final Cut Pro 7 XML and
  FCPXML 1.8 (media/timeline.py writes the .otio and picks the writer;
  media/timeline_layout.py lays the shots out for all of them).
- `frames`: a PNG sequence per shot.
- `contact_sheet`: one PNG, a row of frames per shot with its name, seed and
  identity score.
- `provenance`: the project graph in PNG text chunks and video metadata, and
  reading it back.
- `options`: which exports exist, as Sequence params and `canvas-app run --export`.
"""
