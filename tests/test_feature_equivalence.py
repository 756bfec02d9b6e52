"""The decode pass's features (curate.vision.features.image_features) computed the fast way are bit for bit what a
straightforward computation gives on real photos: the four pHash views from one thumbnail and one batched DCT
against imagehash on PIL transposes, the border and collage rules' line medians counted on uint8 lines against
`np.median`, the quality statistics against their plain formulas. A stored value that moved would silently make
old and new catalogs disagree (and `curate filter` never recomputes a feature it has).

The comparisons hold on the code before the speed-up too, by design: they pin the values, not the speed. Real
photos come from ../shared/realdata; without it these tests skip."""

from __future__ import annotations

import base64

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from curate.filters import panels, phash, portraits, quality
from curate.filters.verify import THUMB_HEIGHT, THUMB_WIDTH
from curate.store import open_rgb
from curate.vision import features
from tests.helpers import REALDATA

SOURCES = (("flickr-ferrari/*/*.jpg", 2), ("imagenet-sample/*.jpg", 25), ("scenes15/*/*.jpg", 150),
           ("opensfm-lund/**/*.jpg", 3))  # (pattern, every n-th file): about 130 real photos of four kinds


def _real_photos() -> list[tuple[str, Image.Image]]:
    paths = [path for pattern, step in SOURCES for path in sorted(REALDATA.glob(pattern))[::step]]
    if len(paths) < 100:
        pytest.skip(f"real photos not found under {REALDATA} (../shared/realdata is absent in this checkout)")
    return [(str(path.relative_to(REALDATA)), open_rgb(path, min_side=features.WORK_SIDE)) for path in paths]


