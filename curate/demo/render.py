"""Render a demo photo's bytes from its ground-truth row: scene, camera look, breakage.

`render_photo(spec, config)` is a pure function of the spec (a truth row: content kind,
city, scene/variant seeds, burst frame, style id, broken kind) and the config, so the
same photo always gets the same bytes, and an exact duplicate (whose spec is a copy of
its original's) gets identical bytes.

The personal look of a photographer (`style_id`) is applied on top of every scene:
colour cast, contrast, faded colours, vignette, grain, a frame or a watermark, and a
JPEG quality. It is deliberately strong: a model can recognise the photographer, and
since photographers mostly shoot their home city, that leaks across a random split.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from curate import schema
from curate.demo.cities import look_for
from curate.demo.config import DemoConfig
from curate.demo.scenes import OFFTOPIC_DRAWERS, draw_sandals
from curate.demo.skylines import draw_skyline

SPEC_FIELDS = ("content_kind", "true_city", "scene_seed", "variant_seed", "frame_index", "style_id", "broken_kind")
TINY_SIDE_PX = 24  # the "tiny" broken kind: a valid JPEG below the store's 32 px floor
_JUNK = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
    b"<p>The requested photo is no longer available.</p></body></html>\n",
    b'{"stat": "fail", "code": 1, "message": "Photo \\"not found\\""}',
)


@dataclass(frozen=True)
class Style:
    """One photographer's camera look."""

    cast: tuple[float, float, float]  # per-channel gain
    contrast: float
    brightness: float
    saturation: float
    vignette: float  # 0 = none; darkening at the corners
    grain: float  # std of monochrome noise, 0..255 scale
    frame_px: int  # border width, 0 = none
    frame_colour: tuple[int, int, int]
    watermark: str  # '' = none
    watermark_corner: int
    jpeg_quality: int


@lru_cache(maxsize=8192)
def style_for(seed: int, style_id: int, width: int, height: int) -> Style:
    """The deterministic look of `style_id` in the collection made with `seed`."""
    rng = np.random.default_rng([seed, 7919, style_id])
    cast = rng.uniform(-1, 1, 3)
    cast = 1 + 0.22 * cast / max(np.abs(cast).max(), 1e-9) * rng.uniform(0.5, 1.0)  # always a visible cast
    faded = rng.random() < 0.2
    has_frame, has_watermark = rng.random() < 0.25, rng.random() < 0.3
    letters = "".join(chr(ord("A") + int(i)) for i in rng.integers(0, 26, 2))
    return Style(
        cast=tuple(float(c) for c in cast),
        contrast=float(rng.uniform(0.8, 1.25)),
        brightness=float(rng.uniform(-18, 18)),
        saturation=float(rng.uniform(0.0, 0.5)) if faded else 1.0,
        vignette=float(rng.uniform(0.3, 0.65)) if rng.random() < 0.5 else 0.0,
        grain=float(rng.uniform(4, 14)) if rng.random() < 0.5 else 0.0,
        frame_px=int(round(min(width, height) * rng.uniform(0.03, 0.07))) if has_frame else 0,
        frame_colour=((255, 255, 255), (10, 10, 10), (238, 228, 205))[int(rng.integers(0, 3))],
        watermark=f"© {letters}" if has_watermark else "",
        watermark_corner=int(rng.integers(0, 4)),
        jpeg_quality=int(rng.integers(70, 96)),
    )


def render_photo(spec: Mapping, config: DemoConfig) -> bytes:
    """The bytes of one demo photo (a JPEG, or broken bytes for a broken kind).

    Args:
        spec: a ground-truth row (see SPEC_FIELDS); `style_id` None or < 0 means no
            personal look.
        config: the collection's config (image size, seed).
    Returns:
        JPEG bytes; for broken kinds: b'' (zero_bytes), non-image bytes (not_an_image),
        a cut-off JPEG (truncated_jpeg) or a JPEG under 32 px (tiny).
    """
    broken = _text(spec.get("broken_kind"))
    if broken == "zero_bytes":
        return b""
    if broken == "not_an_image":
        return _junk(int(spec["variant_seed"]))
    pixels = render_pixels(spec, config)
    style = _style(spec, config)
    quality = style.jpeg_quality if style else 90
    if broken == "tiny":
        small = (TINY_SIDE_PX, max(4, round(TINY_SIDE_PX * config.image_height / config.image_width)))
        return encode_jpeg(np.asarray(Image.fromarray(pixels).resize(small, Image.BILINEAR)), quality)
    data = encode_jpeg(pixels, quality)
    if broken == "truncated_jpeg":
        return _truncate(data, int(spec["variant_seed"]))
    return data


