"""Portrait crops of landscape photos: 9:16 (a Stories or wallpaper repost; audit DF 4: 6 of 30 linked), 4:5 and
2:3 (an Instagram post, a 35 mm frame). The decode pass stores strip hashes (`phash_strips`: a 9:16 portrait's own,
another portrait's own 9:16 windows, a landscape photo's full-height 9:16 windows along its width); a portrait's near
one of a photo's windows is a candidate, confirmed on the grey views by the window match's score
(`pixel_links._add_portrait_links`)."""

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


def portrait_crop(photo: Image.Image, offset: float = 1 / 3, shape: float = 9 / 16) -> Image.Image:
    """The audit's crop: full height, 9:16 (or `shape`: width / height), `offset` of the way along the width, saved
    as JPEG (q 90), decoded."""
    width = round(photo.height * shape)
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
    # a tall 9:16 picture has its own; a picture taller than 9:16 has none
    assert features.image_features(textured(3, (270, 480)))["phash_strips"].startswith(OWN_PREFIX)
    assert features.image_features(textured(3, (200, 480)))["phash_strips"] is None


@pytest.mark.parametrize("shape", [4 / 5, 2 / 3])
def test_a_portrait_of_another_shape_has_its_own_windows_and_one_is_near_its_photos(shape):
    """A 4:5 or 2:3 crop: the strip hashes of its own 9:16 windows ("in:"), one near one of its photo's; a 3:4
    portrait (a phone camera's own shape) none."""
    from curate.filters.portraits import INNER_PREFIX, parse_strip_phashes, portrait_candidates

    photo, other = textured(4, (640, 360)), textured(5, (540, 360))
    crop = portrait_crop(photo, 0.55, shape)
    value = features.image_features(crop)["phash_strips"]
    assert value.startswith(INNER_PREFIX) and len(value.split()) >= 2
    strips = parse_strip_phashes([features.image_features(image)["phash_strips"] for image in (photo, other, crop)])
    assert set(strips.owners[strips.portrait].tolist()) == {2}
    portrait, landscape, _ = portrait_candidates(strips)
    assert list(zip(portrait.tolist(), landscape.tolist())) == [(2, 0)]
    assert features.image_features(portrait_crop(photo, 0.55, 3 / 4))["phash_strips"] is None


def test_a_portraits_own_windows_parse_as_a_portraits_on_either_path():
    """"in:" values: the column-wide parse (canonical) and the per-value one (a doubled space), and a flat
    portrait's "in:" alone (no hash, but a value: measured by the current rule)."""
    from curate.filters.portraits import parse_strip_phashes

    found = parse_strip_phashes(["in:00000000000000ff 0000000000000001", "0000000000000002",
                                 "in:0000000000000003  0000000000000004", "in:", "in:00000000000000zz"])
    assert found.hashes.tolist() == [255, 1, 2, 3, 4]
    assert found.owners.tolist() == [0, 0, 1, 2, 2]
    assert found.portrait.tolist() == [True, True, False, True, True]
    flat = Image.new("RGB", (288, 360), (90, 90, 90))
    assert features.image_features(flat)["phash_strips"] == "in:"


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


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_synthetic_photos_4_5_and_2_3_crops_are_linked_to_it_and_not_to_another(tmp_path, engine):
    photo, other = textured(31, (640, 360)), textured(32, (540, 360))
    catalog, _ = filtered_folder(tmp_path, {"photo.jpg": photo, "post.jpg": portrait_crop(photo, 0.7, 4 / 5),
                                            "frame.jpg": portrait_crop(photo, 0.1, 2 / 3), "other.jpg": other,
                                            "other-post.jpg": portrait_crop(other, 0.4, 4 / 5)}, engine=engine)
    cluster = catalog["near_dup_cluster"]
    assert cluster["post.jpg"] == cluster["frame.jpg"] == cluster["photo.jpg"]
    assert cluster["other-post.jpg"] == cluster["other.jpg"] != cluster["photo.jpg"]


