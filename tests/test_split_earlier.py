"""A split placed again keeps the photos an earlier split placed (curate/split/earlier.py), on both catalog
engines: a collection that grows keeps its test photos in test; `--reshuffle`, or changed val/test/by/seed,
places every photo afresh and says how many moved.

Audit BV (2026-12-07): 3,242 real photos grown to 5,505 and split again as `curate status` asked: 232 of the
431 earlier test photos went to train, and nothing said so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curate.split import SplitConfig, run_split, split_catalog
from curate.workspace import Workspace, read_catalog, write_catalog
from tests.test_split import cli, make_catalog

LABELS = ("amsterdam", "berlin", "chicago")


def photos(batch: str, owners: int, per_owner: int, seed: int) -> list[dict]:
    """Rows of `owners` photographers, each with `per_owner` photos of random labels."""
    rng = np.random.default_rng(seed)
    return [{"source_id": f"{batch}-{o}-{i}", "owner_id": f"{batch}-owner{o}", "label": LABELS[rng.integers(3)]}
            for o in range(owners) for i in range(per_owner)]


def grown(first: pd.DataFrame, more: list[dict]) -> pd.DataFrame:
    """The first catalog (with its split) and new photos (no split), as an ingest of the new ones leaves it."""
    rows = first.to_dict("records") + make_catalog(more).to_dict("records")
    return make_catalog(rows)


@pytest.fixture(scope="module")
def first_split():
    catalog = make_catalog(photos("a", owners=60, per_owner=5, seed=1))
    result, _ = split_catalog(catalog, SplitConfig())
    return result


def by_id(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index("photo_id")["split"]


def test_new_photographers_leave_every_earlier_photo_where_it_was(first_split):
    catalog = grown(first_split, photos("b", owners=40, per_owner=5, seed=2))
    result, report = split_catalog(catalog, SplitConfig(), SplitConfig().__dict__)
    before, after = by_id(first_split), by_id(result)
    assert (after[before.index] == before).all()
    assert report.earlier == {"earlier": 300, "stayed": 300, "new": 200, "moved": {}, "dropped": 0, "why": {}}
    assert any(n.startswith("kept 300 of the 300 photos of the earlier split where they were; 200 new")
               for n in report.notes)
    assert not [w for w in report.warnings if "crossed" in w]
    new = after.drop(before.index)
    assert set(new) == {"train", "val", "test"}  # the new photographers fill every split
    # the whole still meets its shares as a fresh split would (within a few points per label)
    test_share = result.groupby("label")["split"].apply(lambda s: (s == "test").mean())
    assert ((test_share - 0.2).abs() <= 0.06).all(), test_share


def test_without_the_earlier_split_the_first_split_is_what_it_always_was(first_split):
    """No split in the catalog: the placement is the fresh one (the same seed gives the same split)."""
    catalog = first_split.assign(split=None)
    again, report = split_catalog(catalog, SplitConfig(), {})
    assert (by_id(again) == by_id(first_split)).all() and report.earlier == {}


def test_a_comparisons_random_split_ignores_the_split_the_catalog_holds(first_split):
    """`classify evaluate --compare-random-split` re-splits the curated catalog photo by photo (no earlier
    settings): the owner split it holds must play no part, or the comparison is the owner split again."""
    from classify.compare import random_split_catalog

    catalog = grown(first_split, photos("b", owners=40, per_owner=5, seed=2))
    random, report = random_split_catalog(catalog, SplitConfig())
    fresh, _ = split_catalog(catalog.assign(split=None), SplitConfig(by="none"))
    assert (by_id(random) == by_id(fresh)).all() and report.earlier == {}
    assert (by_id(random)[first_split["photo_id"]] != by_id(first_split)).sum() > 50


def test_a_new_photo_joining_a_train_and_a_test_photographer_moves_the_smaller_and_warns(first_split):
    before = by_id(first_split)
    owners = first_split.groupby("owner_id")["split"].first()
    train_owner = owners[owners == "train"].index[0]
    test_owner = owners[owners == "test"].index[0]
    # a new copy under the train photographer links to a test photographer's photo (same exact image)
    test_photo = first_split.loc[first_split["owner_id"] == test_owner].iloc[0]
    more = [{"source_id": "copy", "owner_id": train_owner, "label": test_photo["label"],
             "sha256": test_photo["sha256"]}]
    catalog = grown(first_split, more)
    catalog.loc[catalog["photo_id"] == test_photo["photo_id"], "exact_dup_group"] = test_photo["photo_id"]
    catalog.loc[catalog["source_id"] == "copy", "exact_dup_group"] = test_photo["photo_id"]
    result, report = split_catalog(catalog, SplitConfig(), SplitConfig().__dict__)
    after = by_id(result)
    joined = first_split.loc[first_split["owner_id"].isin([train_owner, test_owner]), "photo_id"]
    assert after[joined].nunique() == 1  # one group now, on one side
    moved = int((after[before.index] != before).sum())
    assert moved == 5 and report.earlier["stayed"] == 295  # the five photos of one photographer moved
    [warning] = [w for w in report.warnings if "crossed between train and val/test" in w]
    assert warning.startswith("5 photos of the earlier split crossed") and "has seen them" in warning
    assert report.earlier["why"] == {"joined": 5}
    assert "5 joined by a new photo, a new copy or a changed owner" in warning
    assert "--dedupe-near" in warning and "no other training photo" not in warning


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_photos_moved_for_a_labels_training_photo_are_not_blamed_on_copies(tmp_path, engine, first_split):
    """Review BY F5: a val photographer's photos relabelled to a new label that then had no training photo
    moved to train, and the warning named copies and `--dedupe-near`, which had nothing to do with it."""
    owners = first_split.groupby("owner_id")["split"].first()
    val_owner = owners[owners == "val"].index[0]
    catalog = first_split.copy()
    catalog.loc[catalog["owner_id"] == val_owner, "label"] = "york"
    ws = Workspace(tmp_path / engine)
    ws.root.mkdir()
    write_catalog(ws, catalog)
    report = run_split(ws, SplitConfig(), engine=engine)
    after = by_id(read_catalog(ws))
    assert (after[catalog.loc[catalog["owner_id"] == val_owner, "photo_id"]] == "train").all()
    assert report.earlier["moved"] == {"val → train": 5} and report.earlier["why"] == {"training": 5}
    [warning] = [w for w in report.warnings if "crossed between train and val/test" in w]
    assert "5 in a group moved to train because its label had no other training photo" in warning
    assert "--dedupe-near" not in warning and "new copy" not in warning


@pytest.mark.parametrize("config, why", [(SplitConfig(val=0.2), "val 0.1 → 0.2"),
                                         (SplitConfig(seed=5), "seed 0 → 5"),
                                         (SplitConfig(reshuffle=True), "--reshuffle")])
def test_changed_settings_or_reshuffle_place_every_photo_afresh_and_count_the_moves(first_split, config, why):
    catalog = grown(first_split, photos("b", owners=40, per_owner=5, seed=2))
    result, report = split_catalog(catalog, config, SplitConfig().__dict__)
    fresh, _ = split_catalog(catalog.assign(split=None), config)
    assert (by_id(result) == by_id(fresh)).all()  # the earlier split played no part
    before, after = by_id(first_split), by_id(result)
    stayed = int((after[before.index] == before).sum())
    assert stayed < 300 and report.earlier["stayed"] == stayed
    assert any(n.startswith(f"every photo placed afresh ({why}): {stayed} of the 300 photos") for n in report.notes)
    crossed = [w for w in report.warnings if "crossed between train and val/test" in w]
    assert len(crossed) == 1 and "placed afresh" in crossed[0]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_curate_split_again_on_a_grown_workspace_keeps_the_earlier_split_on_both_engines(tmp_path, engine,
                                                                                        first_split):
    """The audit's sequence through the command line: split, more photos, split again; `--reshuffle` after."""
    ws = Workspace(tmp_path / "ws")
    ws.root.mkdir()
    write_catalog(ws, first_split.assign(split=None))
    shown = cli("split", "-w", ws.root, "--catalog-engine", engine)
    assert shown.exit_code == 0, shown.output
    first = by_id(read_catalog(ws))
    write_catalog(ws, grown(read_catalog(ws), photos("b", owners=40, per_owner=5, seed=2)))
    shown = cli("split", "-w", ws.root, "--catalog-engine", engine)
    assert shown.exit_code == 0, shown.output
    assert "note: kept 300 of the 300 photos of the earlier split where they were; 200 new" in shown.output
    second = by_id(read_catalog(ws))
    assert (second[first.index] == first).all()
    saved = json.loads((ws.reports_dir / "split.json").read_text())
    assert saved["earlier"] == {"earlier": 300, "stayed": 300, "new": 200, "moved": {}, "dropped": 0, "why": {}}
    assert saved["config"]["reshuffle"] is False
    shown = cli("split", "-w", ws.root, "--catalog-engine", engine, "--reshuffle")
    assert shown.exit_code == 0, shown.output
    assert "note: every photo placed afresh (--reshuffle)" in shown.output
    assert "warning: " in shown.output and "crossed between train and val/test" in shown.output
    third = by_id(read_catalog(ws))
    assert (third != second).any()