def render_pixels(spec: Mapping, config: DemoConfig) -> np.ndarray:
    """The photo as an (height, width, 3) uint8 array, before JPEG encoding."""
    width, height = config.image_size
    # room for burst frames to shift: a handheld burst moves a few pixels, not a reframing
    margin = max(1, round(0.01 * min(width, height)))
    scene_seed, variant_seed = int(spec["scene_seed"]), int(spec["variant_seed"])
    scene_rng = np.random.default_rng([scene_seed, 1])
    kind = str(spec["content_kind"])
    canvas_w, canvas_h = width + 2 * margin, height + 2 * margin
    if kind == "skyline":
        canvas = draw_skyline(scene_rng, look_for(str(spec["true_city"])), canvas_w, canvas_h)
    elif kind == "sandals":
        canvas = draw_sandals(scene_rng, np.random.default_rng([variant_seed, 2]), canvas_w, canvas_h)
    else:
        canvas = OFFTOPIC_DRAWERS[kind](scene_rng, canvas_w, canvas_h)
    frame = int(spec.get("frame_index") or 0)
    frame_rng = np.random.default_rng([scene_seed, frame, 3])
    dx, dy = (frame_rng.integers(-margin, margin + 1, 2) if frame else (0, 0))
    gain = np.float32(frame_rng.uniform(0.98, 1.02) if frame else 1.0)
    pixels = canvas[margin + dy:margin + dy + height, margin + dx:margin + dx + width].astype(np.float32) * gain
    style = _style(spec, config)
    if style is None:
        return pixels.clip(0, 255).astype(np.uint8)
    return apply_style(pixels, style, frame_rng)


def _style(spec: Mapping, config: DemoConfig) -> Style | None:
    style_id = spec.get("style_id")
    if style_id is None or pd.isna(style_id) or int(style_id) < 0:
        return None
    return style_for(config.seed, int(style_id), config.image_width, config.image_height)


def apply_style(pixels: np.ndarray, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Apply a photographer's look to float pixels; returns uint8."""
    height, width = pixels.shape[:2]
    if style.saturation != 1.0:
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * np.float32(style.saturation)
    pixels = (pixels - 128) * np.float32(style.contrast) + np.float32(128 + style.brightness)
    pixels = pixels * np.array(style.cast, dtype=np.float32)
    if style.vignette:
        pixels = pixels * (1 - np.float32(style.vignette) * _radius2(width, height))[:, :, None]
    if style.grain:
        pixels = pixels + rng.standard_normal((height, width, 1), dtype=np.float32) * np.float32(style.grain)
    out = pixels.clip(0, 255).astype(np.uint8)
    if style.frame_px or style.watermark:
        image = Image.fromarray(out)
        _decorate(ImageDraw.Draw(image), style, width, height)
        out = np.asarray(image)
    return out


@lru_cache(maxsize=16)
def _radius2(width: int, height: int) -> np.ndarray:
    """Squared distance from the centre, 1 at the corners."""
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    return (x * x + y * y) / 2


@lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _decorate(draw: ImageDraw.ImageDraw, style: Style, width: int, height: int) -> None:
    if style.frame_px:
        draw.rectangle((0, 0, width - 1, height - 1), outline=style.frame_colour, width=style.frame_px)
    if style.watermark:
        inset = style.frame_px + 3
        x = inset if style.watermark_corner % 2 == 0 else width - inset - 6 * len(style.watermark)
        y = inset if style.watermark_corner < 2 else height - inset - 11
        draw.text((x, y), style.watermark, fill=(255, 255, 255), font=_font())


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _truncate(data: bytes, variant_seed: int) -> bytes:
    """Cut a JPEG inside its image data (after the start-of-scan header), like an
    interrupted download."""
    start_of_scan = data.find(b"\xff\xda")
    cut = int(len(data) * (0.45 + (variant_seed % 25) / 100))
    return data[:max(cut, start_of_scan + 16)]


def _junk(variant_seed: int) -> bytes:
    """Bytes that are not an image: an error page, an API error, or a zip archive."""
    choice = variant_seed % 3
    if choice < 2:
        return _JUNK[choice]
    noise = np.random.default_rng([variant_seed, 4]).integers(0, 256, 512, dtype=np.uint8).tobytes()
    return b"PK\x03\x04" + noise


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class TruthRenderer:
    """A generated collection's `fetch` for the ingest engine: record -> bytes, via its truth
    row. Subclasses name the truth columns that decide the bytes and render them."""

    spec_fields: tuple[str, ...] = SPEC_FIELDS
    collection = "demo"

    def __init__(self, truth: pd.DataFrame):
        self._position = dict(zip(truth[schema.PHOTO_ID].tolist(), range(len(truth))))
        self._columns = {name: truth[name].to_numpy(dtype=object) for name in self.spec_fields}

    def spec(self, photo_id: str) -> dict:
        """The truth fields that decide a photo's bytes."""
        position = self._position[photo_id]
        return {name: values[position] for name, values in self._columns.items()}

    def render(self, spec: dict, record: Mapping) -> bytes:
        raise NotImplementedError

    def __call__(self, record: Mapping) -> bytes:
        from curate.ingest.engine_job import FetchError

        try:
            spec = self.spec(record[schema.PHOTO_ID])
        except KeyError:
            raise FetchError("missing_file",
                             f"{record['photo_id']} is not in the {self.collection} truth table") from None
        return self.render(spec, record)


class PhotoRenderer(TruthRenderer):
    """The demo's `fetch`: its truth row rendered by `render_photo`."""

    def __init__(self, truth: pd.DataFrame, config: DemoConfig):
        super().__init__(truth)
        self.config = config

    def render(self, spec: dict, record: Mapping) -> bytes:
        return render_photo(spec, self.config)
