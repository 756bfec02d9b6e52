"""What each city's skyline looks like: data only, drawn by curate.demo.skylines.

A city has a horizon height, water or ground, a building palette, a height envelope
(control points x -> height, both as fractions), how many buildings and how wide,
which times of day it is usually photographed at, and signature landmarks.

Landmarks are lists of primitives in units of the image height, with x measured from
the landmark's anchor and y measured up from the horizon:

* ``("trap", y0, y1, w0, w1, colour[, dx])`` a trapezoid (w1 = 0: a spike)
* ``("ell", cx, cy, rx, ry, colour)`` a filled ellipse
* ``("dome", cx, rx, ry, colour)`` the upper half of an ellipse sitting on the horizon
* ``("line", x0, y0, x1, y1, width_px, colour)``
* ``("ring", cx, cy, r, width_px, colour)`` a circle outline
* ``("arch", cx, r, width_px, colour)`` the upper half of a circle outline
* ``("poly", ((x, y), ...), colour)``

The colour "sky" means the sky's colour at that height (a hole through a building).
"""

from __future__ import annotations

from dataclasses import dataclass

# Times of day, each a (top, horizon) sky gradient.
SKIES = {
    "day": ((62, 120, 200), (170, 205, 235)),
    "dusk": ((52, 44, 110), (246, 150, 80)),
    "night": ((8, 10, 30), (38, 40, 82)),
    "overcast": ((128, 134, 142), (196, 198, 200)),
    "haze": ((160, 158, 150), (228, 208, 168)),
}
TIMES = tuple(SKIES)

BLACK = (28, 28, 32)
CONCRETE = (178, 172, 160)
WHITE = (238, 238, 232)
GLASS = (120, 150, 175)
STONE = (196, 180, 146)


@dataclass(frozen=True)
class Landmark:
    anchor_x: float  # fraction of the width, before the scene's viewpoint shift
    parts: tuple
    layer: str = "mid"  # back (behind buildings), mid (among them), front (in front)


@dataclass(frozen=True)
class CityLook:
    horizon: float  # fraction of the height, from the top
    water: tuple | None
    ground: tuple
    palette: tuple
    envelope: tuple  # ((x, height), ...), height in units of the image height
    buildings: tuple[int, int]
    building_width: tuple[float, float]  # fraction of the width
    times: dict  # time of day -> weight
    landmarks: tuple[Landmark, ...] = ()


def _palms(*xs: float) -> tuple[Landmark, ...]:
    """Palm trees in the foreground, one landmark per tree at width fraction x."""
    tree = (("line", 0.0, 0.0, 0.015, 0.32, 2, (40, 34, 30)), ("ell", 0.015, 0.32, 0.045, 0.018, (34, 60, 36)))
    return tuple(Landmark(x, tree, "front") for x in xs)


