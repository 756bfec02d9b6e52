"""Report plots with matplotlib (Agg backend) returned as PNG bytes."""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

KM_PER_DEGREE = 111.32  # mean km per degree of latitude
REPORT_DPI = 80  # small plots: the report embeds one pair per label

# Fonts for the scripts that matplotlib's bundled DejaVu Sans lacks, CJK above all (a scrape's Korean,
# Japanese or Chinese tags become labels, and a label is a plot's title and the confusion matrix's ticks):
# those installed (at most MAX_FALLBACK_FONTS, in this order) follow the default family, so that matplotlib
# takes each glyph from the first font that has it. None installed: the boxes as before (the report's text
# names the labels). Debian: `apt-get install fonts-noto-cjk` (or the smaller fonts-droid-fallback, no Hangul).
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK KR", "Noto Sans CJK TC", "Source Han Sans",
                  "Source Han Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
                  "Microsoft YaHei", "Malgun Gothic", "Yu Gothic", "Hiragino Sans", "PingFang SC",
                  "Apple SD Gothic Neo", "Arial Unicode MS", "Noto Sans Thai", "Noto Sans Devanagari")
MAX_FALLBACK_FONTS = 3


def fallback_families(family: list[str], installed: set[str]) -> list[str]:
    """The font family list to draw with: `family` (matplotlib's `font.family`) followed by the installed
    fallback fonts, when `family` is matplotlib's default; a family the user set is left as it is.

    >>> fallback_families(["sans-serif"], {"DejaVu Sans", "Droid Sans Fallback", "Noto Sans CJK JP"})
    ['sans-serif', 'Noto Sans CJK JP', 'Droid Sans Fallback']
    >>> fallback_families(["serif"], {"Noto Sans CJK JP"}), fallback_families(["sans-serif"], {"DejaVu Sans"})
    (['serif'], ['sans-serif'])
    """
    if list(family) != ["sans-serif"]:
        return list(family)
    return ["sans-serif", *[name for name in FALLBACK_FONTS if name in installed][:MAX_FALLBACK_FONTS]]


def _use_fallback_fonts() -> None:
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    if not installed & set(FALLBACK_FONTS):  # matplotlib's font cache may predate them (audit CG: CJK titles as boxes)
        installed |= add_system_fallback_fonts()
    matplotlib.rcParams["font.family"] = fallback_families(matplotlib.rcParams["font.family"], installed)


def add_system_fallback_fonts() -> set[str]:
    """Register with matplotlib the FALLBACK_FONTS installed on the system but missing from its font cache (a
    cache built before the fonts were installed, as on a machine where a browser brought Droid Sans Fallback);
    returns their names. One fontconfig listing (about 0.25 s), only when the cache holds none of them, and only
    where a plot is drawn (the CLI imports this module when it writes a report: review CT)."""
    from matplotlib import font_manager

    added = set()
    try:
        paths = font_manager.findSystemFonts()
    except (OSError, RuntimeError, ValueError):  # no fontconfig, an unreadable font folder: the boxes as before
        return added
    for path in paths:
        try:
            name = font_manager.get_font(path).family_name
            if name in FALLBACK_FONTS:
                font_manager.fontManager.addfont(path)
                added.add(name)
        except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot open
            continue
    return added


_use_fallback_fonts()


def plain(text: object) -> str:
    """`text` as matplotlib should show it, literally: a `$` would start TeX math (mathtext),
    and a label such as `$5 $x^$` would make matplotlib raise while drawing."""
    return str(text).replace("$", r"\$")


