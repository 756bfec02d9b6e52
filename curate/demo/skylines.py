"""Procedural city skylines: sky, water or ground, buildings, signature landmarks.

What makes a city learnable from pixels: its time-of-day mix and sky, whether there is
water and of which colour, the building palette, the height envelope (where the tall
buildings stand) and its landmarks, always at roughly the same place in the frame.
The viewpoint (shift and zoom) and the buildings themselves vary per scene.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from curate.demo.cities import SKIES, TIMES, CityLook, Landmark

_WINDOW_LIGHT = np.array([255, 214, 130], dtype=np.float32)


def draw_skyline(rng: np.random.Generator, look: CityLook, width: int, height: int) -> np.ndarray:
    """One skyline scene as an (height, width, 3) uint8 array."""
    weights = np.array([look.times.get(t, 0) for t in TIMES], dtype=float)
    time_of_day = TIMES[rng.choice(len(TIMES), p=weights / weights.sum())]
    horizon = int(height * (look.horizon + rng.uniform(-0.04, 0.04)))
    background = _background(rng, look, time_of_day, width, height, horizon)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    # viewpoint and zoom vary per photo, so two photos of one skyline are not near-duplicates
    shift = rng.uniform(-0.25, 0.25)  # where the skyline sits in the frame
    unit = height * rng.uniform(0.75, 1.3)  # zoom: pixels per landmark unit
    sky = lambda y: _sky_colour(time_of_day, y, horizon)  # noqa: E731
    _celestial(draw, rng, time_of_day, width, horizon)
    for landmark in look.landmarks:
        if landmark.layer == "back":
            _draw_landmark(draw, landmark, shift, width, horizon, unit, sky)
    _buildings(draw, rng, look, shift, width, height, horizon, time_of_day)
    for layer in ("mid", "front"):
        for landmark in look.landmarks:
            if landmark.layer == layer:
                _draw_landmark(draw, landmark, shift, width, horizon, unit, sky)
    pixels = np.asarray(image, dtype=np.float32)
    if time_of_day in ("night", "dusk"):
        pixels = _lights(rng, pixels, background, horizon, 0.35 if time_of_day == "night" else 0.1)
    if look.water is not None:
        pixels = _reflection(pixels, horizon)
    if time_of_day == "night":
        pixels[:horizon] *= np.float32(0.9)
    return pixels.clip(0, 255).astype(np.uint8)


def _background(rng, look: CityLook, time_of_day: str, width: int, height: int, horizon: int) -> np.ndarray:
    """Sky gradient down to the horizon, then water or ground."""
    top, bottom = (np.array(c, dtype=np.float32) for c in SKIES[time_of_day])
    t = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None]
    sky = top * (1 - t) + bottom * t
    base = np.array(look.water if look.water is not None else look.ground, dtype=np.float32)
    if time_of_day == "night":
        base = base * 0.35
    elif time_of_day == "dusk":
        base = base * 0.7 + np.array([40, 20, 10], dtype=np.float32)
    below = np.linspace(1.0, 0.75, height - horizon, dtype=np.float32)[:, None] * base
    column = np.concatenate([sky, below])[:height] + rng.normal(0, 3, 3).astype(np.float32)
    return np.broadcast_to(column[:, None, :], (height, width, 3)).clip(0, 255).astype(np.uint8)


def _sky_colour(time_of_day: str, y: float, horizon: int) -> tuple[int, int, int]:
    top, bottom = (np.array(c, dtype=float) for c in SKIES[time_of_day])
    t = min(max(y / max(horizon, 1), 0.0), 1.0)
    return tuple(int(v) for v in top * (1 - t) + bottom * t)


def _celestial(draw: ImageDraw.ImageDraw, rng, time_of_day: str, width: int, horizon: int) -> None:
    """A sun low over the horizon at dusk, a small moon at night."""
    if time_of_day == "dusk":
        x, r = rng.uniform(0.1, 0.9) * width, horizon * 0.12
        y = horizon * rng.uniform(0.7, 0.9)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 200, 110))
    elif time_of_day == "night":
        x, r = rng.uniform(0.1, 0.9) * width, horizon * 0.05
        y = horizon * rng.uniform(0.1, 0.35)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(235, 235, 215))


def _buildings(draw, rng, look: CityLook, shift: float, width: int, height: int, horizon: int,
               time_of_day: str) -> None:
    """Ordinary buildings under the city's height envelope, tallest first (behind)."""
    count = int(rng.integers(look.buildings[0], look.buildings[1] + 1))
    xs = rng.uniform(-0.05, 1.05, count)
    env_x, env_h = zip(*look.envelope)
    heights = np.interp(xs - shift, env_x, env_h) * rng.uniform(0.45, 1.0, count) * height
    widths = rng.uniform(*look.building_width, count) * width
    palette = np.array(look.palette, dtype=float)
    colours = palette[rng.integers(0, len(palette), count)] * rng.uniform(0.8, 1.15, (count, 1))
    if time_of_day == "night":
        colours = colours * 0.3
    elif time_of_day == "dusk":
        colours = colours * 0.65
    tops = rng.integers(0, 4, count)
    for i in np.argsort(-heights):
        x0, x1 = xs[i] * width - widths[i] / 2, xs[i] * width + widths[i] / 2
        y_top = horizon - heights[i]
        fill = tuple(int(v) for v in colours[i].clip(0, 255))
        draw.rectangle((x0, y_top, x1, horizon), fill=fill)
        if tops[i] == 1:  # antenna
            draw.line((xs[i] * width, y_top, xs[i] * width, y_top - heights[i] * 0.15), fill=fill, width=1)
        elif tops[i] == 2:  # stepped crown
            inset = widths[i] * 0.25
            draw.rectangle((x0 + inset, y_top - heights[i] * 0.08, x1 - inset, y_top), fill=fill)
        elif tops[i] == 3:  # pointed roof
            draw.polygon(((x0, y_top), (xs[i] * width, y_top - widths[i] * 0.6), (x1, y_top)), fill=fill)


