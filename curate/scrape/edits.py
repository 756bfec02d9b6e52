"""A scrape photo's bytes: a real file, as taken, edited, framed as a burst, or broken.

`render_scrape_photo(spec, owner_name)` is a pure function of a truth row (source file,
edit kind and strength, edit seed, burst frame, broken kind): the same row always gives
the same bytes. A photo shown as taken is the file's own bytes, so an exact copy of it is
byte-identical; every other photo is re-encoded as JPEG (quality 90, or the `jpeg` edit's).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

from curate.demo.config import MIN_IMAGE_SIDE_PX
from curate.demo.render import TINY_SIDE_PX, TruthRenderer, _junk, _truncate
from curate.scrape.config import EXACT_COPY, SANDALS

SPEC_FIELDS = ("source_root", "source_file", "edit_kind", "edit_strength", "edit_seed", "burst_id",
               "frame_index", "broken_kind", "variant_seed")
BURST_SHIFT = 0.03  # burst frames move up to 3 % of a side
JPEG_QUALITY = 90


def render_scrape_photo(spec: Mapping, owner_name: str = "") -> bytes:
    """The bytes of one scrape photo (see the module docstring)."""
    broken = _text(spec.get("broken_kind"))
    if broken == "zero_bytes":
        return b""
    if broken == "not_an_image":
        return _junk(int(spec["variant_seed"]))
    path = f"{spec['source_root']}/{spec['source_file']}"
    with open(path, "rb") as handle:
        raw = handle.read()
    kind = _text(spec.get("edit_kind"))
    in_burst = not pd.isna(spec.get("burst_id"))
    if broken is None and kind in (None, EXACT_COPY) and not in_burst:
        return raw  # as taken, and an exact copy is the same bytes
    image = _open_rgb(raw)
    rng = np.random.default_rng([int(spec["edit_seed"]), 11])
    if in_burst:
        image = burst_frame(image, int(spec.get("frame_index") or 0), rng)
    quality = JPEG_QUALITY
    if kind == "jpeg":
        quality = int(round(float(spec["edit_strength"])))
    elif kind == SANDALS:
        image, quality = _sandals_jitter(image, rng)
    elif kind in EDITS:
        image = EDITS[kind](image, float(spec["edit_strength"]), rng, owner_name)
    if broken == "tiny":
        ratio = image.height / image.width
        image = image.resize((TINY_SIDE_PX, max(4, round(TINY_SIDE_PX * ratio))), Image.BILINEAR)
    data = encode(image, quality)
    return _truncate(data, int(spec["variant_seed"])) if broken == "truncated_jpeg" else data


def _open_rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def burst_frame(image: Image.Image, frame: int, rng: np.random.Generator) -> Image.Image:
    """Frame `frame` of a burst: a window 2 x BURST_SHIFT smaller than the photo, centred for
    frame 0 and shifted by up to BURST_SHIFT of each side for later frames, with a +-2 % exposure
    change (a handheld burst)."""
    width, height = image.size
    margin_x, margin_y = round(BURST_SHIFT * width), round(BURST_SHIFT * height)
    dx = int(rng.integers(-margin_x, margin_x + 1)) if frame else 0
    dy = int(rng.integers(-margin_y, margin_y + 1)) if frame else 0
    box = (margin_x + dx, margin_y + dy, width - margin_x + dx, height - margin_y + dy)
    framed = image.crop(box)
    return ImageEnhance.Brightness(framed).enhance(float(rng.uniform(0.98, 1.02))) if frame else framed


def _downscale(image: Image.Image, scale: float, rng, owner: str) -> Image.Image:
    """Resize to `scale` of each side, but never below MIN_IMAGE_SIDE_PX (a copy is still a photo)."""
    scale = min(1.0, max(scale, MIN_IMAGE_SIDE_PX / min(image.size)))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.LANCZOS)


def _crop(image: Image.Image, share: float, rng, owner: str) -> Image.Image:
    """Cut `share` of each side in total, split at random between its two ends."""
    cut_x, cut_y = round(share * image.width), round(share * image.height)
    left, top = int(rng.integers(0, cut_x + 1)), int(rng.integers(0, cut_y + 1))
    return image.crop((left, top, image.width - (cut_x - left), image.height - (cut_y - top)))


def _brightness_contrast(image: Image.Image, amount: float, rng, owner: str) -> Image.Image:
    """Brightness by +-amount and contrast by +-(a share of amount), signs at random."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    image = ImageEnhance.Brightness(image).enhance(1.0 + sign * amount)
    return ImageEnhance.Contrast(image).enhance(1.0 + float(rng.uniform(-amount, amount)))


def _rotation(image: Image.Image, degrees: float, rng, owner: str) -> Image.Image:
    """Rotate by +-degrees and crop the blank corners away (as a straightening tool does)."""
    angle = degrees if rng.random() < 0.5 else -degrees
    turned = image.rotate(angle, resample=Image.BICUBIC, expand=False)
    sin = abs(math.sin(math.radians(angle)))
    inset_x, inset_y = math.ceil(image.height * sin / 2) + 1, math.ceil(image.width * sin / 2) + 1
    return turned.crop((inset_x, inset_y, image.width - inset_x, image.height - inset_y))


def _flip(image: Image.Image, strength: float, rng, owner: str) -> Image.Image:
    return ImageOps.mirror(image)


def _watermark(image: Image.Image, height_share: float, rng, owner: str) -> Image.Image:
    """'(c) owner' in white with a dark outline, in a random corner."""
    size = max(8, round(height_share * image.height))
    text = f"© {owner or 'photographer'}"
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    inset = max(2, size // 3)
    x = inset if rng.random() < 0.5 else max(inset, image.width - (right - left) - inset)
    y = inset if rng.random() < 0.5 else max(inset, image.height - (bottom - top) - inset)
    draw.text((x, y), text, font=font, fill=(255, 255, 255), stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return marked


def _greyscale(image: Image.Image, strength: float, rng, owner: str) -> Image.Image:
    return image.convert("L").convert("RGB")


EDITS = {"downscale": _downscale, "crop": _crop, "brightness_contrast": _brightness_contrast,
         "rotation": _rotation, "flip": _flip, "watermark": _watermark, "greyscale": _greyscale}


def _sandals_jitter(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """One of the sandals photographer's near-identical uploads: a crop of up to 3 %, a
    +-5 % exposure change and his camera's JPEG quality of the day."""
    image = _crop(image, float(rng.uniform(0.0, 0.03)), rng, "")
    image = ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.95, 1.05)))
    return image, int(rng.integers(75, 96))


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ScrapeRenderer(TruthRenderer):
    """The scrape's `fetch` for the ingest engine: record -> bytes, via its truth row."""

    spec_fields = SPEC_FIELDS
    collection = "scrape"

    def render(self, spec: dict, record: Mapping) -> bytes:
        from curate.ingest.engine_job import FetchError

        try:
            return render_scrape_photo(spec, str(record.get("owner_name") or ""))
        except FileNotFoundError:
            raise FetchError("missing_file", f"{spec['source_file']} is gone from {spec['source_root']}") from None
