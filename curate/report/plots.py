"""Report plots with matplotlib (Agg backend) returned as PNG bytes."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

KM_PER_DEGREE = 111.32  # mean km per degree of latitude
REPORT_DPI = 80  # small plots: the report embeds one pair per label


def plain(text: object) -> str:
    """`text` as matplotlib should show it, literally: a `$` would start TeX math (mathtext),
    and a label such as `$5 $x^$` would make matplotlib raise while drawing."""
    return str(text).replace("$", r"\$")


def figure_png(figure, dpi: float | None = None) -> bytes:
    """A matplotlib figure rendered as PNG bytes and closed: the one PNG helper of the project.

    `dpi` defaults to matplotlib's `savefig.dpi` (the figure's own). Closing forgets a pyplot
    figure; a bare `Figure` on an Agg canvas is not tracked by pyplot and is left as it is.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def clamped(low: float, high: float, limit: float) -> tuple[float, float]:
    """An axis range kept within [-limit, limit] (latitude ±90°, longitude ±180°).

    >>> clamped(-400.0, 420.0, 90.0)
    (-90.0, 90.0)
    """
    return max(low, -limit), min(high, limit)


def geo_scatter_png(label: str, kept_lat, kept_lon, dropped_lat, dropped_lon,
                    centre_lat: float | None, centre_lon: float | None, max_km: float | None,
                    outlier_lat=(), outlier_lon=()) -> bytes:
    """Positions of one label's photos (kept, geo outliers, dropped for other reasons),
    its centre and the max-km circle.

    The circle is drawn in degrees (latitude radius max_km/111.32, longitude radius
    widened by 1/cos(latitude)): an approximation, fine at city scale.
    """
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.scatter(dropped_lon, dropped_lat, s=5, c="0.7", label=f"dropped, other reason ({len(dropped_lat)})")
    ax.scatter(kept_lon, kept_lat, s=6, c="tab:blue", label=f"kept ({len(kept_lat)})")
    ax.scatter(outlier_lon, outlier_lat, s=14, c="tab:red", marker="x", label=f"geo outliers ({len(outlier_lat)})")
    if centre_lat is not None and centre_lon is not None:
        ax.plot([centre_lon], [centre_lat], marker="+", ms=14, c="black", label="centre")
        if max_km:
            theta = np.linspace(0, 2 * np.pi, 120)
            dlat = max_km / KM_PER_DEGREE
            dlon = dlat / max(np.cos(np.radians(centre_lat)), 1e-6)
            ax.plot(centre_lon + dlon * np.cos(theta), centre_lat + dlat * np.sin(theta), c="black",
                    lw=1, ls="--", label=f"{max_km:g} km (approx.)")
            # Zoom on the circle; far outliers are counted in the legend, not drawn.
            ax.set_xlim(*clamped(centre_lon - 3 * dlon, centre_lon + 3 * dlon, 180.0))
            ax.set_ylim(*clamped(centre_lat - 3 * dlat, centre_lat + 3 * dlat, 90.0))
    ax.xaxis.set_major_locator(MaxNLocator(4))  # long longitudes ("-118.35") must not run into each other
    ax.set_title(plain(label))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return figure_png(fig, dpi=REPORT_DPI)


def distance_histogram_png(label: str, distance_km, max_km: float | None) -> bytes:
    """Histogram of geo_distance_km (log-spaced bins) with the threshold as a vertical line."""
    distance = np.asarray(distance_km, dtype=float)
    distance = distance[np.isfinite(distance)]
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    if len(distance):
        low = max(min(distance.min(), (max_km or 1) / 10), 1e-3)
        high = max(distance.max(), (max_km or 1) * 2, low * 10)
        ax.hist(np.clip(distance, low, None), bins=np.geomspace(low, high, 40), color="tab:blue")
        ax.set_xscale("log")
    if max_km:
        ax.axvline(max_km, c="tab:red", ls="--", label=f"max {max_km:g} km")
        ax.legend(fontsize=7)
    ax.set_title(f"{plain(label)}: distance from centre")
    ax.set_xlabel("km (log scale)")
    ax.set_ylabel("photos")
    fig.tight_layout()
    return figure_png(fig, dpi=REPORT_DPI)
