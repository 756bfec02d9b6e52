"""Image-quality checks: each check on generated and on real degraded photos, the greyscale
rule judged against the collection, and --drop-quality / drop_quality in the filter."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.filters import quality
from curate.filters.stage import FilterConfig, filter_catalog
from curate.store import decode_image
from curate.vision.features import WORK_SIDE
from tests.helpers import REALDATA

runner = CliRunner()


# ---------------------------------------------------------------- degradations (as bench/quality.py makes them)

def _table(image: Image.Image, table: list[int]) -> Image.Image:
    return image.point(table * len(image.getbands()))


def exposure(image: Image.Image, stops: float) -> Image.Image:
    return _table(image, [min(255, round(255 * min(1.0, (v / 255) ** 2.2 * 2.0 ** stops) ** (1 / 2.2)))
                          for v in range(256)])


def flatten(image: Image.Image) -> Image.Image:
    array = np.asarray(image, dtype=np.float32)
    mean = array.mean(axis=(0, 1), keepdims=True)
    return Image.fromarray(np.clip(mean + (array - mean) * 0.04, 0, 255).astype(np.uint8))


def crop_3_to_1(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.crop((0, (height - width // 3) // 2, width, (height - width // 3) // 2 + width // 3))


def degraded(image: Image.Image) -> dict[str, Image.Image]:
    """One copy per check, each made to fail exactly that check."""
    side = min(image.size)
    return {"blurry": image.filter(ImageFilter.GaussianBlur(2.5 * side / WORK_SIDE)),
            "dark": exposure(image, -3), "bright": exposure(image, 3), "low_information": flatten(image),
            "odd_aspect": crop_3_to_1(image),
            "greyscale": ImageOps.grayscale(image).convert("RGB"),
            "tiny": image.resize((round(image.width * 64 / side), round(image.height * 64 / side)), Image.LANCZOS)}


def measured(images: list[Image.Image]) -> pd.DataFrame:
    """Statistics as ingest measures each image stored as a JPEG."""
    rows = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        info, decoded = decode_image(buffer.getvalue(), work_side=WORK_SIDE, min_side_px=1)
        rows.append({"width": info.width, "height": info.height, **quality.image_statistics(decoded)})
    return pd.DataFrame(rows)


def generated_photo(seed: int, size=(400, 300)) -> Image.Image:
    """A busy colour scene: gradient sky, sharp coloured shapes, sensor-like noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    y = np.linspace(0, 1, height)[:, None, None]
    base = (60 + 120 * y) * np.array([0.7, 0.9, 1.1]) + np.zeros((height, width, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = rng.integers(0, width - 20), rng.integers(0, height - 20)
        box = (x0, y0, x0 + rng.integers(8, 120), y0 + rng.integers(8, 90))
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def issues_of(frame: pd.DataFrame) -> list[list[str]]:
    scores, _ = quality.score_quality(frame)
    return [list(issues) for issues in scores["quality_issues"]]


# ---------------------------------------------------------------- generated images

def test_each_check_fires_on_its_own_degradation_of_a_generated_photo():
    originals = [generated_photo(seed) for seed in range(4)]
    copies = [(name, copy) for image in originals for name, copy in degraded(image).items()]
    frame = measured(originals + [copy for _, copy in copies])
    issues = issues_of(frame)
    assert all(found == [] for found in issues[:len(originals)]), issues[:len(originals)]
    for (name, _), found in zip(copies, issues[len(originals):]):
        assert name in found, (name, found)


def test_scores_are_in_unit_range_and_half_at_the_threshold():
    frame = measured([generated_photo(7), *degraded(generated_photo(7)).values()])
    scores, _ = quality.score_quality(frame)
    values = scores[list(quality.SCORE_COLUMNS)].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    for check in quality.CHECKS:
        score = scores[f"{check.name}_score"]
        fails = scores["quality_issues"].map(lambda found, name=check.name: name in found)
        assert (score[fails] >= 0.5).all() and (score[~fails] < 0.5).all(), check.name


def test_greyscale_photo_is_an_issue_only_in_a_colour_collection():
    colour = [generated_photo(seed) for seed in range(5)]
    grey = [ImageOps.grayscale(image).convert("RGB") for image in colour]
    mostly_colour = issues_of(measured(colour + grey[:1]))
    assert "greyscale" in mostly_colour[-1] and not any("greyscale" in found for found in mostly_colour[:-1])
    mostly_grey = measured(grey + colour[:1])
    scores, summary = quality.score_quality(mostly_grey)
    assert summary["colour_collection"] is False
    assert not any("greyscale" in found for found in scores["quality_issues"])
    assert (scores["greyscale_score"] == 0).all()


def product_shot(seed: int) -> Image.Image:
    """A generated photo as the subject in the middle of a clean white backdrop (69% of the frame)."""
    backdrop = Image.new("RGB", (400, 300), (255, 255, 255))
    backdrop.paste(generated_photo(seed, size=(220, 170)), (90, 65))
    return backdrop


def test_white_backdrop_is_not_over_exposure_but_a_clipped_subject_is():
    shots = [product_shot(seed) for seed in range(3)]
    frame = measured(shots + [exposure(shot, 3) for shot in shots])
    assert (frame["white_clipped_share"][:3] > 0.6).all()  # the whole-image clipped share alone would flag them
    issues = issues_of(frame)
    assert not any("bright" in found for found in issues[:3]), issues[:3]
    assert all("bright" in found for found in issues[3:]), issues[3:]


def white_subject_at_dusk(seed: int) -> Image.Image:
    """A dim generated scene (median ~50) with a white subject filling a fifth of the central half."""
    scene = Image.fromarray((np.asarray(generated_photo(seed), dtype=np.float32) * 0.45).astype(np.uint8))
    ImageDraw.Draw(scene).rectangle((150, 120, 249, 179), fill=(255, 255, 255))
    return scene


def test_a_white_subject_in_a_normally_exposed_scene_is_not_over_exposure_but_its_over_exposed_copy_is():
    # like the white Ferrari on a wet road: the subject clips, the tones around it are ordinary
    shots = [white_subject_at_dusk(seed) for seed in range(3)]
    frame = measured(shots + [exposure(shot, 3) for shot in shots])
    assert (frame["centre_clipped_share"][:3] > 0.17).all()  # the centre's clipped share alone would flag them
    issues = issues_of(frame)
    assert not any("bright" in found for found in issues[:3]), issues[:3]
    assert all("bright" in found for found in issues[3:]), issues[3:]


def test_an_over_exposed_saturated_subject_counts_its_clipped_channels():
    red = Image.new("RGB", (64, 64), (255, 30, 30))
    yellow = Image.new("RGB", (64, 64), (255, 252, 20))
    assert quality.centre_clipped_share(red) == 0.25 and quality.centre_clipped_share(yellow) == 0.5
    half_white = Image.new("RGB", (64, 64), (90, 90, 90))
    half_white.paste((255, 255, 255), (0, 0, 64, 32))  # the top half: a quarter of the central region is white
    assert quality.centre_clipped_share(half_white) == 0.5


def test_colour_collection_share_is_a_setting():
    colour = [generated_photo(seed) for seed in range(3)]
    grey = [ImageOps.grayscale(image).convert("RGB") for image in colour[:2]]
    frame = measured(colour + grey)  # 60% of the photos have colour
    grey_flags = lambda scores: [("greyscale" in found) for found in scores["quality_issues"]]  # noqa: E731
    scores, summary = quality.score_quality(frame, colour_collection_share=0.7)
    assert summary["colour_collection"] is False and not any(grey_flags(scores))
    scores, summary = quality.score_quality(frame, colour_collection_share=0.5)
    assert summary["colour_collection"] is True and grey_flags(scores) == [False] * 3 + [True] * 2
    judged, _ = filter_catalog(_catalog(frame), FilterConfig(max_km="off", colour_collection_share=0.7))
    assert not any("greyscale" in list(found) for found in judged["quality_issues"])


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), "half", True])
def test_bad_colour_collection_share_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="--colour-collection-share must be a share from 0 to under 1"):
        FilterConfig(colour_collection_share=bad)