def _copies(photos: list[tuple[str, Image.Image]]) -> list[tuple[str, Image.Image]]:
    """Edited copies that take the rules' other branches: collages side by side and stacked (panels), 9:16 crops
    (a portrait's own strip hash), a phone screenshot and a letterbox (the border rule), a flat picture and a
    pure vertical ramp (DCT coefficients that are zero but for rounding)."""
    out = []
    for index, (name, photo) in enumerate(photos[::3]):
        width, height = photo.size
        other = photos[(3 * index + 7) % len(photos)][1].resize((width, height))
        side = Image.new("RGB", (2 * width + 12, height), "white")
        side.paste(photo, (0, 0))
        side.paste(other, (width + 12, 0))
        stacked = Image.new("RGB", (width, 2 * height + 9), (250, 250, 250))
        stacked.paste(photo, (0, 0))
        stacked.paste(other, (0, height + 9))
        screen = Image.new("RGB", (width + 40, int((width + 40) * 2340 / 1080)), (18, 18, 18))
        screen.paste(photo, (20, (screen.height - height) // 2))
        span = round(height * 9 / 16)
        left = (37 * index) % max(1, width - span)
        ramp = np.tile(np.linspace(0, 255, height)[:, None], (1, width)).astype(np.uint8)
        out += [(f"{name} collage", side), (f"{name} stacked", stacked), (f"{name} screenshot", screen),
                (f"{name} letterbox", ImageOps.expand(photo, border=(0, height // 6), fill="black")),
                (f"{name} 9:16 crop", photo.crop((left, 0, left + span, height))),
                (f"{name} flat", Image.new("RGB", photo.size, (120, 130, 140))),
                (f"{name} ramp", Image.fromarray(ramp).convert("RGB"))]
    return out


@pytest.fixture(scope="module")
def photos() -> list[tuple[str, Image.Image]]:
    real = _real_photos()
    return real + _copies(real)


# ------------------------------------------------------------------ the straightforward reference

def reference_flat(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The border rule's flat-line test with np.median (curate.filters.phash `_flat` without uint8 lines)."""
    medians = np.median(lines, axis=1, keepdims=True)
    at_median = (np.abs(lines - medians) <= phash.BORDER_TOLERANCE).mean(axis=1)
    return (lines.std(axis=1) <= phash.BORDER_FLAT_STD) | (at_median >= phash.BORDER_FLAT_SHARE), medians[:, 0]


def reference_panel_boxes(grey: np.ndarray):
    """The collage rule as first written: every line's flat test, then the gutter (curate.filters.panels)."""
    height, width = grey.shape
    if min(height, width) < 8 or max(height, width) < panels.PANEL_MIN_ASPECT * min(height, width):
        return None
    wide = width >= height
    lines = grey.T if wide else grey
    count = len(lines)
    flat, _ = reference_flat(lines)
    low, high = int(panels.PANEL_GUTTER_SPAN[0] * count), int(np.ceil(panels.PANEL_GUTTER_SPAN[1] * count))
    edges = np.diff(np.concatenate([[0], flat[low:high].astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1) + low, np.flatnonzero(edges == -1) + low
    if not len(starts):
        return None
    longest = int(np.argmax(ends - starts))
    start, end = int(starts[longest]), int(ends[longest])
    while start > 0 and flat[start - 1]:
        start -= 1
    while end < count and flat[end]:
        end += 1
    if end - start < max(2, round(panels.PANEL_MIN_GUTTER * count)) \
            or min(start, count - end) < panels.PANEL_MIN_SHARE * count:
        return None
    boxes = []
    for first, last in ((0, start), (end, count)):
        if flat[first:last].mean() > panels.PANEL_MAX_FLAT:
            return None
        box = (0, height, first, last) if wide else (first, last, 0, width)
        inner = phash.content_box(grey[box[0]:box[1], box[2]:box[3]])  # float32: the np.median path
        if inner is not None:
            box = (box[0] + inner[0], box[0] + inner[1], box[2] + inner[2], box[2] + inner[3])
        boxes.append(box)
    return boxes


def reference_features(image: Image.Image) -> dict:
    """Every feature of the decode pass, each computed on its own, the plain way."""
    width, height = image.size
    scale = quality.STAT_SIDE / min(width, height)
    work = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR,
                        reducing_gap=2.0).convert("RGB") if scale < 1 else image.convert("RGB")
    grey = work.convert("L")
    values = np.asarray(grey, dtype=np.float32)
    small = grey.resize((32, 32), imagehash.ANTIALIAS)
    views = [str(imagehash.phash(small.transpose(turn) if turn is not None else small))
             for turn in (None, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_270,
                          Image.Transpose.ROTATE_180)]
    box = phash.content_box(values)  # float32: the np.median path
    trimmed = None if box is None else str(imagehash.phash(grey.crop((box[2], box[0], box[3], box[1]))))
    boxes = reference_panel_boxes(values)
    panels = None if boxes is None else " ".join(
        str(imagehash.phash(grey.crop((left, top, right, bottom)))) for top, bottom, left, right in boxes)
    counts = np.asarray(grey.histogram(), dtype=np.float64)
    cumulative = np.cumsum(counts) / counts.sum()
    share = counts / counts.sum()
    nonzero = share[share > 0]
    reduced = np.asarray(work.reduce(4) if min(work.size) >= 16 else work, dtype=np.int16)
    lap = (4 * values[1:-1, 1:-1] - values[:-2, 1:-1] - values[2:, 1:-1] - values[1:-1, :-2] - values[1:-1, 2:])
    w, h = work.size
    centre = np.asarray(work.crop((w // 4, h // 4, w - w // 4, h - h // 4)))
    weights = np.array([0.0, 0.25, 0.5, 1.0])[(centre >= quality.CLIPPED).sum(axis=2)]
    thumbnail = work.resize((THUMB_WIDTH, THUMB_HEIGHT), Image.BILINEAR).tobytes()
    return {"phash": views[0], "phash_mirror": views[1], "phash_trimmed": trimmed, "phash_rot90": views[2],
            "phash_rot180": views[3], "phash_panels": panels, "phash_strips": portraits.strip_phashes(grey.copy()),
            "laplacian_var": float(lap.var()) if min(values.shape) >= 3 else 0.0,
            **dict(zip(("brightness_p05", "brightness_p50", "brightness_p95"),
                       (float(np.searchsorted(cumulative, q)) for q in (0.05, 0.5, 0.95)))),
            "white_clipped_share": float(share[quality.CLIPPED:].sum()),
            "centre_clipped_share": float(weights.mean()) if centre.size else 0.0,
            "entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()) + 0.0,
            "chroma_mean": float((reduced.max(axis=2) - reduced.min(axis=2)).mean()),
            features.THUMBNAIL_KEY: base64.b64encode(thumbnail).decode("ascii")}


# ------------------------------------------------------------------ the tests

@pytest.mark.slow
def test_decode_pass_features_are_bit_identical_to_the_reference_on_real_photos(photos):
    differ, found = [], []
    for name, image in photos:
        fast, plain = features.image_features(image), reference_features(image)
        assert fast.keys() == plain.keys()
        differ += [(name, key, fast[key], plain[key]) for key in fast
                   if fast[key] != plain[key] or type(fast[key]) is not type(plain[key])]
        found.append(fast)
    assert not differ, f"{len(differ)} features differ, e.g. {differ[:3]}"
    # the sample takes every branch: a border or none, a collage or none, a portrait's strip hash, a landscape's
    # windows, none (a flat picture)
    strips = [row["phash_strips"] for row in found]
    for column in ("phash_trimmed", "phash_panels"):
        assert 5 <= sum(row[column] is not None for row in found) <= len(found) - 5, column
    assert sum(value is None for value in strips) >= 5
    assert sum(value is not None and value.startswith(portraits.OWN_PREFIX) for value in strips) >= 5
    assert sum(value is not None and not value.startswith(portraits.OWN_PREFIX) for value in strips) >= 5


def test_line_medians_counted_on_uint8_lines_equal_numpy_median(photos):
    rng = np.random.default_rng(7)
    made = [rng.integers(0, 256, (40, size), dtype=np.uint8) for size in (1, 2, 3, 33, 384)]
    made += [np.full((5, 64), level, np.uint8) for level in (0, 3, 252, 255)]
    made += [rng.integers(0, 2, (30, 50), dtype=np.uint8) * 255, rng.integers(120, 128, (30, 51), dtype=np.uint8)]
    greys = [np.asarray(image.convert("L")) for _, image in photos[::4]]
    for codes in made + [line for grey in greys for line in (grey, grey.T, grey[:37], grey.T[::-1][:57])]:
        flat, medians = phash._flat(codes.astype(np.float32), codes)
        plain_flat, plain_medians = reference_flat(codes.astype(np.float32))
        assert np.array_equal(flat, plain_flat) and medians.dtype == plain_medians.dtype == np.float32
        assert np.array_equal(medians, plain_medians)
        shares = phash._coded_medians(codes)[1]
        plain_shares = (np.abs(codes.astype(np.float32) - plain_medians[:, None]) <= phash.BORDER_TOLERANCE).mean(1)
        assert np.array_equal(shares, plain_shares)


@pytest.mark.slow
def test_border_and_collage_rules_give_the_same_boxes_on_uint8_and_float_pixels(photos):
    for name, image in photos:
        grey = np.asarray(image.convert("L"))
        assert phash.content_box(grey) == phash.content_box(grey.astype(np.float32)), name
        assert fast_panel_boxes(grey) == reference_panel_boxes(grey.astype(np.float32)), name


def fast_panel_boxes(grey: np.ndarray):
    boxes = panels.panel_boxes(grey)
    return None if boxes is None else list(boxes)


def test_four_hash_views_are_imagehash_of_the_thumbnail_turned(photos):
    for name, image in photos[::5]:  # any size and mode, not only the decode pass's work image
        small = image.convert("L").resize((32, 32), imagehash.ANTIALIAS)
        expected = tuple(str(imagehash.phash(view)) for view in (
            small, small.transpose(Image.Transpose.FLIP_LEFT_RIGHT), small.transpose(Image.Transpose.ROTATE_270),
            small.transpose(Image.Transpose.ROTATE_180)))
        assert phash.hash_views(image) == expected, name
        assert phash.phash_views(image) == expected[:3] and phash.half_turn_phash(image) == expected[3], name
        assert expected[0] == str(imagehash.phash(image)), name


def test_decode_pass_shrinks_to_the_hash_thumbnail_once(monkeypatch):
    """The four pHash views share one 32x32 thumbnail (a resize of the whole work image each otherwise)."""
    made = []
    thumbnail = phash._hash_thumbnail
    monkeypatch.setattr(phash, "_hash_thumbnail", lambda image: made.append(image.size) or thumbnail(image))
    picture = Image.effect_mandelbrot((384, 256), (-2, -0.9, 1, 1.3), 60).convert("RGB")
    found = features.image_features(picture)
    assert made == [(384, 256)]
    assert found["phash_rot180"] == str(imagehash.phash(picture.convert("L").resize((32, 32), imagehash.ANTIALIAS)
                                                        .transpose(Image.Transpose.ROTATE_180)))
