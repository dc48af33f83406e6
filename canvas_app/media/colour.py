"""Which colour standard a picture size gets, and RGB frames converted and tagged so.

HD and up (720 lines or 1280 wide) is BT.709; SD as BT.601 says: 576- and
288-line pictures are 625-line (PAL: BT.470BG primaries, BT.601 matrix),
anything else 525-line (SMPTE 170M). Range is limited ("tv", 16-235). The
numbers are ITU-T H.273's, which FFmpeg, the H.264 VUI, the ProRes frame
header and the MP4/MOV `colr` atom share, so tagging the codec context and
the frames is all it takes for every one of them to say the same.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    """How RGB becomes Y'CbCr for one picture size, and the tags that say so."""
    matrix: str  # the swscale colorspace for the RGB -> Y'CbCr conversion
    primaries: int
    transfer: int
    colorspace: int
    name: str  # as FCPXML's colorSpace names it


BT709 = Colour("itu709", 1, 1, 1, "Rec. 709")
BT601_525 = Colour("smpte170m", 6, 6, 6, "Rec. 601 (NTSC)")
BT601_625 = Colour("itu601", 5, 1, 5, "Rec. 601 (PAL)")
TV_RANGE = 1  # AVCOL_RANGE_MPEG: 16-235 luma


def colour_for(width: int, height: int) -> Colour:
    if height >= 720 or width >= 1280:
        return BT709
    return BT601_625 if height in (576, 288) else BT601_525


def tag_stream(codec_context, colour: Colour) -> None:
    """Tag an encoder's output (VUI / frame header, and through it the container)."""
    codec_context.colorspace, codec_context.color_primaries = colour.colorspace, colour.primaries
    codec_context.color_trc, codec_context.color_range = colour.transfer, TV_RANGE


def to_yuv(video_frame, pix_fmt: str, colour: Colour):
    """An RGB av.VideoFrame as `pix_fmt` with `colour`'s matrix, limited range, tagged."""
    converted = video_frame.reformat(format=pix_fmt, dst_colorspace=colour.matrix,
                                     dst_color_range="MPEG", dst_color_trc=colour.transfer,
                                     dst_color_primaries=colour.primaries)
    converted.colorspace = colour.colorspace
    return converted
