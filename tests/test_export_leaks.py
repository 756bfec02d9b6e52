"""`curate export` hands no leak on (audit AZ): with `--labels all`, `unsplit` holds no photo that touches the test or
val split (its photographer, a copy of one), and an image exported under two or more labels is counted, said and
named in export.json; the review app says when a decision keeps one image under two labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import requests
from helpers import demo_workspace
from typer.testing import CliRunner

from curate import schema
from curate.catalog_batches import CatalogFile
from curate.cli.app import app
from curate.cli.common import run_app
from curate.export import ExportConfig
from curate.export.plan import plan_columns, plan_export
from curate.export.spill import plan_from_file
from curate.workspace import Workspace, read_catalog
from tests.helpers import start_server

TEST_COPY = "unsplit, touches test: a copy of a test photo (same image or near-duplicate cluster)"
TEST_OWNER = "unsplit, touches test: by a photographer with test photos"
VAL_COPY = "unsplit, touches val: a copy of a val photo (same image or near-duplicate cluster)"
VAL_OWNER = "unsplit, touches val: by a photographer with val photos"


def catalog_of(rows: list[tuple]) -> pd.DataFrame:
    """A catalog from (photo_id, status, split, label, owner_id, sha256, near_dup_cluster) rows."""
    frame = pd.DataFrame(rows, columns=["photo_id", "status", "split", "label", "owner_id", "sha256",
                                        "near_dup_cluster"])
    dropped = frame["status"] == "dropped"
    frame = frame.assign(source="t", source_id=frame["photo_id"], tags=[[] for _ in range(len(frame))],
                         tag_labels=[[] for _ in range(len(frame))], license="cc-by",
                         image_path="images/" + frame["sha256"] + ".jpg",
                         drop_reason=np.where(dropped, "geo_outlier", None),
                         drop_stage=np.where(dropped, "filter", None))
    return schema.to_pandas(schema.conform(frame))


def three_plans(catalog: pd.DataFrame, config: ExportConfig, folder: Path, monkeypatch) -> list:
    """The plan of `catalog` in memory, streamed from its file in batches of 3 rows, and sorted on disk."""
    path = folder / "catalog.parquet"
    pq.write_table(schema.conform(catalog), path)

    def sizes(batch: pd.DataFrame) -> pd.Series:
        return pd.Series(1000.0, index=batch.index)

    plans = [plan_export(catalog[plan_columns(config)], config, sizes(catalog))]
    (folder / "streamed").mkdir()
    plans.append(plan_from_file(CatalogFile(path, batch_rows=3), config, sizes, folder / "streamed"))
    with monkeypatch.context() as patch:
        patch.setattr("curate.export.spill.EXTERNAL_ROWS", 0)
        (folder / "disk").mkdir()
        plans.append(plan_from_file(CatalogFile(path, batch_rows=3), config, sizes, folder / "disk"))
    return plans


# ------------------------------------------------------------------ F3: unsplit touching test or val

TOUCHING = [
    ("t:train", "kept", "train", "a", "ann", "s-train", None),
    ("t:test", "kept", "test", "a", "bob", "s-test", "n-test"),
    ("t:val", "kept", "val", "a", "cy", "s-val", None),
    ("t:copy", "dropped", None, "a", "zed", "s-test", None),         # the test photo's bytes, another owner
    ("t:near", "dropped", None, "b", "zed", "s-near", "n-test"),     # in the test photo's near-duplicate cluster
    ("t:by-bob", "dropped", None, "a", "bob", "s-bob", None),        # a test photographer's
    ("t:both", "dropped", None, "a", "cy", "s-test", None),          # a val photographer's copy of the test photo
    ("t:by-cy", "kept", None, "a", "cy", "s-cy", None),              # kept without a split, a val photographer's
    ("t:val-copy", "dropped", None, "b", "zed", "s-val", None),      # the val photo's bytes
    ("t:free", "dropped", None, "a", "ann", "s-free", "n-free"),     # a train photographer's: may train beside train
    ("t:free2", "kept", None, "b", "dee", "s-free2", None),          # kept without a split, touches nothing
    ("t:nolabel", "dropped", None, None, "bob", "s-x", None),        # no label: never exported
]


@pytest.mark.parametrize("splits", [None, ("unsplit",)])
def test_labels_all_leaves_out_of_unsplit_every_photo_touching_test_or_val(tmp_path, monkeypatch, splits):
    """Audit AZ F3: `unsplit` held byte-identical copies of test photos, photos in a test photo's near-duplicate
    cluster and photos by test photographers, so that training on train + unsplit trained on test images. Each is
    left out and counted by split and reason (test first), in every plan path, whether or not test is exported."""
    config = ExportConfig("csv", labels="all", splits=splits)
    for plan in three_plans(catalog_of(TOUCHING), config, tmp_path, monkeypatch):
        rows = pd.concat(list(plan.chunks()))
        unsplit = sorted(rows.loc[rows["split"] == "unsplit", "photo_id"])
        assert unsplit == ["t:free", "t:free2"]
        touching = {reason: n for reason, n in plan.excluded.items() if reason.startswith("unsplit, touches")}
        assert touching == {TEST_COPY: 3, TEST_OWNER: 1, VAL_OWNER: 1, VAL_COPY: 1}


def test_labels_kept_is_unchanged_by_the_unsplit_rule(tmp_path, monkeypatch):
    for plan in three_plans(catalog_of(TOUCHING), ExportConfig("csv"), tmp_path, monkeypatch):
        rows = pd.concat(list(plan.chunks()))
        assert sorted(rows["photo_id"]) == ["t:test", "t:train", "t:val"]
        assert not any(reason.startswith("unsplit") for reason in plan.excluded)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory) -> Workspace:
    return demo_workspace(tmp_path_factory.mktemp("export-leaks-ws"), photos=140, seed=4)


def cli(args: list, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        run_app(app, "curate", [str(a) for a in args])
    out = capsys.readouterr()
    return stopped.value.code, out.out, out.err


def test_an_export_with_labels_all_says_what_it_left_out_of_unsplit_and_what_its_card_checked(demo_ws, tmp_path,
                                                                                              capsys):
    catalog = read_catalog(demo_ws)
    in_split = (catalog["status"] == "kept") & catalog["split"].notna()
    held_out = catalog[in_split & catalog["split"].isin(["test", "val"])]
    # an oracle of its own: owner, bytes or near-duplicate cluster of a kept test or val photo
    touching = ~in_split & catalog["label"].notna() & (
        catalog["owner_id"].isin(set(held_out["owner_id"].dropna())) | catalog["sha256"].isin(set(held_out["sha256"]))
        | catalog["exact_dup_group"].isin(set(held_out["exact_dup_group"].dropna()))
        | catalog["near_dup_cluster"].isin(set(held_out["near_dup_cluster"].dropna())))
    assert touching.sum() >= 2  # the demo's unsplit photos by test photographers
    out = tmp_path / "out"
    code, stdout, err = cli(["export", "-f", "csv", "--labels", "all", "-o", out, "-w", demo_ws.root], capsys)
    assert code == 0, err
    manifest = pd.read_csv(out / "manifest.csv")
    unsplit = manifest[manifest["split"] == "unsplit"]
    assert len(unsplit) >= 1 and not unsplit["photo_id"].isin(catalog.loc[touching, "photo_id"]).any()
    export = json.loads((out / "export.json").read_text())
    counted = sum(n for reason, n in export["excluded"].items() if reason.startswith("unsplit, touches"))
    assert counted == touching.sum()
    said = " ".join((stdout + err).split())
    assert f"{counted} labelled photos outside the split were left out of unsplit" in said
    assert any("left out of unsplit" in note for note in export["notes"])
    card = " ".join((out / "README.md").read_text().split())
    assert "`unsplit` holds no photo by a photographer of a val or test photo, nor a copy of one" in card
    assert f"{counted} such photos were left out of it" in card
    assert f"| not exported: {TEST_OWNER} |" in card


# ------------------------------------------------------------------ F2: an image under two labels

CONFLICTS = [
    ("t:a1", "kept", "train", "A", "o1", "s1", "c1"),
    ("t:a2", "kept", "train", "B", "o2", "s1", "c1"),  # the same bytes as a1, another label
    ("t:n1", "kept", "train", "A", "o3", "s2", "c2"),
    ("t:n2", "kept", "train", "B", "o3", "s3", "c2"),  # a near copy of n1, another label
    ("t:n3", "kept", "train", "A", "o3", "s4", "c2"),
    ("t:ok1", "kept", "train", "A", "o4", "s5", "c3"),
    ("t:ok2", "kept", "train", "A", "o4", "s6", "c3"),  # a near copy under the same label: no conflict
    ("t:drop", "dropped", None, "C", "o5", "s5", None),  # ok1's bytes under C, exported by --labels all only
]


@pytest.mark.parametrize("labels, want", [
    ("kept", {"images": 2, "exact_copies": 1, "near_duplicate_clusters": 1, "photos": 5, "collage_clusters": 0,
              "collage_photos": 0}),
    ("all", {"images": 3, "exact_copies": 2, "near_duplicate_clusters": 1, "photos": 7, "collage_clusters": 0,
             "collage_photos": 0}),
])
def test_images_under_two_labels_are_counted_not_dropped_in_every_plan_path(tmp_path, monkeypatch, labels, want):
    """Audit AZ F2: copies of one image kept under two labels (a reviewer kept both, or relabelled one near copy)
    were exported under both without a word. They are still exported (the user decides), and counted: an image
    once, whether its copies are byte-identical or near-duplicates (a1 and a2 are both; counted as exact)."""
    config = ExportConfig("imagefolder", labels=labels)
    exported = {"kept": 7, "all": 8}[labels]
    for plan in three_plans(catalog_of(CONFLICTS), config, tmp_path, monkeypatch):
        assert plan.photos == exported
        assert plan.label_conflicts == want
        assert plan.flagged.get("image under two or more labels") == want["photos"]


def test_no_image_under_two_labels_counts_none(tmp_path, monkeypatch):
    rows = [row for row in CONFLICTS if row[0] in ("t:n1", "t:n3", "t:ok1", "t:ok2")]
    for plan in three_plans(catalog_of(rows), ExportConfig("imagefolder"), tmp_path, monkeypatch):
        assert plan.label_conflicts == {"images": 0, "exact_copies": 0, "near_duplicate_clusters": 0, "photos": 0,
                                        "collage_clusters": 0, "collage_photos": 0}
        assert "image under two or more labels" not in plan.flagged


def test_a_cluster_under_two_labels_holding_a_collage_is_named_as_the_collage_in_every_plan_path(tmp_path,
                                                                                                monkeypatch):
    """Audit DY F7 at the export: with `--collages keep`, a collage of a Coast and a Forest picture joins them in
    one cluster under two labels, and the export said "keep the copy whose label is right", where both pictures
    are rightly labelled and the collage is the photo to drop. Its cluster is counted apart (in memory, streamed
    and sorted on disk alike), beside an ordinary cluster of copies under two labels, and the warning and the
    card say so."""
    from curate.export.card import conflict_paragraph
    from curate.export.messages import label_conflict_warnings

    rows = [("t:p0", "kept", "train", "Coast", "o1", "p0", "k0"), ("t:p1", "kept", "train", "Forest", "o2", "p1", "k0"),
            ("t:collage", "kept", "train", "Coast", "o3", "pc", "k0"),  # p0 and p1 side by side
            ("t:n1", "kept", "train", "Coast", "o4", "n1", "k1"), ("t:n2", "kept", "train", "Forest", "o5", "n2", "k1")]
    catalog = catalog_of(rows)
    catalog["phash_panels"] = np.where(catalog["photo_id"] == "t:collage", "0123456789abcdef fedcba9876543210", None)
    want = {"images": 1, "exact_copies": 0, "near_duplicate_clusters": 1, "photos": 5, "collage_clusters": 1,
            "collage_photos": 3}
    for plan in three_plans(catalog, ExportConfig("imagefolder"), tmp_path, monkeypatch):
        assert plan.label_conflicts == want
        assert plan.flagged.get("image under two or more labels") == 5
    diptych = catalog.assign(label=np.where(catalog["photo_id"] == "t:p1", "Coast", catalog["label"]))
    diptych.loc[diptych["photo_id"] == "t:collage", "label"] = "Forest"  # a two-panel photo under a second label
    (tmp_path / "diptych").mkdir()
    for plan in three_plans(diptych, ExportConfig("imagefolder"), tmp_path / "diptych", monkeypatch):
        assert plan.label_conflicts["collage_clusters"] == 0 and plan.label_conflicts["near_duplicate_clusters"] == 2
    copies, collage = label_conflict_warnings(want)
    assert copies.startswith("1 image is exported under two or more labels (2 photos: 1 near-duplicate cluster)")
    assert collage.startswith("1 near-duplicate cluster exported under two or more labels holds a collage (3 photos)")
    assert "the collage is the photo to drop" in collage and "keep the copy" not in collage
    card = conflict_paragraph(want)
    assert "1 image (0 byte-identical, 1 near-duplicate cluster; 2 photos)" in card
    assert "A collage under two or more labels: 1 near-duplicate cluster (3 photos) holds a collage" in card


def decide(url: str, csrf: str, photo_id: str, action: str, label: str | None = None) -> str:
    body = {"photo_ids": [photo_id], "action": action, **({"label": label} if label else {})}
    answer = requests.post(f"{url}/api/decide", json=body, headers={"X-CSRF-Token": csrf}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["message"]


def test_a_review_that_keeps_an_image_under_two_labels_says_so_and_the_export_counts_it(tmp_path, capsys):
    """Audit AZ F2 end to end: the review app answered "keep: 1 photo(s)" to a decision that kept one image under
    two labels, and the export then wrote it under both with no warning, no count in export.json, nothing in the
    README. Now the answer names the conflict, and the export warns, counts and describes it."""
    from curate.review.app import create_app
    from curate.review.session import ReviewSession

    ws = demo_workspace(tmp_path / "ws", photos=80, seed=4)
    catalog = read_catalog(ws)
    labels = sorted(catalog["label"].dropna().unique())
    copy = catalog[catalog["drop_reason"] == "exact_duplicate"].iloc[0]  # a byte-identical copy, dropped
    twin = catalog[(catalog["sha256"] == copy["sha256"]) & (catalog["status"] == "kept")].iloc[0]
    assert twin["label"] == copy["label"]
    kept = catalog[catalog["status"] == "kept"]
    sizes = kept.groupby("near_dup_cluster").size()
    cluster = next(key for key in sizes[sizes >= 2].index if key != copy["near_dup_cluster"])
    near = kept[kept["near_dup_cluster"] == cluster]
    assert near["label"].nunique() == 1 and near["sha256"].is_unique

    session = ReviewSession(ws, user="tester")
    review_app = create_app(session)
    server, thread, url = start_server(review_app)
    try:
        csrf = review_app.state.csrf
        said = decide(url, csrf, copy["photo_id"], "keep")  # under its twin's label: nothing to say
        assert said == "keep: 1 photo(s)"
        other = next(label for label in labels if label != twin["label"])
        said = decide(url, csrf, copy["photo_id"], "relabel", other)
        assert "an image is now kept under two labels (byte-identical copies kept as" in said, said
        assert repr(other) in said and repr(twin["label"]) in said
        third = next(label for label in labels if label != near["label"].iloc[0])
        said = decide(url, csrf, near["photo_id"].iloc[-1], "relabel", third)
        assert "near-duplicates kept as" in said and "byte-identical" not in said, said
        assert session.flush()
    finally:
        server.should_exit = True
        thread.join(10)
        session.close()
    assert CliRunner().invoke(app, ["split", "--workspace", str(ws.root)]).exit_code == 0

    out = tmp_path / "out"
    code, stdout, err = cli(["export", "-f", "imagefolder", "-o", out, "-w", ws.root], capsys)
    assert code == 0, err
    photos = 2 + len(near)
    said = " ".join((stdout + err).split())
    assert (f"2 images are exported under two or more labels ({photos} photos: 1 byte-identical image, "
            "1 near-duplicate cluster)") in said
    assert "`curate review --queue duplicates`" in said
    export = json.loads((out / "export.json").read_text())
    assert export["label_conflicts"] == {"images": 2, "exact_copies": 1, "near_duplicate_clusters": 1,
                                         "photos": photos, "collage_clusters": 0, "collage_photos": 0}
    assert export["flagged"]["image under two or more labels"] == photos
    card = (out / "README.md").read_text()
    assert f"| exported, flagged: image under two or more labels | {photos} |" in card
    assert "An image under two or more labels: 2 images" in card
    # both copies are exported, under their two labels (the user decides which is right)
    files = {p.stem: p.parent.name for p in out.rglob("*.jpg")}
    stems = {name for name in files if copy["photo_id"].split(":")[1] in name or twin["photo_id"].split(":")[1] in name}
    assert len(stems) == 2 and len({files[name] for name in stems}) == 2