def test_both_engines_place_a_grown_workspace_alike(tmp_path, first_split):
    """The same earlier split, a merge and new photos: the DuckDB engine gives the pandas split and report."""
    catalog = grown(first_split, photos("b", owners=40, per_owner=5, seed=2)
                    + [{"source_id": "x", "owner_id": first_split["owner_id"].iloc[0], "label": "berlin"}])
    reports = {}
    for engine in ("pandas", "duckdb"):
        ws = Workspace(tmp_path / engine)
        ws.root.mkdir()
        write_catalog(ws, catalog)
        reports[engine] = (run_split(ws, SplitConfig(), engine=engine).to_dict(), by_id(read_catalog(ws)))
    assert reports["pandas"][0]["earlier"] == reports["duckdb"][0]["earlier"]
    assert reports["pandas"][0]["notes"] == reports["duckdb"][0]["notes"]
    assert (reports["pandas"][1] == reports["duckdb"][1][reports["pandas"][1].index]).all()


def test_a_split_asked_to_leave_val_empty_empties_it_even_without_the_earlier_settings(first_split):
    """Review BY: a catalog split elsewhere (no saved settings) pinned its val photos in val although --val 0
    asked for none: groups pinned to a split now asked to be empty are placed afresh."""
    result, report = split_catalog(first_split, SplitConfig(val=0.0), {})
    assert not (result["split"] == "val").any()
    before, after = by_id(first_split), by_id(result)
    assert (after[before == "test"] == "test").all() and (after[before == "train"] == "train").all()
    assert report.earlier["moved"] == {f"val → {where}": n for where, n in
                                       after[before == "val"].value_counts().sort_index(ascending=False).items()}
    assert report.earlier["why"] == {"emptied": int((before == "val").sum())}