@contextmanager
def missing_glyphs_quiet():
    """matplotlib's `Glyph 21271 (\\N{...}) missing from font(s) DejaVu Sans` warnings left out while drawing:
    a label in a script that no installed font has (FALLBACK_FONTS) is drawn as boxes in a plot's title, and
    the report's text names it; the warning lines only reached the terminal, once per glyph and plot."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield


def figure_png(figure, dpi: float | None = None) -> bytes:
    """A matplotlib figure rendered as PNG bytes and closed: the one PNG helper of the project.

    `dpi` defaults to matplotlib's `savefig.dpi` (the figure's own). Closing forgets a pyplot
    figure; a bare `Figure` on an Agg canvas is not tracked by pyplot and is left as it is.
    """
    buffer = io.BytesIO()
    with missing_glyphs_quiet():
        figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def clamped(low: float, high: float, limit: float) -> tuple[float, float]:
    """An axis range kept within [-limit, limit] (latitude ±90°, longitude ±180°).

    >>> clamped(-400.0, 420.0, 90.0)
    (-90.0, 90.0)
    """
    return max(low, -limit), min(high, limit)


# Margins in points that do not depend on the label: the x tick labels and x label below, the
# title above, half of the last x tick label on the right. The left one (y tick labels) is measured.
MARGIN_PT = {"right": 20.0, "bottom": 44.0, "top": 27.0, "pad": 4.0}


def _fit_layout(figure, axes, title_pt: float) -> None:
    """Margins for this label's drawing, in place of `tight_layout` (which measures every tick of
    both axes, the log axis's minor ones included, and took most of a plot's time): the width of
    the y axis's tick labels and label is measured, the rest is fixed (MARGIN_PT). A title wider
    than the figure is set smaller than `title_pt` rather than cut."""
    renderer = figure.canvas.get_renderer()
    width_px, height_px = figure.bbox.width, figure.bbox.height
    px_per_pt = figure.dpi / 72
    # bottom and top first: the axes' height decides the y ticks, and so the width measured next
    figure.subplots_adjust(right=1 - MARGIN_PT["right"] * px_per_pt / width_px,
                           bottom=MARGIN_PT["bottom"] * px_per_pt / height_px,
                           top=1 - MARGIN_PT["top"] * px_per_pt / height_px)
    left_px = axes.bbox.x0 - axes.yaxis.get_tightbbox(renderer).x0 + MARGIN_PT["pad"] * px_per_pt
    figure.subplots_adjust(left=left_px / width_px)
    # The title is centred on the axes: it may take twice the distance to the nearer figure edge.
    middle_px = (axes.bbox.x0 + axes.bbox.x1) / 2
    room_px = 2 * (min(middle_px, width_px - middle_px) - MARGIN_PT["pad"] * px_per_pt)
    axes.title.set_fontsize(title_pt)
    title_px = axes.title.get_window_extent(renderer).width
    if title_px > room_px:
        axes.title.set_fontsize(max(title_pt * room_px / title_px, 6.0))


class _ReusedFigure:
    """A bare Figure on an Agg canvas (pyplot does not track it) with one Axes, made once per
    thread and drawn again for each label: making a figure with its axes and ticks cost more than
    drawing it. A subclass's `png` sets everything that differs between labels, then `render`s."""

    def __init__(self, width_in: float, height_in: float) -> None:
        self.figure = Figure(figsize=(width_in, height_in), dpi=REPORT_DPI)
        FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.axes.set_title("", y=1.0)  # a fixed title position: no search for ticks above the axes at each draw
        self.title_pt = self.axes.title.get_fontsize()

    def render(self, title: str) -> bytes:
        self.axes.title.set_text(title)
        with missing_glyphs_quiet():
            _fit_layout(self.figure, self.axes, self.title_pt)
        return figure_png(self.figure, dpi=REPORT_DPI)


class _GeoScatter(_ReusedFigure):
    """geo_scatter_png's figure and artists."""

    def __init__(self) -> None:
        super().__init__(4.2, 3.6)
        ax, nowhere = self.axes, np.empty(0)
        self.dropped = ax.scatter(nowhere, nowhere, s=5, c="0.7")
        self.kept = ax.scatter(nowhere, nowhere, s=6, c="tab:blue")
        self.outliers = ax.scatter(nowhere, nowhere, s=14, c="tab:red", marker="x")
        (self.centre,) = ax.plot([], [], marker="+", ms=14, c="black", label="centre")
        (self.circle,) = ax.plot([], [], c="black", lw=1, ls="--")
        ax.xaxis.set_major_locator(MaxNLocator(4))  # long longitudes ("-118.35") must not run into each other
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")

    def png(self, label, kept, dropped, outliers, centre, max_km) -> bytes:
        """`kept`, `dropped`, `outliers`: (lat, lon) arrays; `centre`: (lat, lon) or None."""
        ax = self.axes
        shown = []
        for points, artist, name in ((dropped, self.dropped, "dropped, other reason"), (kept, self.kept, "kept"),
                                     (outliers, self.outliers, "geo outliers")):
            artist.set_offsets(np.column_stack([points[1], points[0]]))
            artist.set_label(f"{name} ({len(points[0])})")
            shown.append(artist)
        self.centre.set_visible(centre is not None)
        self.circle.set_visible(centre is not None and bool(max_km))
        if centre is not None:
            self.centre.set_data([centre[1]], [centre[0]])
            shown.append(self.centre)
        if self.circle.get_visible():
            theta = np.linspace(0, 2 * np.pi, 120)
            dlat = max_km / KM_PER_DEGREE
            dlon = dlat / max(np.cos(np.radians(centre[0])), 1e-6)
            self.circle.set_data(centre[1] + dlon * np.cos(theta), centre[0] + dlat * np.sin(theta))
            self.circle.set_label(f"{max_km:g} km (approx.)")
            shown.append(self.circle)
            # Zoom on the circle; far outliers are counted in the legend, not drawn.
            ax.set_xlim(*clamped(centre[1] - 3 * dlon, centre[1] + 3 * dlon, 180.0))
            ax.set_ylim(*clamped(centre[0] - 3 * dlat, centre[0] + 3 * dlat, 90.0))
        else:
            centre_lat, centre_lon = centre if centre is not None else ((), ())
            ax.set_xlim(*padded(np.concatenate([kept[1], dropped[1], outliers[1], np.atleast_1d(centre_lon)]), 180.0))
            ax.set_ylim(*padded(np.concatenate([kept[0], dropped[0], outliers[0], np.atleast_1d(centre_lat)]), 90.0))
        ax.legend(handles=shown, fontsize=7, loc="upper right")
        return self.render(plain(label))