@needs_ferrari
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_real_photos_4_5_and_2_3_crops_are_linked_to_their_photo_only(tmp_path, engine):
    """Instagram's 4:5 post and a 2:3 frame of real Ferraris, each posted by its own owner: the window match's share
    (60 %) and the pHash miss them, the strip hashes of the crop's own 9:16 windows find them."""
    photos = [open_rgb(REALDATA / name) for name in FERRARI]
    catalog, _ = filtered_folder(tmp_path, {"a.jpg": photos[0], "b.jpg": photos[1], "c.jpg": photos[2],
                                            "a-post.jpg": portrait_crop(photos[0], 0.5, 4 / 5),
                                            "b-frame.jpg": portrait_crop(photos[1], 0.9, 2 / 3),
                                            "c-post.jpg": portrait_crop(photos[2], 0.0, 4 / 5)}, engine=engine)
    cluster = catalog["near_dup_cluster"]
    assert cluster["a-post.jpg"] == cluster["a.jpg"] and cluster["b-frame.jpg"] == cluster["b.jpg"]
    assert cluster["c-post.jpg"] == cluster["c.jpg"]
    assert len({cluster["a.jpg"], cluster["b.jpg"], cluster["c.jpg"]}) == 3


def test_a_catalog_measured_before_other_portraits_had_strip_hashes_gets_them_on_its_next_filter(tmp_path,
                                                                                                  monkeypatch):
    """A workspace whose 4:5 crop was measured when only 9:16 portraits had strip hashes (its `phash_strips` null,
    the column there): the DuckDB engine, which decodes no image, says so; the pandas engine measures that portrait
    again (`run.portraits_without_strips`), and only it, and links the crop."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace, read_catalog

    folder = tmp_path / "photos" / "car"
    folder.mkdir(parents=True)
    photo = textured(41, (640, 360))
    for name, picture in {"photo.jpg": photo, "post.jpg": portrait_crop(photo, 0.3, 4 / 5),
                          "other.jpg": textured(42)}.items():
        picture.save(folder / name, quality=95)
    ws = Workspace(tmp_path / "ws")
    ingest_folder(ws, FolderOptions(folder=tmp_path / "photos", workers=1))
    table = pq.read_table(ws.catalog_path)
    values = table.column("phash_strips").to_pylist()
    assert sum(isinstance(value, str) and value.startswith("in:") for value in values) == 1
    older = [None if isinstance(value, str) and value.startswith("in:") else value for value in values]
    pq.write_table(table.set_column(table.schema.get_field_index("phash_strips"), "phash_strips",
                                    pa.array(older, pa.string())), ws.catalog_path)
    import shutil

    copy = Workspace(tmp_path / "ws-duckdb")
    shutil.copytree(ws.root, copy.root)
    report = run_filter(copy, FilterConfig(max_km="off"), engine="duckdb")
    assert any(note.startswith("4:5 and 2:3 portraits") and ": 1; " in note for note in report.notes), report.notes
    measured = []
    real = features.compute_features

    def counted(paths, workers=2):
        paths = list(paths)
        measured.extend(path.name for path in paths)
        return real(paths, workers)

    monkeypatch.setattr(features, "compute_features", counted)
    run_filter(ws, FilterConfig(max_km="off"), engine="pandas")
    assert len(measured) == 1  # the portrait alone is decoded again
    catalog = read_catalog(ws)
    catalog.index = catalog["source_id"].str.rsplit("/", n=1).str[-1]
    assert catalog.loc["post.jpg", "phash_strips"].startswith("in:")
    measured.clear()
    run_filter(ws, FilterConfig(max_km="off"), engine="pandas")
    assert measured == []  # measured by the current rule: not again
    assert catalog.loc["post.jpg", "near_dup_cluster"] == catalog.loc["photo.jpg", "near_dup_cluster"]
    assert catalog.loc["other.jpg", "near_dup_cluster"] != catalog.loc["photo.jpg", "near_dup_cluster"]