def _draw_landmark(draw, landmark: Landmark, shift: float, width: int, horizon: int, unit: float, sky) -> None:
    """Draw one landmark's primitives (see curate.demo.cities for the vocabulary)."""
    anchor = (landmark.anchor_x + shift) * width
    px = lambda x: anchor + x * unit  # noqa: E731
    py = lambda y: horizon - y * unit  # noqa: E731
    for part in landmark.parts:
        kind = part[0]
        if kind == "trap":
            y0, y1, w0, w1, colour = part[1:6]
            dx = part[6] if len(part) > 6 else 0.0
            colour = sky(py(y1)) if colour == "sky" else colour
            draw.polygon(((px(dx - w0 / 2), py(y0)), (px(dx + w0 / 2), py(y0)),
                          (px(dx + w1 / 2), py(y1)), (px(dx - w1 / 2), py(y1))), fill=colour)
        elif kind == "ell":
            cx, cy, rx, ry, colour = part[1:]
            draw.ellipse((px(cx - rx), py(cy + ry), px(cx + rx), py(cy - ry)), fill=colour)
        elif kind == "dome":
            cx, rx, ry, colour = part[1:]
            draw.pieslice((px(cx - rx), py(ry), px(cx + rx), py(-ry)), 180, 360, fill=colour)
        elif kind == "line":
            x0, y0, x1, y1, line_width, colour = part[1:]
            draw.line((px(x0), py(y0), px(x1), py(y1)), fill=colour, width=line_width)
        elif kind in ("ring", "arch"):
            cx, cy, r = (part[1], part[2], part[3]) if kind == "ring" else (part[1], 0.0, part[2])
            line_width, colour = part[-2:]
            start, end = (0, 360) if kind == "ring" else (180, 360)
            draw.arc((px(cx - r), py(cy + r), px(cx + r), py(cy - r)), start, end, fill=colour, width=line_width)
        elif kind == "poly":
            draw.polygon([(px(x), py(y)) for x, y in part[1]], fill=part[2])


def _lights(rng, pixels: np.ndarray, background: np.ndarray, horizon: int, share: float) -> np.ndarray:
    """Lit windows: a sparse grid of warm dots on whatever was drawn above the horizon."""
    height, width = pixels.shape[:2]
    built = np.abs(pixels[:horizon] - background[:horizon]).sum(axis=2) > 12
    grid = np.zeros((horizon, width), dtype=bool)
    grid[::3, ::2] = True
    lit = built & grid & (rng.random((horizon, width)) < share)
    pixels[:horizon][lit] = _WINDOW_LIGHT
    return pixels


def _reflection(pixels: np.ndarray, horizon: int) -> np.ndarray:
    """Mirror the skyline into the water, dimmed and rippled."""
    height = pixels.shape[0]
    depth = min(horizon, height - horizon)
    if depth <= 0:
        return pixels
    mirrored = pixels[horizon - depth:horizon][::-1]
    ripple = (0.8 + 0.2 * np.cos(np.arange(depth, dtype=np.float32) * 1.7))[:, None, None]
    water = pixels[horizon:horizon + depth]
    pixels[horizon:horizon + depth] = water * 0.6 + mirrored * 0.4 * ripple
    return pixels