LOOKS = {
    "new_york": CityLook(
        0.74, (58, 72, 84), (60, 60, 60), ((150, 140, 128), (110, 108, 104), (170, 160, 140), (90, 96, 110)),
        ((0, .30), (.15, .42), (.3, .34), (.5, .2), (.68, .3), (.82, .44), (1, .32)), (30, 42), (.025, .06),
        {"day": 4, "dusk": 3, "night": 3},
        (Landmark(.3, (("trap", 0, .42, .07, .07, (160, 150, 130)), ("trap", .42, .5, .05, .05, (160, 150, 130)),
                       ("trap", .5, .57, .03, .025, (170, 160, 140)), ("line", 0, .57, 0, .68, 1, (200, 200, 200)))),
         Landmark(.8, (("trap", 0, .58, .085, .03, (130, 170, 200)), ("line", 0, .58, 0, .74, 1, (225, 225, 225)))))),
    "chicago": CityLook(
        0.70, (70, 120, 130), (70, 70, 70), (BLACK, (70, 70, 76), (120, 120, 118), (150, 135, 110)),
        ((0, .12), (.25, .3), (.45, .42), (.6, .45), (.8, .3), (1, .15)), (24, 32), (.03, .07),
        {"day": 6, "dusk": 3, "night": 2},
        (Landmark(.45, (("trap", 0, .48, .1, .1, BLACK), ("trap", .48, .58, .065, .065, BLACK),
                        ("trap", .58, .64, .035, .035, BLACK), ("line", -.01, .64, -.01, .76, 1, BLACK),
                        ("line", .01, .64, .01, .76, 1, BLACK))),
         Landmark(.72, (("trap", 0, .52, .09, .045, BLACK), ("line", -.04, .05, .035, .26, 1, (90, 90, 90)),
                        ("line", .04, .05, -.035, .26, 1, (90, 90, 90)), ("line", -.007, .52, -.007, .63, 1, BLACK),
                        ("line", .007, .52, .007, .63, 1, BLACK))))),
    "toronto": CityLook(
        0.72, (60, 110, 150), (70, 70, 70), ((200, 170, 70), (90, 130, 140), (150, 160, 165), (60, 70, 80)),
        ((0, .1), (.3, .25), (.55, .3), (.75, .2), (1, .08)), (16, 24), (.03, .06),
        {"day": 6, "dusk": 3, "night": 2},
        (Landmark(.35, (("trap", 0, .66, .04, .01, CONCRETE), ("ell", 0, .52, .032, .02, CONCRETE),
                        ("ell", 0, .62, .013, .009, CONCRETE), ("line", 0, .66, 0, .86, 1, CONCRETE))),
         Landmark(.22, (("dome", 0, .1, .06, WHITE),)))),
    "london": CityLook(
        0.76, (84, 90, 80), (80, 76, 70), ((150, 130, 105), (176, 160, 130), (120, 110, 100), (140, 140, 140)),
        ((0, .12), (.5, .16), (1, .12)), (28, 36), (.025, .055),
        {"overcast": 6, "day": 3, "dusk": 2, "night": 1},
        (Landmark(.62, (("trap", 0, .58, .08, 0, (150, 170, 185)),)),
         Landmark(.78, (("ell", 0, .17, .035, .17, (60, 90, 90)),)),
         Landmark(.22, (("ring", 0, .22, .19, 2, WHITE), ("line", -.19, .22, .19, .22, 1, WHITE),
                        ("line", 0, .03, 0, .41, 1, WHITE), ("line", -.1, 0, 0, .22, 2, WHITE),
                        ("line", .1, 0, 0, .22, 2, WHITE)), "front"))),
    "sydney": CityLook(
        0.66, (30, 80, 150), (70, 70, 70), ((200, 196, 188), (110, 130, 150), (160, 150, 130)),
        ((0, .1), (.35, .22), (.55, .28), (.7, .18), (1, .05)), (12, 18), (.03, .06),
        {"day": 8, "dusk": 2, "night": 1},
        (Landmark(.22, (("trap", 0, .02, .34, .34, (225, 215, 190)),
                        ("poly", ((-.15, .02), (-.08, .16), (-.04, .02)), WHITE),
                        ("poly", ((-.07, .02), (.01, .2), (.04, .02)), WHITE),
                        ("poly", ((.01, .02), (.09, .15), (.12, .02)), WHITE)), "front"),
         Landmark(.72, (("arch", 0, .26, 3, (80, 84, 90)), ("line", -.32, .07, .32, .07, 2, (80, 84, 90)),
                        ("trap", 0, .12, .035, .035, STONE, -.27), ("trap", 0, .12, .035, .035, STONE, .27)), "front"),
         Landmark(.52, (("line", 0, 0, 0, .5, 2, (150, 150, 150)), ("ell", 0, .47, .022, .028, (210, 170, 60)),
                        ("line", 0, .5, 0, .6, 1, (150, 150, 150)))))),
    "tokyo": CityLook(
        0.78, None, (90, 90, 95), ((220, 220, 214), (180, 184, 190), (200, 190, 200), (150, 160, 170)),
        ((0, .2), (.5, .24), (1, .2)), (40, 52), (.02, .045),
        {"night": 5, "day": 3, "dusk": 2},
        (Landmark(.5, (("poly", ((-.6, 0), (-.06, .34), (.06, .34), (.6, 0)), (92, 110, 150)),
                       ("poly", ((-.1, .3), (-.06, .34), (.06, .34), (.1, .3)), (240, 240, 248))), "back"),
         Landmark(.3, (("trap", 0, .5, .11, .005, (230, 60, 30)), ("trap", .13, .155, .055, .05, WHITE),
                       ("trap", .32, .34, .03, .028, WHITE))),
         Landmark(.75, (("trap", 0, .9, .045, .008, (210, 225, 235)), ("ell", 0, .55, .022, .012, (210, 225, 235)),
                        ("ell", 0, .68, .015, .009, (210, 225, 235)))))),
    "shanghai": CityLook(
        0.72, (110, 100, 80), (70, 70, 70), ((140, 170, 195), (190, 196, 204), (100, 120, 140)),
        ((0, .15), (.3, .3), (.55, .4), (.8, .3), (1, .18)), (20, 28), (.025, .055),
        {"haze": 5, "night": 4, "day": 2},
        (Landmark(.25, (("line", -.025, 0, 0, .5, 2, (190, 150, 170)), ("line", .025, 0, 0, .5, 2, (190, 150, 170)),
                        ("line", 0, 0, 0, .72, 2, (190, 150, 170)), ("ell", 0, .13, .05, .05, (220, 60, 140)),
                        ("ell", 0, .44, .035, .035, (220, 60, 140)), ("ell", 0, .62, .013, .013, (220, 60, 140)))),
         Landmark(.55, (("poly", ((-.05, 0), (-.04, .45), (-.016, .88), (.012, .9), (.034, .48), (.05, 0)),
                         (120, 160, 190)),)),
         Landmark(.68, (("trap", 0, .78, .085, .035, (170, 185, 200)), ("trap", .68, .73, .022, .02, "sky"))),
         Landmark(.82, (("trap", 0, .36, .065, .05, (120, 130, 120)), ("trap", .36, .46, .045, .032, (120, 130, 120)),
                        ("trap", .46, .54, .03, .018, (120, 130, 120)), ("trap", .54, .6, .016, 0, (120, 130, 120)))))),
    "los_angeles": CityLook(
        0.8, None, (150, 130, 100), ((190, 180, 160), (130, 140, 150), (160, 150, 140)),
        ((0, .03), (.35, .06), (.45, .3), (.55, .34), (.62, .2), (.75, .05), (1, .03)), (10, 16), (.03, .06),
        {"haze": 5, "dusk": 4, "day": 2},
        (Landmark(.5, (("poly", ((-.7, 0), (-.45, .2), (-.25, .14), (-.05, .24), (.15, .16), (.38, .26),
                                 (.58, .15), (.75, 0)), (150, 120, 105)),), "back"),
         Landmark(.52, (("trap", 0, .44, .065, .065, (150, 160, 170)),
                        ("trap", .44, .47, .075, .075, (200, 200, 200)))),
         *_palms(.08, .16, .86, .93))),
    "houston": CityLook(
        0.82, None, (70, 100, 60), ((40, 50, 70), (60, 70, 90), (110, 110, 100), (150, 130, 90)),
        ((0, .02), (.38, .04), (.45, .34), (.55, .4), (.62, .3), (.7, .04), (1, .02)), (12, 18), (.03, .055),
        {"day": 4, "haze": 4, "dusk": 2},
        (Landmark(.44, (("poly", ((-.06, 0), (-.06, .32), (-.01, .37), (-.01, 0)), (45, 45, 50)),
                        ("poly", ((.01, 0), (.01, .37), (.06, .32), (.06, 0)), (45, 45, 50)))),
         Landmark(.56, (("trap", 0, .5, .075, .075, (50, 60, 80)), ("trap", .5, .53, .055, .055, (50, 60, 80)))),
         Landmark(.5, (("trap", 0, .035, 2.2, 2.2, (60, 95, 55)),), "front"))),
    "philadelphia": CityLook(
        0.74, (70, 90, 80), (80, 70, 60), ((150, 90, 70), (170, 120, 90), (120, 120, 125), (180, 170, 150)),
        ((0, .1), (.3, .25), (.5, .3), (.75, .22), (1, .1)), (18, 26), (.03, .06),
        {"day": 5, "overcast": 3, "dusk": 2, "night": 1},
        (Landmark(.3, (("trap", 0, .13, .15, .15, STONE), ("trap", .13, .34, .04, .034, STONE),
                       ("ell", 0, .28, .013, .013, WHITE), ("trap", .34, .4, .034, 0, STONE),
                       ("line", 0, .4, 0, .45, 2, (110, 90, 50)))),
         Landmark(.58, (("trap", 0, .62, .075, .055, (150, 175, 190)), ("trap", .62, .69, .055, .01, (150, 175, 190)))),
         Landmark(.72, (("trap", 0, .48, .06, .06, (100, 120, 150)), ("trap", .48, .6, .055, 0, (100, 120, 150)))))),
}


def look_for(city: str) -> CityLook:
    """The look of `city`; a city without its own look (another recipe) gets one of the ten."""
    if city in LOOKS:
        return LOOKS[city]
    names = sorted(LOOKS)
    return LOOKS[names[sum(map(ord, city)) % len(names)]]
