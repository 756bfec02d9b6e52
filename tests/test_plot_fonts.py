"""Labels in scripts that matplotlib's bundled font lacks (CJK: a scrape's Chinese, Japanese or Korean tags)
are drawn with an installed font that has them, not as boxes (curate.report.plots.FALLBACK_FONTS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.debian import apt_install

ROOT = Path(__file__).resolve().parents[1]
DROID = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"  # Debian's fonts-droid-fallback (1.8 MB)

DRAW = """
import sys
import matplotlib
from curate.report.plots import distance_histogram_png
from classify.evaluate_figures import plot_confusion
import numpy as np
first = distance_histogram_png("北京", np.array([1.0, 2.0, 30.0]), 25.0)
second = distance_histogram_png("東京", np.array([1.0, 2.0, 30.0]), 25.0)
matrix = [plot_confusion(np.eye(2, dtype=int), names) for names in (["北京", "東京"], ["東京", "北京"])]
print(matplotlib.rcParams["font.family"])
print(first != second, matrix[0] != matrix[1])
"""


def test_cjk_labels_are_drawn_with_an_installed_cjk_font(tmp_path):
    """Two labels of two different ideographs each give two different plot titles and confusion-matrix
    ticks: drawn as boxes (no font has them), the two would be the same picture."""
    missing = apt_install(["fonts-droid-fallback"], [DROID], "/tmp/curate-tests-fonts-install.lock")
    if missing:
        pytest.skip(missing)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}  # a fresh font cache, which sees the installed font
    done = subprocess.run([sys.executable, "-c", DRAW], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    family, differ = done.stdout.strip().splitlines()[-2:]
    assert "Droid Sans Fallback" in family and family.startswith("['sans-serif'")
    assert differ == "True True"


def test_a_font_family_the_user_chose_is_kept(tmp_path):
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    code = ("import matplotlib; matplotlib.rcParams['font.family'] = ['serif']\n"
            "import curate.report.plots; print(matplotlib.rcParams['font.family'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['serif']"


def test_a_font_cache_older_than_the_cjk_font_still_finds_it(tmp_path):
    """Audit CG: CJK plot titles were boxes on a machine whose matplotlib font cache predated the installed Droid Sans
    Fallback (a browser's package brought it); the fallback is now looked up on the system when the cache has none."""
    import json

    missing = apt_install(["fonts-droid-fallback"], [DROID], "/tmp/curate-tests-fonts-install.lock")
    if missing:
        pytest.skip(missing)
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    built = subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [cache] = tmp_path.glob("fontlist-*.json")
    fonts = json.loads(cache.read_text())
    fonts["ttflist"] = [font for font in fonts["ttflist"] if "Droid" not in font["name"]]  # as if built before it
    cache.write_text(json.dumps(fonts))
    done = subprocess.run([sys.executable, "-c", DRAW], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    family, differ = done.stdout.strip().splitlines()[-2:]
    assert "Droid Sans Fallback" in family and differ == "True True"
