"""9:16 portrait crops of landscape photos (a Stories or wallpaper repost; audit DF 4: 6 of 30 linked). The decode
pass stores strip hashes (`phash_strips`: a portrait's own, a landscape photo's full-height 9:16 windows along its
width); a portrait's near one of a photo's windows is a candidate, confirmed on the grey views by the window match's
score (`pixel_links._add_portrait_links`)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from curate.store import open_rgb
from curate.vision import features
from tests.helpers import REALDATA
from tests.test_collage_panels import filtered_folder, textured

FERRARI = ["flickr-ferrari/black/2828686873_2fa36f83d7_b.jpg", "flickr-ferrari/red/5720090028_b589d5ee8e_b.jpg",
           "flickr-ferrari/yellow/227416776_2dc8b1ec1e_b.jpg"]
needs_ferrari = pytest.mark.skipif(not all((REALDATA / name).is_file() for name in FERRARI),
                                   reason="needs ../shared/realdata (flickr-ferrari)")


def portrait_crop(photo: Image.Image, offset: float = 1 / 3) -> Image.Image:
    """The audit's crop: full height, 9:16, `offset` of the way along the width, saved as JPEG (q 90), decoded."""
    width = round(photo.height * 9 / 16)
    left = round((photo.width - width) * offset)
    buffer = io.BytesIO()
    photo.crop((left, 0, left + width, photo.height)).save(buffer, "JPEG", quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_a_crops_strip_hash_is_near_one_of_its_photos_windows_and_not_of_another():
    from curate.filters.portraits import OWN_PREFIX, parse_strip_phashes, portrait_candidates

    photo, other = textured(1), textured(2)
    strips = parse_strip_phashes([features.image_features(image)["phash_strips"]
                                  for image in (photo, other, portrait_crop(photo, 0.4))])
    assert strips.portrait.tolist().count(True) == 1 and set(strips.owners[~strips.portrait].tolist()) == {0, 1}
    portrait, landscape, _ = portrait_candidates(strips)
    assert list(zip(portrait.tolist(), landscape.tolist())) == [(2, 0)]
    # a portrait of another shape (2:3) has no strip hash; a tall 9:16 picture has its own
    assert features.image_features(textured(3, (360, 540)))["phash_strips"] is None
    assert features.image_features(textured(3, (270, 480)))["phash_strips"].startswith(OWN_PREFIX)


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_synthetic_photos_portrait_crop_is_linked_to_it_and_not_to_another(tmp_path, engine):
    photo, other = textured(11, (640, 360)), textured(12, (480, 360))
    catalog, _ = filtered_folder(tmp_path, {"photo.jpg": photo, "crop.jpg": portrait_crop(photo, 0.6),
                                            "other.jpg": other, "other-crop.jpg": portrait_crop(other, 0.1)},
                                 engine=engine)
    cluster = catalog["near_dup_cluster"]
    assert cluster["crop.jpg"] == cluster["photo.jpg"] and cluster["other-crop.jpg"] == cluster["other.jpg"]
    assert cluster["photo.jpg"] != cluster["other.jpg"]


@needs_ferrari
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_real_photos_portrait_crops_are_linked_to_their_photo_only(tmp_path, engine):
    """The audit's form (one third from the left) and one at the right edge, each posted by its own owner."""
    photos = [open_rgb(REALDATA / name) for name in FERRARI]
    catalog, _ = filtered_folder(tmp_path, {"a.jpg": photos[0], "b.jpg": photos[1], "c.jpg": photos[2],
                                            "a-tall.jpg": portrait_crop(photos[0]),
                                            "b-tall.jpg": portrait_crop(photos[1], 1.0)}, engine=engine)
    cluster = catalog["near_dup_cluster"]
    assert cluster["a-tall.jpg"] == cluster["a.jpg"] and cluster["b-tall.jpg"] == cluster["b.jpg"]
    assert len({cluster["a.jpg"], cluster["b.jpg"], cluster["c.jpg"]}) == 3


def test_a_catalog_from_before_the_column_gets_it_on_its_next_filter(tmp_path):
    """A workspace ingested before `phash_strips` existed (the file lacks the column): the DuckDB engine does not
    crash and says it looks for no such crop; the pandas engine computes the column (features.NULLABLE_COLUMNS) and
    links the crop."""
    import shutil

    import pyarrow.parquet as pq

    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    folder = tmp_path / "photos" / "car"
    folder.mkdir(parents=True)
    photo = textured(21, (640, 360))
    for name, picture in {"photo.jpg": photo, "crop.jpg": portrait_crop(photo, 0.3), "other.jpg": textured(22)}.items():
        picture.save(folder / name, quality=95)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    table = pq.read_table(ws.catalog_path)
    pq.write_table(table.drop(["phash_strips"]), ws.catalog_path)
    copy = Workspace(tmp_path / "ws-duckdb")
    shutil.copytree(ws.root, copy.root)
    report = run_filter(copy, FilterConfig(max_km="off"), engine="duckdb")
    assert any("phash_strips" in note for note in report.notes), report.notes
    run_filter(ws, FilterConfig(max_km="off"), engine="pandas")
    catalog = read_catalog(ws)
    catalog.index = catalog["source_id"].str.rsplit("/", n=1).str[-1]
    assert catalog["phash_strips"].notna().all()
    assert catalog.loc["crop.jpg", "near_dup_cluster"] == catalog.loc["photo.jpg", "near_dup_cluster"]
    assert catalog.loc["other.jpg", "near_dup_cluster"] != catalog.loc["photo.jpg", "near_dup_cluster"]


@needs_ferrari
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_portrait_crop_with_more_pixels_than_its_photo_is_not_the_one_kept(tmp_path, engine):
    """Review DP F2: a Stories crop cut from the full-size file was kept over its 480 px web copy (the most
    pixels), though it shows a third to a half of the picture: 3 of 3 real Ferraris."""
    photo = open_rgb(REALDATA / FERRARI[0])
    small = photo.resize((480, round(photo.height * 480 / photo.width)))
    crop = portrait_crop(photo)
    assert crop.width * crop.height > small.width * small.height
    catalog, _ = filtered_folder(tmp_path, {"a.jpg": small, "a-tall.jpg": crop}, engine=engine)
    assert catalog.loc["a-tall.jpg", "near_dup_cluster"] == catalog.loc["a.jpg", "photo_id"]
    assert catalog.loc["a.jpg", "near_dup_cluster"] == catalog.loc["a.jpg", "photo_id"]
