"""Off-topic scenes: street level, food, people, indoor, and the sandals photographer.

None of these is a skyline, whatever their tags say. They are drawn with a few PIL
shapes on a plain or gradient background; every choice comes from the scene's RNG.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

_SKIN = ((241, 194, 160), (224, 172, 125), (198, 134, 90), (141, 85, 54), (90, 60, 40))
_CLOTHES = ((200, 40, 40), (40, 70, 160), (30, 30, 30), (230, 230, 230), (60, 140, 70), (230, 170, 40))
_FACADES = ((170, 120, 90), (200, 190, 170), (120, 110, 100), (150, 160, 170), (190, 150, 110))
_FOOD = ((200, 60, 40), (90, 150, 50), (230, 190, 70), (140, 90, 50), (250, 240, 220), (240, 130, 40))
_TABLES = ((120, 80, 50), (235, 232, 225), (60, 60, 64), (170, 130, 90))
_WALLS = ((225, 215, 195), (190, 205, 215), (210, 190, 190), (160, 170, 150), (235, 235, 235))


def _colour(rng, options, jitter: float = 0.12) -> tuple[int, int, int]:
    base = np.array(options[rng.integers(0, len(options))], dtype=float)
    return tuple(int(v) for v in (base * rng.uniform(1 - jitter, 1 + jitter)).clip(0, 255))


def _gradient(top, bottom, width: int, height: int) -> Image.Image:
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    column = np.array(top, dtype=np.float32) * (1 - t) + np.array(bottom, dtype=np.float32) * t
    return Image.fromarray(np.broadcast_to(column[:, None, :], (height, width, 3)).astype(np.uint8))


def draw_street(rng, width: int, height: int) -> np.ndarray:
    """Street level: facades in perspective, a road with lane marks, cars."""
    image = _gradient((120, 160, 210), (190, 210, 230), width, height)
    draw = ImageDraw.Draw(image)
    vx, vy = width * rng.uniform(0.2, 0.8), height * rng.uniform(0.2, 0.55)
    for side in (0, width):
        facade = _colour(rng, _FACADES)
        depth = rng.uniform(0.12, 0.45)  # how far down the street the facades reach
        far_x = vx + (side - vx) * depth
        draw.polygon(((side, 0), (far_x, vy - height * 0.15), (far_x, vy + height * 0.05), (side, height)),
                     fill=facade)
        for _ in range(int(rng.integers(0, 4))):  # shop fronts / windows break up the facade
            x0 = side + (far_x - side) * rng.uniform(0.05, 0.6)
            y0 = height * rng.uniform(0.2, 0.7)
            draw.rectangle((min(x0, x0 + (far_x - side) * 0.2), y0, max(x0, x0 + (far_x - side) * 0.2),
                            y0 + height * rng.uniform(0.08, 0.2)), fill=_colour(rng, _FACADES, 0.3))
        for k in range(1, 5):  # floor lines recede towards the vanishing point
            draw.line(((side, height * k / 5), (far_x, vy - height * 0.15 + height * 0.2 * k / 5)),
                      fill=tuple(int(c * 0.6) for c in facade), width=1)
    draw.polygon(((vx - width * 0.04, vy), (vx + width * 0.04, vy), (width * 0.85, height), (width * 0.15, height)),
                 fill=_colour(rng, ((70, 70, 74), (95, 95, 100))))
    for k in range(4):
        t = (k + rng.uniform(0.2, 0.6)) / 4
        draw.line(((vx, vy + (height - vy) * t), (vx, vy + (height - vy) * min(t + 0.08, 1))),
                  fill=(230, 230, 220), width=max(1, int(3 * t)))
    for _ in range(int(rng.integers(1, 4))):
        t = rng.uniform(0.3, 0.9)
        cx = vx + (rng.uniform(-0.6, 0.6) * width * 0.35) * t
        cy, w = vy + (height - vy) * t, width * 0.22 * t
        draw.rounded_rectangle((cx - w / 2, cy - w * 0.45, cx + w / 2, cy), radius=max(1, w * 0.12),
                               fill=_colour(rng, _CLOTHES, 0.2))
        for wx in (cx - w * 0.3, cx + w * 0.3):
            draw.ellipse((wx - w * 0.09, cy - w * 0.09, wx + w * 0.09, cy + w * 0.09), fill=(20, 20, 20))
    return np.asarray(image)


def draw_food(rng, width: int, height: int) -> np.ndarray:
    """A plate of food on a table, seen from above, with cutlery and a glass."""
    image = Image.new("RGB", (width, height), _colour(rng, _TABLES))
    draw = ImageDraw.Draw(image)
    cx, cy = width * rng.uniform(0.4, 0.6), height * rng.uniform(0.42, 0.58)
    r = min(width, height) * rng.uniform(0.32, 0.42)
    draw.ellipse((cx - r, cy - r * 0.85, cx + r, cy + r * 0.85), fill=(246, 246, 242))
    draw.ellipse((cx - r * 0.8, cy - r * 0.68, cx + r * 0.8, cy + r * 0.68), fill=(232, 232, 228))
    for _ in range(int(rng.integers(2, 6))):
        fx, fy = cx + rng.uniform(-0.45, 0.45) * r, cy + rng.uniform(-0.35, 0.35) * r
        fr = r * rng.uniform(0.12, 0.3)
        draw.ellipse((fx - fr, fy - fr * rng.uniform(0.6, 1), fx + fr, fy + fr), fill=_colour(rng, _FOOD, 0.2))
    for offset in (-1.2, 1.2):
        x = cx + offset * r
        draw.line(((x, cy - r * 0.7), (x, cy + r * 0.7)), fill=(190, 190, 196), width=max(1, width // 80))
    gx, gy, gr = width * rng.choice([0.1, 0.9]), height * 0.2, r * 0.3
    draw.ellipse((gx - gr, gy - gr, gx + gr, gy + gr), fill=(200, 220, 230), outline=(150, 160, 170))
    return np.asarray(image)


def draw_people(rng, width: int, height: int) -> np.ndarray:
    """One to four people-like figures (head, body, arms) in a park or against a wall."""
    if rng.random() < 0.5:
        image = _gradient((110, 160, 220), (180, 210, 230), width, height)
        ImageDraw.Draw(image).rectangle((0, height * 0.6, width, height), fill=_colour(rng, ((70, 130, 60),)))
    else:
        image = Image.new("RGB", (width, height), _colour(rng, _WALLS))
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(1, 5))
    for i in range(count):
        cx = width * (i + 0.5 + rng.uniform(-0.2, 0.2)) / count
        scale = height * rng.uniform(0.55, 0.85)
        top = height - scale
        head = scale * 0.13
        body = _colour(rng, _CLOTHES, 0.2)
        draw.rounded_rectangle((cx - scale * 0.16, top + head * 2, cx + scale * 0.16, height),
                               radius=max(1, scale * 0.06), fill=body)
        draw.line(((cx - scale * 0.16, top + head * 2.6), (cx - scale * 0.3, top + scale * 0.55)), fill=body,
                  width=max(1, int(scale * 0.06)))
        draw.line(((cx + scale * 0.16, top + head * 2.6), (cx + scale * 0.3, top + scale * 0.55)), fill=body,
                  width=max(1, int(scale * 0.06)))
        draw.ellipse((cx - head, top, cx + head, top + head * 2.1), fill=_colour(rng, _SKIN, 0.05))
        draw.chord((cx - head, top - head * 0.1, cx + head, top + head * 1.2), 180, 360,
                   fill=_colour(rng, ((30, 20, 15), (90, 60, 30), (200, 170, 90))))
    return np.asarray(image)


def draw_indoor(rng, width: int, height: int) -> np.ndarray:
    """A room: wall, floor, a bright window, a sofa, a lamp, a picture."""
    image = Image.new("RGB", (width, height), _colour(rng, _WALLS))
    draw = ImageDraw.Draw(image)
    floor_y = height * rng.uniform(0.6, 0.75)
    draw.rectangle((0, floor_y, width, height), fill=_colour(rng, ((130, 90, 60), (170, 150, 120), (90, 80, 80))))
    wx = width * rng.uniform(0.05, 0.55)
    ww, wh = width * 0.3, height * 0.35
    draw.rectangle((wx, height * 0.12, wx + ww, height * 0.12 + wh), fill=(235, 245, 255), outline=(250, 250, 250),
                   width=max(1, width // 60))
    draw.line(((wx + ww / 2, height * 0.12), (wx + ww / 2, height * 0.12 + wh)), fill=(250, 250, 250), width=2)
    sx = width * rng.uniform(0.1, 0.5)
    sofa = _colour(rng, _CLOTHES, 0.2)
    draw.rectangle((sx, floor_y - height * 0.2, sx + width * 0.45, floor_y + height * 0.05), fill=sofa)
    draw.rectangle((sx, floor_y - height * 0.3, sx + width * 0.45, floor_y - height * 0.18),
                   fill=tuple(int(c * 0.8) for c in sofa))
    lx = width * rng.uniform(0.75, 0.92)
    draw.line(((lx, floor_y), (lx, height * 0.35)), fill=(60, 60, 60), width=2)
    draw.polygon(((lx - width * 0.06, height * 0.35), (lx + width * 0.06, height * 0.35), (lx, height * 0.22)),
                 fill=(250, 230, 170))
    px = width * rng.uniform(0.6, 0.75)
    draw.rectangle((px, height * 0.15, px + width * 0.12, height * 0.3), fill=_colour(rng, _FOOD, 0.3),
                   outline=(80, 60, 40), width=2)
    return np.asarray(image)


def draw_sandals(scene_rng, variant_rng, width: int, height: int) -> np.ndarray:
    """The sandals photographer's shot: the same pair on the same floor, every time.

    `scene_rng` fixes the scene (shared by all his photos); `variant_rng` only nudges
    position and light by a few percent, so the photos are near-identical.
    """
    floor = np.array(_colour(scene_rng, ((214, 190, 150),), 0.02), dtype=np.float32)
    texture = scene_rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    light = variant_rng.uniform(0.95, 1.05)
    image = Image.fromarray(((floor + texture) * light).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    dx, dy = variant_rng.uniform(-0.03, 0.03) * width, variant_rng.uniform(-0.03, 0.03) * height
    sole, strap = (96, 58, 34), (40, 30, 26)
    for side in (-1, 1):
        cx, cy = width * (0.5 + side * 0.13) + dx, height * 0.52 + dy
        w, h = width * 0.1, height * 0.36
        draw.ellipse((cx - w + 3, cy - h + 3, cx + w + 3, cy + h + 3), fill=(150, 130, 100))  # shadow
        draw.ellipse((cx - w, cy - h, cx + w, cy + h), fill=sole)
        draw.line(((cx - w, cy - h * 0.2), (cx + w, cy - h * 0.35)), fill=strap, width=max(2, width // 40))
        draw.line(((cx - w * 0.8, cy + h * 0.3), (cx + w * 0.8, cy + h * 0.3)), fill=strap, width=max(2, width // 50))
        draw.line(((cx, cy - h * 0.75), (cx, cy - h * 0.3)), fill=strap, width=max(1, width // 80))
    return np.asarray(image)


OFFTOPIC_DRAWERS = {"street": draw_street, "food": draw_food, "people": draw_people, "indoor": draw_indoor}
