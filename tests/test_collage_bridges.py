"""Collages that join different pictures (audit DQ 1, curate.filters.collages): collages of consecutive pictures
chained 30 cars into one cluster, one split group of 298 of 342 photos, val empty. Such a collage is dropped as
`collage` by default, each picture keeping its own copies; held when they are so many that they look like the
collection's design; kept, joined, with `--collages keep` or when a reviewer kept it. Both engines alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from curate.store import open_rgb
from tests.helpers import REALDATA, ingested_with_metadata
from tests.test_collage_panels import FERRARI, collage, filtered_folder, needs_ferrari, textured
from tests.test_portrait_crops import portrait_crop


def chain(count: int, seed: int = 20) -> dict:
    """`count` different pictures p0, p1, ..., a smaller copy of p0, and the collages c01, c12, ... of each
    picture with the next."""
    pictures = [textured(seed + k) for k in range(count)]
    photos = {f"p{k}.jpg": picture for k, picture in enumerate(pictures)}
    photos["p0-copy.jpg"] = pictures[0].resize((400, 300))
    photos.update({f"c{k}{k + 1}.jpg": collage(pictures[k], pictures[k + 1]) for k in range(count - 1)})
    return photos


def chain_workspace(tmp_path):
    """A workspace of `chain(3)` ingested, each photo under its own owner, label car."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = chain(3)
    for name, photo in photos.items():
        photo.save(folder / name, quality=95)
    return ingested_with_metadata(tmp_path, folder, [{"file": name, "label": "car", "owner": f"o{k}"}
                                                     for k, name in enumerate(photos)], {"owner_id": "owner"})


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_chain_of_collages_is_dropped_and_each_picture_keeps_its_copies(tmp_path, engine):
    catalog, report = filtered_folder(tmp_path, chain(4), engine=engine)
    collages = ["c01.jpg", "c12.jpg", "c23.jpg"]
    assert (catalog.loc[collages, "drop_reason"] == "collage").all()
    assert (catalog.drop(index=collages)["status"] == "kept").all()
    cluster = catalog["near_dup_cluster"]
    assert cluster["p0.jpg"] == cluster["p0-copy.jpg"]
    assert cluster[["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]].nunique() == 4
    note = next(note for note in report.notes if "dropped as collage" in note)
    # what was found here (audit DY F5): the collages, of one label, and the chain they make
    assert note.startswith("3 photos dropped as collage (3 collages of photos of different pictures, and copies of "
                           "them; all 3 of pictures of one label)")
    assert "the largest a chain of 4 pictures" in note
    assert "--collages keep" in note and not report.warnings


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_collages_keep_joins_the_chain_as_before(tmp_path, engine):
    catalog, report = filtered_folder(tmp_path, chain(4), engine=engine, collages="keep")
    assert (catalog["status"] == "kept").all()
    assert catalog["near_dup_cluster"].nunique() == 1
    assert not any("dropped as collage" in note for note in report.notes)


def test_a_collage_of_one_picture_of_the_collection_stays_linked_to_it(tmp_path):
    """Its other panel is no photo of the collection: it joins nothing, so it stays, in its picture's cluster."""
    photos = {"p0.jpg": textured(30), "p1.jpg": textured(31), "c0x.jpg": collage(textured(30), textured(32))}
    catalog, report = filtered_folder(tmp_path, photos)
    assert (catalog["status"] == "kept").all()
    assert catalog.loc["c0x.jpg", "near_dup_cluster"] == catalog.loc["p0.jpg", "near_dup_cluster"]
    assert catalog.loc["p1.jpg", "near_dup_cluster"] != catalog.loc["p0.jpg", "near_dup_cluster"]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_collages_that_look_like_the_design_are_held_with_a_warning(tmp_path, engine):
    """10 collages of 22 photos (10 or more, over 10 %): a collection of collages, not reposts: kept, joined."""
    catalog, report = filtered_folder(tmp_path, chain(11, seed=40), engine=engine)
    assert (catalog["status"] == "kept").all()
    assert catalog["near_dup_cluster"].nunique() == 1
    warning = next(line for line in report.warnings if "collages" in line)
    assert warning.startswith("held: 10 photos (45% of the labelled ones) are collages") and "11 pictures" in warning
    assert "--force-collages" in warning


def test_force_collages_drops_them_anyway(tmp_path):
    catalog, report = filtered_folder(tmp_path, chain(11, seed=40), force_collages=True)
    assert (catalog["drop_reason"] == "collage").sum() == 10
    assert catalog.loc[catalog["status"] == "kept", "near_dup_cluster"].nunique() == 11
    assert not report.warnings


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_collage_a_reviewer_kept_joins_its_pictures(tmp_path, engine):
    """Kept by a reviewer after the filter dropped it: the next filter keeps its links (no leak across the split
    through the collage), not a cluster of its own."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.review.queues import automatic_view, build_queue
    from curate.workspace import read_catalog

    ws = chain_workspace(tmp_path)
    run_filter(ws, FilterConfig(max_km="off"), engine=engine)
    catalog = read_catalog(ws).set_index("source_id")
    assert (catalog.loc[["c01.jpg", "c12.jpg"], "drop_reason"] == "collage").all()
    view = automatic_view(read_catalog(ws))
    queue = build_queue(view, "duplicates")  # the dropped collages are shown there, each a cluster of its own
    shown = set(view["source_id"].iloc[queue.positions])
    assert {"c01.jpg", "c12.jpg", "p0.jpg", "p0-copy.jpg"} <= shown
    why = queue.why[view.index[view["source_id"] == "c01.jpg"][0]]
    assert why.startswith("dropped collage: its panels are copies of different pictures")
    catalog = _keep_and_filter_again(ws, catalog.loc["c01.jpg", "photo_id"], engine)
    assert catalog.loc["c01.jpg", "status"] == "kept" and catalog.loc["c12.jpg", "drop_reason"] == "collage"
    cluster = catalog["near_dup_cluster"]
    assert cluster["c01.jpg"] == cluster["p0.jpg"] == cluster["p1.jpg"] != cluster["p2.jpg"]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_keep_journalled_under_a_float_twin_id_joins_the_collage_too(tmp_path, engine):
    """Review DU 6: a keep journalled under the legacy float twin of the collage's id (`folder:104.0` for
    `folder:104`, from a workspace ingested before ids were read as integers) kept the collage, as the review's
    decisions map twins, but the filter's collage rule read the journal's ids as written and still set it apart
    from its pictures: kept, a cluster of its own, free to land on another side of the split. Both engines."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.review.journal import append_decisions, new_decision
    from curate.workspace import read_catalog

    folder = tmp_path / "photos"
    folder.mkdir()
    photos = chain(3)
    for name, photo in photos.items():
        photo.save(folder / name, quality=95)
    ws = ingested_with_metadata(tmp_path, folder, [{"file": name, "id": str(100 + k), "label": "car", "owner": f"o{k}"}
                                                   for k, name in enumerate(photos)],
                                {"owner_id": "owner", "source_id": "id"})
    run_filter(ws, FilterConfig(max_km="off"), engine=engine)
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["104", "photo_id"] == "folder:104" and catalog.loc["104", "drop_reason"] == "collage"  # c01
    append_decisions(ws, [new_decision("folder:104.0", "keep")])
    run_filter(ws, FilterConfig(max_km="off"), engine=engine)
    catalog = read_catalog(ws).set_index("source_id")
    assert catalog.loc["104", "status"] == "kept" and catalog.loc["105", "drop_reason"] == "collage"  # c12 still
    cluster = catalog["near_dup_cluster"]
    assert cluster["104"] == cluster["100"] == cluster["101"] != cluster["102"]  # c01 with p0 and p1


@needs_ferrari
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_real_photos_chained_by_collages_are_set_apart(tmp_path, engine):
    """Audit DQ's form on real photos: four Ferraris, the collages of each with the next (600 px, 20 px white
    gutter): the collages dropped, the four cars in four clusters, the same on both engines."""
    cars = [open_rgb(REALDATA / name) for name in FERRARI]
    photos = {f"car{k}.jpg": car.resize((320, round(320 * car.height / car.width))) for k, car in enumerate(cars)}
    photos.update({f"a{k}{k + 1}.jpg": collage(cars[k], cars[k + 1]) for k in range(3)})
    # and a 9:16 crop of each car cut from the full-size file (audit DQ: 5 such crops went with a collage: its
    # window was closer than their own 320 px photo's, as for tall0 and tall2 here, and matched first)
    photos.update({f"tall{k}.jpg": portrait_crop(car, 2 / 3) for k, car in enumerate(cars)})
    catalog, _ = filtered_folder(tmp_path, photos, engine=engine)
    assert catalog.loc[["a01.jpg", "a12.jpg", "a23.jpg"], "drop_reason"].tolist() == ["collage"] * 3
    cluster = catalog["near_dup_cluster"]
    assert cluster[[f"car{k}.jpg" for k in range(4)]].nunique() == 4
    assert [cluster[f"tall{k}.jpg"] == cluster[f"car{k}.jpg"] for k in range(4)] == [True] * 4
    assert (catalog.loc[[f"tall{k}.jpg" for k in range(4)], "status"] == "kept").all()


def test_a_collage_a_reviewer_kept_makes_the_filter_stale_until_it_joins_it_again(tmp_path):
    """Kept by a reviewer, a dropped collage is still a cluster of its own (its pictures set apart) until the filter
    runs again: the split could put it on another side than its pictures, a leak check-leakage cannot see. So the
    filter reads as stale (`curate status`, `curate run`), and fresh once it has run."""
    from curate.catalog_batches import CatalogFile
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.freshness import FRESH, STALE
    from curate.freshness_workspace import workspace_states
    from curate.review.journal import append_decisions, new_decision
    from curate.review.serve import apply_to_catalog
    from curate.workspace import read_catalog

    ws = chain_workspace(tmp_path)
    run_filter(ws, FilterConfig(max_km="off"))
    catalog = read_catalog(ws).set_index("source_id")
    assert workspace_states(ws)["filter"].state == FRESH
    append_decisions(ws, [new_decision(catalog.loc["c01.jpg", "photo_id"], "keep")])
    apply_to_catalog(ws)
    kept = read_catalog(ws).set_index("source_id")
    assert kept.loc["c01.jpg", "status"] == "kept"
    assert kept.loc["c01.jpg", "near_dup_cluster"] != kept.loc["p0.jpg", "near_dup_cluster"]  # not joined yet
    for catalog in (None, CatalogFile(ws.catalog_path, 2)):  # (in batches, as on a large catalog)
        state = workspace_states(ws, catalog)["filter"]
        assert state.state == STALE
        assert any("a reviewer kept 1 photo filter dropped as collage" in reason for reason in state.reasons)
    run_filter(ws, FilterConfig(max_km="off"))
    assert workspace_states(ws)["filter"].state == FRESH
    joined = read_catalog(ws).set_index("source_id")["near_dup_cluster"]
    assert joined["c01.jpg"] == joined["p0.jpg"] == joined["p1.jpg"]


def test_force_collages_with_collages_keep_says_it_forces_nothing():
    """As each --force-… flag given without the drop it forces (`force_notes`, audit AF)."""
    from curate.filters.stage import FilterConfig, force_notes

    notes = force_notes(FilterConfig(collages="keep", force_collages=True), [])
    assert any(note.startswith("--force-collages forces nothing without --collages drop (recipe collages)")
               for note in notes)
    assert not force_notes(FilterConfig(force_collages=True), [])


def soft(seed: int, size: tuple[int, int] = (1280, 960)) -> Image.Image:
    """A large, smooth photo (no grain, a little blurred): little fine detail, like a shot of a misty scene."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))


def soft_chain() -> dict:
    """p0 (a grainy 480 px picture), its smaller copy and its blurred 2x upscale from 240 px; p1, a large smooth
    picture with less fine detail than p0 (an original: no copy of it is smaller); c01, their collage."""
    p0, p1 = textured(20), soft(21)
    return {"p0.jpg": p0, "p0-copy.jpg": p0.resize((400, 300)),
            "p0-up.jpg": p0.resize((480, 360)).resize((240, 180)).resize((960, 720), Image.BICUBIC)
            .filter(ImageFilter.GaussianBlur(1)), "p1.jpg": p1, "c01.jpg": collage(p0, p1)}


def judged(monkeypatch, engine: str) -> tuple[dict, list]:
    """Spies on the keep rule's upscale judgement of a filter run: a dict filled with "upscaled", the photo_ids
    judged upscales, and "key", photo_id -> the judgement's group key (pandas only); and the groups of sha256s the
    pixel check was given (`upscale.upscales`)."""
    from curate.filters import duplicates, upscale
    from curate.outofcore import filter as outofcore_filter

    seen: dict = {"upscaled": None, "key": None}
    groups: list = []
    real_upscales, real_copies = upscale.upscales, duplicates.upscaled_copies
    real_near = outofcore_filter.near_duplicates

    def upscales(given, open_image, workers=1):
        groups.extend({image[0] for level in group for image in level} for group in given)
        return real_upscales(given, open_image, workers)

    def upscaled_copies(catalog, group_key, open_image=None, workers=1):
        found = real_copies(catalog, group_key, open_image, workers)
        seen["key"] = dict(zip(catalog["photo_id"], group_key))
        seen["upscaled"] = set(catalog["photo_id"][found])
        return found

    def near_duplicates(con, *args, **kwargs):
        count = real_near(con, *args, **kwargs)
        seen["upscaled"] = {row[0] for row in con.execute("SELECT photo_id FROM w WHERE upscaled").fetchall()}
        return count

    monkeypatch.setattr(upscale, "upscales", upscales)
    monkeypatch.setattr(duplicates, "upscaled_copies", upscaled_copies)
    monkeypatch.setattr(outofcore_filter, "near_duplicates", near_duplicates)
    return seen, groups


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_kept_collage_chain_judges_upscales_within_each_picture(tmp_path, monkeypatch, engine):
    """Audit DQ (helper DW): with the collages kept, one cluster held 30 pictures, the keep rule compared copies of
    different pictures (545 of 572 pairs) and all 33 upscales it found were wrong, 3 originals among them. Here
    p1, a large smooth original, read as an upscale of p0's small copies (its detail under 0.3 x theirs): the
    cluster's representative was p0. Judged within each picture, p1 is no upscale (and the representative, the
    most pixels), p0's real upscale still is one, and the pixel check compares p0's copies only."""
    seen, groups = judged(monkeypatch, engine)
    photos = soft_chain()
    catalog, _ = filtered_folder(tmp_path, photos, engine=engine, collages="keep")
    assert (catalog["status"] == "kept").all() and catalog["near_dup_cluster"].nunique() == 1
    assert catalog["near_dup_cluster"].iloc[0] == catalog.loc["p1.jpg", "photo_id"]
    assert seen["upscaled"] == {catalog.loc["p0-up.jpg", "photo_id"]}
    sha = catalog["sha256"]
    assert groups == [{sha["p0.jpg"], sha["p0-copy.jpg"], sha["p0-up.jpg"]}]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_with_the_collages_dropped_each_picture_is_its_cluster_as_before(tmp_path, monkeypatch, engine):
    """The default (`--collages drop`): the clusters used are already the pictures (`Clusters.apart`), so the
    upscale judgement groups exactly as the clusters do, and nothing changes (this passes on the code before
    too: it guards that the judgement's grouping is the clusters' there)."""
    seen, groups = judged(monkeypatch, engine)
    catalog, _ = filtered_folder(tmp_path, soft_chain(), engine=engine)
    assert catalog.loc["c01.jpg", "drop_reason"] == "collage"
    cluster, sha = catalog["near_dup_cluster"], catalog["sha256"]
    assert cluster["p0.jpg"] == cluster["p0-copy.jpg"] == cluster["p0-up.jpg"] == catalog.loc["p0.jpg", "photo_id"]
    assert cluster["p1.jpg"] == catalog.loc["p1.jpg", "photo_id"]
    assert seen["upscaled"] == {catalog.loc["p0-up.jpg", "photo_id"]}
    assert groups == [{sha["p0.jpg"], sha["p0-copy.jpg"], sha["p0-up.jpg"]}]
    if engine == "pandas":  # the statistic's groups are the clusters
        key = catalog["photo_id"].map(seen["key"])
        assert (key.groupby(cluster).nunique() == 1).all() and (cluster.groupby(key).nunique() == 1).all()


def test_the_note_says_what_the_collages_join_here_not_a_chain_found_elsewhere():
    """Audit DY F5: 8 same-label and 4 cross-label collages, each of just 2 pictures, got a note that read as if a
    chain was found. `found` counts the collages (a repost once), those joining labels, and the longest chain."""
    from curate.filters.collages import Clusters, Found, drop_note, found

    # pictures 0 (a), 1 (b), 2 (a), 3 (a); collage 4 of 0 and 1, 5 its repost; collage 6 of 2 and 3
    joined, apart = np.array([0, 0, 2, 2, 0, 0, 2]), np.array([0, 1, 2, 3, 4, 4, 6])
    bridges = np.array([False] * 4 + [True] * 3)
    labels = pd.DataFrame({"pos": [0, 1, 2, 3, 4, 5, 6], "label": ["a", "b", "a", "a", "a", "b", "a"]})
    assert found(Clusters(joined, apart, bridges), labels) == Found(collages=2, cross_label=1, largest=2)
    note = " ".join(drop_note(3, 4, found(Clusters(joined, apart, bridges), labels)))
    assert "(2 collages of photos of different pictures, and copies of them; 1 of pictures of two or more labels, " \
           "1 of one label)" in note
    assert "each would join its own 2 pictures" in note and "no collage chains others here" in note
    chained = np.array([0, 0, 0, 0, 0, 0, 0])  # a collage of 1 and 2 as well: one chain of 4 pictures
    what = found(Clusters(chained, apart, bridges), labels)
    assert what == Found(collages=2, cross_label=2, largest=4)
    assert "the largest a chain of 4 pictures" in drop_note(3, 4, what)[0]
    assert found(Clusters(joined, apart, np.zeros(7, bool)), labels) == Found()


def test_the_note_on_an_unlabelled_collections_collages_does_not_call_their_pictures_one_labels():
    """Review EE: with no label at all (a folder without label folders), `found` counted every collage as of
    "pictures of one label". Collages whose pictures carry no label are counted as such."""
    from curate.filters.collages import Clusters, drop_note, found

    joined, apart = np.array([0, 0, 2, 2, 0, 2]), np.array([0, 1, 2, 3, 4, 5])
    bridges = np.array([False] * 4 + [True] * 2)
    none = pd.DataFrame({"pos": pd.Series([], dtype="int64"), "label": pd.Series([], dtype=object)})
    note = drop_note(2, 4, found(Clusters(joined, apart, bridges), none))[0]
    assert "(2 collages of photos of different pictures, and copies of them; all 2 of unlabelled pictures)" in note
    some = pd.DataFrame({"pos": [0, 1], "label": ["a", "a"]})  # the second collage's pictures have none
    note = drop_note(2, 4, found(Clusters(joined, apart, bridges), some))[0]
    assert "; 1 of pictures of one label, 1 of unlabelled pictures)" in note


def tall_crop_of_a_portrait() -> dict:
    """Review DU 4's form: p0, a 3:4 portrait (no window strip hashes of its own: only a landscape photo's windows
    are looked among), p1 another picture, c01 their collage, and tall0, a 9:16 crop of p0 cut from the full-size
    file: its strip hash is near only the collage's window over p0's panel, so the portrait rule links it to the
    collage alone."""
    p0, p1 = textured(60, (450, 600)), textured(61)
    return {"p0.jpg": p0, "p1.jpg": p1, "c01.jpg": collage(p0, p1), "tall0.jpg": portrait_crop(p0, 0.5)}


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_crop_linked_only_through_a_collages_window_is_a_copy_of_that_panels_picture(tmp_path, engine):
    """Review DU 4: the crop's portrait link to the collage was no panel link, so it shared the collage's cluster
    and was dropped with it as `collage`, counted among the collages, and a reviewer's keep of it kept the collage
    too, joined to both its pictures. The link counts on the side of the collage its window falls in: the crop is a
    copy of p0 (its cluster, the keep rule's to judge), not a collage; keeping it keeps the collage dropped."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.workspace import read_catalog

    folder = tmp_path / "photos"
    folder.mkdir()
    photos = tall_crop_of_a_portrait()
    for name, photo in photos.items():
        photo.save(folder / name, quality=95)
    ws = ingested_with_metadata(tmp_path, folder, [{"file": name, "label": "car", "owner": f"o{k}"}
                                                   for k, name in enumerate(photos)], {"owner_id": "owner"})
    report = run_filter(ws, FilterConfig(max_km="off"), engine=engine)
    catalog = read_catalog(ws).set_index("source_id")
    assert pd.isna(catalog.loc["p0.jpg", "phash_strips"]) and pd.notna(catalog.loc["c01.jpg", "phash_panels"])
    assert catalog.loc["c01.jpg", "drop_reason"] == "collage"
    assert catalog.loc["tall0.jpg", "drop_reason"] != "collage"
    cluster = catalog["near_dup_cluster"]
    assert cluster["tall0.jpg"] == cluster["p0.jpg"] != cluster["p1.jpg"]
    note = next(note for note in report.notes if "dropped as collage" in note)
    assert note.startswith("1 photo dropped as collage (1 collage of photos of different pictures")
    catalog = _keep_and_filter_again(ws, catalog.loc["tall0.jpg", "photo_id"], engine)
    assert catalog.loc["tall0.jpg", "status"] == "kept" and catalog.loc["c01.jpg", "drop_reason"] == "collage"
    cluster = catalog["near_dup_cluster"]
    assert cluster["tall0.jpg"] == cluster["p0.jpg"] != cluster["p1.jpg"]


def _keep_and_filter_again(ws, photo_id, engine):
    """A reviewer keeps one photo, the filter runs again: the catalog after it, by source id."""
    from curate.filters.run import run_filter
    from curate.filters.stage import FilterConfig
    from curate.review.journal import append_decisions, new_decision
    from curate.workspace import read_catalog

    append_decisions(ws, [new_decision(photo_id, "keep")])
    run_filter(ws, FilterConfig(max_km="off"), engine=engine)
    return read_catalog(ws).set_index("source_id")
