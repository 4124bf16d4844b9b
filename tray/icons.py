"""Tray icons drawn with Pillow, one per ``IconState``. Shape carries the meaning, colour only helps.

- idle: a note page with lines (the app's mark)
- recording: a filled red disc (the universal "recording" dot)
- processing: a progress ring; the filled arc is the current job's share done
- paused: two vertical bars
- attention: a warning triangle with an exclamation mark (the service is not running)
- failed: the note page with a red disc and a white cross on its corner (a job could not be made into a note)

Each is drawn at 4x and scaled down (smooth edges), with a dark outline and a light halo so it reads on
light and dark panels alike at 22-32 px.
"""

from __future__ import annotations

from functools import lru_cache

from hushnote.tray.state import IconState
from PIL import Image, ImageDraw

SIZE = 64
_SS = 4  # supersampling factor
_N = SIZE * _SS

INK = (33, 37, 41, 255)  # near-black outline
HALO = (255, 255, 255, 230)
PAGE = (236, 240, 244, 255)
RED = (211, 47, 47, 255)
BLUE = (25, 118, 210, 255)
TRACK = (160, 170, 180, 255)
AMBER = (245, 180, 0, 255)
SLATE = (84, 110, 122, 255)


def _px(v: float) -> int:
    return round(v * _N / SIZE)


def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    return _px(x0), _px(y0), _px(x1), _px(y1)


def _idle(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle(_box(12, 4, 52, 60), radius=_px(6), fill=HALO)
    d.rounded_rectangle(_box(15, 7, 49, 57), radius=_px(4), fill=PAGE, outline=INK, width=_px(4))
    for y in (20, 30, 40):
        d.rounded_rectangle(_box(21, y, 43, y + 4), radius=_px(2), fill=SLATE)


def _recording(d: ImageDraw.ImageDraw) -> None:
    d.ellipse(_box(3, 3, 61, 61), fill=HALO)
    d.ellipse(_box(6, 6, 58, 58), fill=RED, outline=INK, width=_px(3))


def _processing(d: ImageDraw.ImageDraw, fraction: float | None) -> None:
    d.ellipse(_box(3, 3, 61, 61), fill=HALO)
    ring = _box(9, 9, 55, 55)
    width = _px(11)
    d.ellipse(_box(6, 6, 58, 58), outline=INK, width=_px(2))
    d.arc(ring, 0, 360, fill=TRACK, width=width)
    share = 0.75 if fraction is None else max(0.04, min(1.0, fraction))
    d.arc(ring, -90, -90 + 360 * share, fill=BLUE, width=width)
    d.ellipse(_box(18, 18, 46, 46), outline=INK, width=_px(2))
    d.ellipse(_box(27, 27, 37, 37), fill=INK)  # a hub, so the ring never reads as the recording disc


def _paused(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle(_box(4, 4, 60, 60), radius=_px(12), fill=HALO)
    d.rounded_rectangle(_box(7, 7, 57, 57), radius=_px(10), fill=SLATE, outline=INK, width=_px(3))
    d.rounded_rectangle(_box(19, 16, 28, 48), radius=_px(2), fill=PAGE)
    d.rounded_rectangle(_box(36, 16, 45, 48), radius=_px(2), fill=PAGE)


def _attention(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(_px(32), _px(0)), (_px(64), _px(60)), (_px(0), _px(60))], fill=HALO)
    d.polygon([(_px(32), _px(5)), (_px(60), _px(57)), (_px(4), _px(57))], fill=AMBER, outline=INK,
              width=_px(3))
    d.rounded_rectangle(_box(28, 20, 36, 42), radius=_px(3), fill=INK)
    d.ellipse(_box(28, 45, 36, 53), fill=INK)


def _failed(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle(_box(4, 2, 42, 54), radius=_px(6), fill=HALO)
    d.rounded_rectangle(_box(7, 5, 39, 51), radius=_px(4), fill=PAGE, outline=INK, width=_px(4))
    for y in (16, 25, 34):
        d.rounded_rectangle(_box(13, y, 33, y + 4), radius=_px(2), fill=SLATE)
    d.ellipse(_box(28, 28, 64, 64), fill=HALO)
    d.ellipse(_box(31, 31, 61, 61), fill=RED, outline=INK, width=_px(3))
    for a, b in (((39, 39), (53, 53)), ((53, 39), (39, 53))):
        d.line([(_px(a[0]), _px(a[1])), (_px(b[0]), _px(b[1]))], fill=PAGE, width=_px(5))


@lru_cache(maxsize=64)
def _draw(state: IconState, fraction_pct: int | None) -> Image.Image:
    img = Image.new("RGBA", (_N, _N), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if state is IconState.IDLE:
        _idle(d)
    elif state is IconState.RECORDING:
        _recording(d)
    elif state is IconState.PROCESSING:
        _processing(d, None if fraction_pct is None else fraction_pct / 100)
    elif state is IconState.PAUSED:
        _paused(d)
    elif state is IconState.FAILED:
        _failed(d)
    else:
        _attention(d)
    return img.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def icon_image(state: IconState, fraction: float | None = None) -> Image.Image:
    """The icon for ``state`` (64x64 RGBA). ``fraction`` (0..1) fills the processing ring; it is rounded
    to 5% so the icon is not redrawn for every tiny step."""
    pct = None if fraction is None or state is not IconState.PROCESSING else round(fraction * 20) * 5
    return _draw(state, pct).copy()