class _DistanceHistogram(_ReusedFigure):
    """distance_histogram_png's figure and artists."""

    def __init__(self) -> None:
        super().__init__(4.2, 3.0)
        ax = self.axes
        ax.set_xscale("log")
        # Counted with np.histogram and drawn as one filled outline: 39 bar patches cost more to draw.
        self.bars = ax.stairs([0.0], [1.0, 2.0], fill=True, color="tab:blue")
        self.cut = ax.axvline(1.0, c="tab:red", ls="--")
        self.legend = ax.legend([self.cut], [""], fontsize=7)
        ax.set_xlabel("km (log scale)")
        ax.set_ylabel("photos")

    def png(self, label, distance_km, max_km) -> bytes:
        distance = np.asarray(distance_km, dtype=float)
        distance = distance[np.isfinite(distance)]
        scale = max_km or 1
        low = max(min(distance.min(initial=np.inf), scale / 10), 1e-3)
        high = max(distance.max(initial=-np.inf), scale * 2, low * 10)
        bins = np.geomspace(low, high, 40)
        counts, _ = np.histogram(np.clip(distance, low, None), bins=bins)
        self.bars.set_data(counts, bins)
        self.bars.set_visible(len(distance) > 0)
        self.cut.set_xdata([scale, scale])
        self.cut.set_visible(bool(max_km))
        self.legend.set_visible(bool(max_km))
        self.legend.texts[0].set_text(f"max {scale:g} km")
        # as ax.hist autoscaled: a 5 % margin (in log space) on x, none below 0 on y
        margin = (high / low) ** 0.05
        self.axes.set_xlim(low / margin, high * margin)
        self.axes.set_ylim(0, max(counts.max(), 1) * 1.05)
        return self.render(f"{plain(label)}: distance from centre")


_figures = threading.local()  # one of each kind per thread: a figure must not be drawn from two at once


def _reused(kind: type[_ReusedFigure]):
    figure = getattr(_figures, kind.__name__, None)
    if figure is None:
        figure = kind()
        setattr(_figures, kind.__name__, figure)
    return figure


def padded(values, limit: float) -> tuple[float, float]:
    """An axis range around `values` with a 5 % margin (half a degree around a single value),
    within [-limit, limit]; the whole range where there are no values.

    >>> padded(np.array([10.0, 20.0]), 90.0)
    (9.5, 20.5)
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return -limit, limit
    low, high = float(values.min()), float(values.max())
    margin = 0.05 * (high - low) or 0.5
    return clamped(low - margin, high + margin, limit)


def geo_scatter_png(label: str, kept_lat, kept_lon, dropped_lat, dropped_lon,
                    centre_lat: float | None, centre_lon: float | None, max_km: float | None,
                    outlier_lat=(), outlier_lon=()) -> bytes:
    """Positions of one label's photos (kept, geo outliers, dropped for other reasons),
    its centre and the max-km circle, as PNG bytes.

    The circle is drawn in degrees (latitude radius max_km/111.32, longitude radius
    widened by 1/cos(latitude)): an approximation, fine at city scale. The figure is reused
    from one label to the next (in each thread), which is why this is cheap to call per label.
    """
    def pair(lat, lon):
        return np.asarray(lat, dtype=float).ravel(), np.asarray(lon, dtype=float).ravel()

    centre = None if centre_lat is None or centre_lon is None else (float(centre_lat), float(centre_lon))
    return _reused(_GeoScatter).png(label, pair(kept_lat, kept_lon), pair(dropped_lat, dropped_lon),
                                    pair(outlier_lat, outlier_lon), centre, max_km)


def distance_histogram_png(label: str, distance_km, max_km: float | None) -> bytes:
    """Histogram of geo_distance_km (log-spaced bins) with the threshold as a vertical line, as
    PNG bytes. The figure is reused from one label to the next (in each thread)."""
    return _reused(_DistanceHistogram).png(label, distance_km, max_km)