def test_status_does_not_carry_a_reshuffle_into_its_advice(tmp_path, first_split):
    """Review BY: after one `curate split --reshuffle`, the stale split's advice said `curate split --reshuffle`,
    so following it moved test photos again on every re-run."""
    from curate.freshness_advice import command_for

    config = {**SplitConfig(reshuffle=True, val=0.2).__dict__}
    assert command_for("split", {"config": config}) == "curate split --val 0.2"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_photos_of_the_earlier_split_dropped_since_are_counted(tmp_path, engine, first_split):
    """Review BY F9: with 5 of the earlier split's photos deleted since, the note said "kept 295 of the 295"."""
    catalog = first_split.copy()
    gone = catalog.index[:5]
    catalog.loc[gone, ["status", "drop_reason", "drop_stage"]] = ["dropped", "missing_file", "ingest"]
    ws = Workspace(tmp_path / engine)
    ws.root.mkdir()
    write_catalog(ws, catalog)
    report = run_split(ws, SplitConfig(), engine=engine)
    assert report.earlier["dropped"] == 5 and report.earlier["earlier"] == 295
    assert any(n.startswith("kept 295 of the 295 photos of the earlier split where they were (5 more of its "
                            "photos are dropped since and leave it)") for n in report.notes), report.notes


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_split_left_empty_by_the_earlier_placement_says_reshuffle_fills_it(tmp_path, engine, first_split):
    """Review DU (audit DQ 1): an earlier split made when collages chained most photos into one group put them all in
    train; once the filter set the collages apart, the groups kept their sides, val and test stayed empty, and the
    advice named only --dedupe-near. The warning now says --reshuffle would fill them; it does."""
    catalog = first_split.assign(split="train")  # every photo placed in train by an earlier split
    ws = Workspace(tmp_path / engine)
    ws.root.mkdir()
    write_catalog(ws, catalog)
    report = run_split(ws, SplitConfig(), engine=engine)
    assert set(read_catalog(ws)["split"]) == {"train"}
    [warning] = [w for w in report.warnings if "--reshuffle" in w]
    assert warning.startswith("the val and test splits are empty only because the photos of the earlier split keep "
                              "their sides (60 of its groups stay in train)")
    report = run_split(ws, SplitConfig(reshuffle=True), engine=engine)
    assert set(read_catalog(ws)["split"]) == {"train", "val", "test"}
    assert not [w for w in report.warnings if "empty only because" in w]


def test_no_reshuffle_advice_where_a_fresh_placement_would_leave_the_split_empty_too():
    """One photographer: no placement can fill val or test, so the earlier sides are not the cause."""
    catalog = make_catalog(photos("c", owners=1, per_owner=12, seed=3)).assign(split="train")
    _, report = split_catalog(catalog, SplitConfig(), SplitConfig().__dict__)
    assert not [w for w in report.warnings if "empty only because" in w]


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_a_split_left_short_by_the_earlier_placement_says_reshuffle_fills_it(tmp_path, engine, first_split):
    """Audit DY: after --dedupe-near unchained a group, a second split kept the earlier sides with val at 38 photos
    where --reshuffle gave it 71, and only a note's aside named --reshuffle."""
    owners = first_split.groupby("owner_id")["split"].first()
    keep_val = owners[owners == "val"].index[0]
    catalog = first_split.copy()
    catalog.loc[(catalog["split"] == "val") & (catalog["owner_id"] != keep_val), "split"] = "train"  # val: 5 photos
    ws = Workspace(tmp_path / engine)
    ws.root.mkdir()
    write_catalog(ws, catalog)
    report = run_split(ws, SplitConfig(), engine=engine)
    assert (read_catalog(ws)["split"] == "val").sum() == 5
    [warning] = [w for w in report.warnings if "--reshuffle" in w]
    assert warning.startswith("the val split holds 5 photos (2%, 10% asked) where a fresh placement gives it ")
    assert not [w for w in split_catalog(first_split, SplitConfig(), SplitConfig().__dict__)[1].warnings
                if "--reshuffle" in w]  # the earlier split itself, unchanged: nothing to say