def test_rows_without_statistics_get_no_scores_and_no_issues():
    frame = pd.DataFrame({"width": [100, None], "height": [100, None], **{s: [None, None] for s in quality.STATISTICS}})
    scores, summary = quality.score_quality(frame)
    assert scores[list(quality.SCORE_COLUMNS)].isna().all().all()
    assert [list(found) for found in scores["quality_issues"]] == [[], []]
    assert summary["colour_collection"] is None


def test_unknown_check_name_is_a_usage_error_naming_the_known_ones():
    with pytest.raises(UsageError, match="unknown quality check 'fuzzy'.*blurry"):
        quality.parse_check_names("dark,fuzzy")
    assert quality.parse_check_names("all") == tuple(check.name for check in quality.CHECKS)
    assert quality.parse_check_names(["tiny", "dark"]) == ("dark", "tiny")


# ---------------------------------------------------------------- real photos

def _real(pattern: str, count: int) -> list[Image.Image]:
    paths = sorted(REALDATA.glob(pattern))
    if not paths:
        pytest.skip(f"real photos not found at {REALDATA / pattern} (../shared/realdata is absent in this checkout)")
    step = max(1, len(paths) // count)
    images = []
    for path in paths[::step][:count]:
        with Image.open(path) as opened:
            images.append(ImageOps.exif_transpose(opened).convert("RGB"))
    return images


@pytest.mark.parametrize("pattern", ["imagenet-sample/*.jpg", "flickr-ferrari/*/*.jpg"])
def test_each_check_on_real_degraded_colour_photos(pattern):
    originals = _real(pattern, 8)
    copies = [(name, copy) for image in originals for name, copy in degraded(image).items()]
    issues = issues_of(measured(originals + [copy for _, copy in copies]))
    flagged_originals = sum(bool(found) for found in issues[:len(originals)])
    assert flagged_originals <= 1, issues[:len(originals)]
    caught = pd.DataFrame({"check": [name for name, _ in copies],
                           "hit": [name in found for (name, _), found in zip(copies, issues[len(originals):])]})
    recall = caught.groupby("check")["hit"].mean()
    assert (recall >= 0.75).all(), recall.to_dict()


def test_real_product_shots_on_white_are_not_over_exposed_but_their_over_exposed_copies_are():
    names = ["n03935335_piggy_bank.jpg", "n04584207_wig.jpg", "n03014705_chest.jpg"]  # white backdrops
    paths = [REALDATA / "imagenet-sample" / name for name in names]
    if not all(path.is_file() for path in paths):
        pytest.skip(f"real photos not found in {REALDATA / 'imagenet-sample'} (../shared/realdata is absent)")
    shots = []
    for path in paths:
        with Image.open(path) as opened:
            shots.append(ImageOps.exif_transpose(opened).convert("RGB"))
    frame = measured(shots + [exposure(shot, 3) for shot in shots])
    assert (frame["white_clipped_share"][:3] > 0.3).all()
    issues = issues_of(frame)
    assert not any("bright" in found for found in issues[:3]), issues[:3]
    assert all("bright" in found for found in issues[3:]), issues[3:]


def test_greyscale_collection_scenes15_gets_no_greyscale_flags_but_other_checks_work():
    originals = _real("scenes15/*/*/*.jpg", 10)
    copies = [(name, copy) for image in originals for name, copy in degraded(image).items() if name != "greyscale"]
    frame = measured(originals + [copy for _, copy in copies])
    scores, summary = quality.score_quality(frame)
    assert summary["colour_collection"] is False
    assert not any("greyscale" in found for found in scores["quality_issues"])
    hits = [name in found for (name, _), found in zip(copies, scores["quality_issues"][len(originals):])]
    assert np.mean(hits) >= 0.85


# ---------------------------------------------------------------- the filter stage and CLI

def _catalog(stats: pd.DataFrame) -> pd.DataFrame:
    base = {"source": "t", "status": "kept", "tags": [], "tag_labels": [], "owner_id": "o", "label": "city",
            "lat": np.nan, "lon": np.nan, "drop_reason": None, "drop_stage": None}
    rows = [{**base, "photo_id": f"t:{i}", "source_id": str(i), "sha256": f"{i:064x}", **row}
            for i, row in enumerate(stats.to_dict("records"))]
    return schema.to_pandas(schema.conform(pd.DataFrame(rows)))


def test_filter_flags_by_default_and_drops_only_the_named_checks():
    image = generated_photo(3)
    copies = degraded(image)
    frame = _catalog(measured([image, copies["dark"], copies["blurry"], copies["tiny"]]))
    flagged, report = filter_catalog(frame, FilterConfig(max_km="off"))
    assert (flagged["status"] == "kept").all()
    found = [list(issues) for issues in flagged["quality_issues"]]
    # a darkened copy also loses contrast, so its Laplacian may read blurry too (2.7% of real photos do)
    assert found[0] == [] and "dark" in found[1] and found[2] == ["blurry"] and found[3] == ["tiny"], found
    dropped, report = filter_catalog(frame, FilterConfig(max_km="off", drop_quality=("dark", "tiny")))
    assert [r if isinstance(r, str) else None for r in dropped["drop_reason"]] == \
        [None, "quality:dark", None, "quality:tiny"]
    assert set(dropped.loc[dropped["status"] == "dropped", "drop_stage"]) == {"filter"}
    by_check = {row["check"]: row for row in report.quality}
    assert by_check["dark"]["dropped"] == 1 and by_check["tiny"]["dropped"] == 1
    assert by_check["blurry"]["flagged"] == sum("blurry" in issues for issues in found)
    assert by_check["blurry"]["dropped"] == 0
    again, _ = filter_catalog(dropped, FilterConfig(max_km="off"))  # re-running recomputes from scratch
    assert (again["status"] == "kept").all()


def _folder_workspace(tmp_path):
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace

    folder = tmp_path / "photos" / "city"
    folder.mkdir(parents=True)
    good = generated_photo(11)
    good.save(folder / "good.jpg", quality=90)
    degraded(good)["dark"].save(folder / "dark.jpg", quality=90)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    return ws


def test_cli_drop_quality_and_recipe_key(tmp_path):
    from curate.workspace import read_catalog

    ws = _folder_workspace(tmp_path)
    result = runner.invoke(app, ["filter", "-w", str(ws.root), "--max-km", "off", "--drop-quality", "dark"])
    assert result.exit_code == 0, result.output
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["city/dark.jpg", "drop_reason"] == "quality:dark"
    assert catalog.loc["city/good.jpg", "status"] == "kept"
    plain = runner.invoke(app, ["filter", "-w", str(ws.root), "--max-km", "off"])
    assert plain.exit_code == 0, plain.output
    catalog = read_catalog(ws).set_index("source_id")
    assert (catalog["status"] == "kept").all() and "dark" in list(catalog.loc["city/dark.jpg", "quality_issues"])
    assert list(catalog.loc["city/good.jpg", "quality_issues"]) == []
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\n[[labels]]\nname = "city"\n[filter]\nmax_km = "off"\ndrop_quality = ["dark"]\n')
    with_recipe = runner.invoke(app, ["filter", "-w", str(ws.root), "--recipe", str(recipe)])
    assert with_recipe.exit_code == 0, with_recipe.output
    assert read_catalog(ws).set_index("source_id").loc["city/dark.jpg", "drop_reason"] == "quality:dark"


def test_cli_unknown_quality_check_is_one_line_exit_2(tmp_path):
    ws = _folder_workspace(tmp_path)
    result = runner.invoke(app, ["filter", "-w", str(ws.root), "--drop-quality", "dark,fuzzy"])
    assert result.exit_code == 2
    assert "unknown quality check 'fuzzy'" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_colour_collection_share_flag_recipe_key_and_bad_value(tmp_path):
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    folder = tmp_path / "photos" / "city"
    folder.mkdir(parents=True)
    for seed in range(3):
        generated_photo(seed).save(folder / f"colour{seed}.jpg", quality=90)
    for seed in range(2):
        ImageOps.grayscale(generated_photo(seed)).save(folder / f"grey{seed}.jpg", quality=90)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))

    def greys_flagged() -> int:
        return sum("greyscale" in list(found) for found in read_catalog(ws)["quality_issues"])

    assert runner.invoke(app, ["filter", "-w", str(ws.root), "--max-km", "off"]).exit_code == 0
    assert greys_flagged() == 2  # 60% colour: a colour collection by default
    result = runner.invoke(app, ["filter", "-w", str(ws.root), "--max-km", "off", "--colour-collection-share", "0.7"])
    assert result.exit_code == 0, result.output
    assert greys_flagged() == 0
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "r"\n[[labels]]\nname = "city"\n[filter]\nmax_km = "off"\ncolour_collection_share = '
                      '0.7\n')
    assert runner.invoke(app, ["filter", "-w", str(ws.root), "--max-km", "off"]).exit_code == 0 and greys_flagged() == 2
    assert runner.invoke(app, ["filter", "-w", str(ws.root), "--recipe", str(recipe)]).exit_code == 0
    assert greys_flagged() == 0
    bad = runner.invoke(app, ["filter", "-w", str(ws.root), "--colour-collection-share", "1.5"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1 and "--colour-collection-share" in bad.output


def test_report_has_a_gallery_per_check_worst_first():
    from curate.report.data import build_report
    from curate.report.html import render_html

    image = generated_photo(5)
    darker = [exposure(image, -3), exposure(image, -5), exposure(image, -4)]
    frame = _catalog(measured([image, *darker]))
    filtered, report = filter_catalog(frame, FilterConfig(max_km="off"))
    built = build_report(filtered, {"filter": report.to_dict()})
    section = {c["check"]: c for c in built["sections"]["quality"]["checks"]}
    dark = section["dark"]["gallery"]
    assert dark["total"] == 3
    assert [p["photo_id"] for p in dark["photos"]] == ["t:2", "t:3", "t:1"]  # -5 stops, -4, -3: worst first
    assert section["blurry"]["gallery"]["total"] == sum("blurry" in list(f) for f in filtered["quality_issues"])
    assert "Image quality" in render_html(built) and "dark_score" in render_html(built)
    assert "absent" in build_report(frame, {})["sections"]["quality"]
