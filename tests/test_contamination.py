"""`curate check-leakage --against OTHER`: the kept photos that are copies of another collection's photos (a
benchmark's test set in a scrape), on real 15-Scene photos, by the filter's own near-duplicate rule."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import REALDATA, examples, no_fsync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.contamination import COLUMNS, SHOWN_OTHERS, copies_of
from curate.ingest.folder import FolderOptions, ingest_folder
from curate.workspace import Workspace, read_catalog

SCENES = REALDATA / "scenes15"
needs_scenes = pytest.mark.skipif(not SCENES.is_dir(), reason="needs ../shared/realdata/scenes15")
CLASSES = ("Coast", "Forest", "Street", "TallBuilding")
runner = CliRunner()


def edited(path: Path, how: str) -> bytes:
    """A real photo edited the way a re-post edits it: shrunk to 60 %, saved at JPEG quality 35, or greyscale."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if how == "shrunk":
            image = image.resize((image.width * 3 // 5, image.height * 3 // 5), Image.BICUBIC)
        elif how == "grey":
            image = ImageOps.grayscale(image).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=35 if how == "q35" else 90)
        return buffer.getvalue()


@pytest.fixture(scope="module")
def collections(tmp_path_factory):
    """Ours: 10 train photos of each of 4 classes. Theirs (a test set): 3 of ours byte for byte, 3 of ours
    edited, and 14 other photos of the same classes, from 15-Scene's test half."""
    if not SCENES.is_dir():
        pytest.skip("needs ../shared/realdata/scenes15")
    base = tmp_path_factory.mktemp("contamination")
    ours, theirs = base / "scrape", base / "benchmark"
    for label in CLASSES:
        (ours / label).mkdir(parents=True)
        (theirs / label).mkdir(parents=True)
        for path in sorted((SCENES / "train" / label).glob("*.jpg"))[:10]:
            shutil.copy(path, ours / label / path.name)
        for path in sorted((SCENES / "test" / label).glob("*.jpg"))[:4 if label != "Coast" else 2]:
            shutil.copy(path, theirs / label / f"test_{path.name}")
    copied = {label: sorted((ours / label).iterdir())[0] for label in ("Coast", "Forest", "Street")}
    for label, path in copied.items():
        shutil.copy(path, theirs / label / f"copy_{path.name}")
    for label, how in zip(copied, ("shrunk", "q35", "grey")):
        second = sorted((ours / label).iterdir())[1]
        (theirs / label / f"{how}_{second.name}").write_bytes(edited(second, how))
    workspaces = Workspace(base / "ws"), Workspace(base / "ws-benchmark")
    with no_fsync():
        for ws, folder in zip(workspaces, (ours, theirs)):
            ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    return workspaces


def test_copies_of_a_benchmark_in_a_scrape_are_found_and_nothing_else(collections):
    ours, theirs = collections
    report = copies_of(ours, theirs)
    assert (report.checked, report.other_images) == (40, 20)
    found = {row.photo_id.rsplit("/", 1)[-1]: row for row in report.copies.itertuples()}
    catalog = read_catalog(ours).set_index("photo_id")
    names = {label: sorted(catalog.index[catalog["label"] == label])[:2] for label in ("Coast", "Forest", "Street")}
    exact = {ids[0].rsplit("/", 1)[-1] for ids in names.values()}
    near = {ids[1].rsplit("/", 1)[-1] for ids in names.values()}
    assert {name for name, row in found.items() if row.kind == "exact"} == exact
    assert {name for name, row in found.items() if row.kind == "near"} == near  # shrunk, JPEG 35, greyscale
    assert all(row.other_photos == 1 and row.other_labels == row.label for row in found.values())
    assert any("pHash alone" in note for note in report.notes)  # neither workspace was embedded
    assert "6 of 40 kept photos (no split 6) are copies" in report.summary("benchmark")


def test_check_leakage_against_exits_3_and_lists_the_copies(collections, tmp_path):
    ours, theirs = collections
    result = runner.invoke(app, ["check-leakage", "-w", str(ours.root), "--against", str(theirs.root), "--json"])
    assert result.exit_code == 3, result.output
    found = json.loads(result.output)
    assert found["copies_count"] == 6 and found["count"] == 0 and found["other_images"] == 20
    plain = runner.invoke(app, ["check-leakage", "-w", str(ours.root), "--against", str(theirs.root)])
    assert plain.exit_code == 3 and "no split yet" in plain.output and "6 of 40 kept photos" in plain.output
    # audit CB F5: the copies came with no word on how to drop them
    said = " ".join(plain.output.split())
    assert f"`curate check-leakage --against {theirs.root} --drop-decisions copies.jsonl`, then " \
        "`curate review --import-decisions copies.jsonl`, drops them; then run `curate split` again" in said

    clean = runner.invoke(app, ["check-leakage", "-w", str(theirs.root), "--against", str(tmp_path / "nothing")])
    assert clean.exit_code == 2 and "neither a workspace nor a folder of photos" in clean.output
    assert "Traceback" not in clean.output
    same = runner.invoke(app, ["check-leakage", "-w", str(ours.root), "--against", str(ours.root)])
    assert same.exit_code == 2 and "names this workspace" in same.output


def test_a_clean_split_beside_copies_of_another_collection_does_not_read_as_no_leakage(collections, tmp_path):
    """Audit P: a run that found copies of the other collection and exited 3 began with "no leakage: ..."."""
    ours, theirs = collections
    mine = tmp_path / "mine"
    shutil.copytree(ours.root, mine)
    assert runner.invoke(app, ["split", "-w", str(mine)]).exit_code == 0
    result = runner.invoke(app, ["check-leakage", "-w", str(mine), "--against", str(theirs.root)])
    assert result.exit_code == 3, result.output
    assert "no leakage" not in result.output
    assert "the split itself does not leak" in result.output and "6 of 40 kept photos" in result.output


def test_a_folder_checked_against_says_how_its_labels_were_read(collections, tmp_path):
    """Audit P: a folder given to --against is ingested as `curate ingest folder` ingests it, label folders over a
    sidecar's label column, but without the line ingest prints about it: the copies' labels read `img`."""
    from curate.contamination import against_workspace

    ours, _ = collections
    folder = tmp_path / "benchmark" / "img"
    folder.mkdir(parents=True)
    names = [path.name for path in sorted((SCENES / "test" / "Coast").glob("*.jpg"))[:3]]
    for name in names:
        shutil.copy(SCENES / "test" / "Coast" / name, folder / name)
    (folder.parent / "metadata.csv").write_text("file,label\n" + "".join(f"img/{name},Coast\n" for name in names))
    mine = Workspace(tmp_path / "mine")
    shutil.copytree(ours.root, mine.root)
    _, notes = against_workspace(mine, folder.parent)
    said = [note for note in notes if note.startswith(f"{folder.parent}: ")]
    assert said and any("label" in note for note in said), notes
    assert any("ingest it yourself" in note for note in notes)


@needs_scenes
def test_with_both_workspaces_embedded_a_crop_is_found_on_the_pixels_of_both(tmp_path):
    """A crop's pHash is far from its original's; the embeddings make it a candidate and the window match
    reads the two images' pixels, one from each workspace's store. The vectors are planted in the caches
    (the crop's is its original's, the others random), so no model runs here."""
    import numpy as np

    from curate.embed import EmbeddingCache
    from curate.filters import verify

    ours, theirs = tmp_path / "scrape" / "Coast", tmp_path / "benchmark" / "Coast"
    ours.mkdir(parents=True)
    theirs.mkdir(parents=True)
    originals = sorted((SCENES / "train" / "Coast").glob("*.jpg"))[:12]
    for path in originals:
        shutil.copy(path, ours / path.name)
    with Image.open(originals[3]) as image:
        width, height = image.size
        image.convert("RGB").crop((width * 12 // 100, height // 10, width * 9 // 10, height * 92 // 100)).save(
            theirs / "crop.jpg", quality=90)
    for path in sorted((SCENES / "test" / "Coast").glob("*.jpg"))[:3]:
        shutil.copy(path, theirs / path.name)
    shutil.copy(originals[5], theirs / "copy.jpg")  # a byte copy: one image, embedded in both workspaces
    workspaces = Workspace(tmp_path / "ws"), Workspace(tmp_path / "ws-benchmark")
    rng = np.random.default_rng(0)
    with no_fsync():
        for ws, folder in zip(workspaces, (ours.parent, theirs.parent)):
            ingest_folder(ws, FolderOptions(folder=folder, workers=2))
    by_name = {}
    for ws in workspaces:
        catalog = read_catalog(ws)
        for photo_id, sha in zip(catalog["photo_id"], catalog["sha256"]):
            by_name[photo_id.rsplit("/", 1)[-1]] = (ws, sha)
    vectors = {name: rng.normal(size=1280).astype(np.float32) for name in by_name}
    vectors["crop.jpg"] = vectors[originals[3].name] + 0.05 * rng.normal(size=1280).astype(np.float32)
    vectors["copy.jpg"] = vectors[originals[5].name]
    for ws in workspaces:
        names = [name for name, (owner, _) in by_name.items() if owner is ws]
        EmbeddingCache(ws, verify.EMBEDDING_BACKBONE).append([by_name[name][1] for name in names],
                                                             np.stack([vectors[name] for name in names]),
                                                             np.ones(len(names), bool))
    report = copies_of(*workspaces)
    assert sorted((row.photo_id.rsplit("/", 1)[-1], row.kind) for row in report.copies.itertuples()) == \
        [(originals[3].name, "near"), (originals[5].name, "exact")]
    assert not any("pHash alone" in note for note in report.notes)


def test_drop_decisions_take_the_copies_out_through_review(collections, tmp_path):
    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root)
    decisions = tmp_path / "copies.jsonl"
    args = ["check-leakage", "-w", str(mine.root), "--against", str(theirs.root), "--drop-decisions", str(decisions)]
    assert runner.invoke(app, args).exit_code == 3
    first = decisions.read_text()
    assert runner.invoke(app, args).exit_code == 3 and decisions.read_text().count("\n") == 6
    assert [json.loads(line)["id"] for line in first.splitlines()] == \
        [json.loads(line)["id"] for line in decisions.read_text().splitlines()]  # the same ids: imports once
    imported = runner.invoke(app, ["review", "-w", str(mine.root), "--import-decisions", str(decisions)])
    assert imported.exit_code == 0, imported.output
    catalog = read_catalog(mine)
    assert (catalog["drop_reason"] == "reviewed").sum() == 6
    again = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(theirs.root)])
    assert again.exit_code == 0 and "no copies: none of 34 kept photos" in " ".join(again.output.split())
    lonely = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--drop-decisions", str(decisions)])
    assert lonely.exit_code == 2 and "add --against" in lonely.output


def test_a_recipes_leakage_section_checks_against_another_workspace(collections, tmp_path):
    """`[leakage] against` (relative to the recipe) makes `curate run`'s check-leakage step look for copies too:
    found, they are the step's warning with the commands that drop them; the other catalog is in its fingerprint."""
    from curate.pipeline.runner import StepSummary
    from curate.pipeline.steps import stage_steps
    from curate.recipes import load_recipe

    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root)
    assert runner.invoke(app, ["split", "-w", str(mine.root)]).exit_code == 0
    recipe_path = tmp_path / "recipes" / "scenes.toml"
    recipe_path.parent.mkdir()
    relative = Path("..") / ".." / theirs.root.relative_to(tmp_path.parent)
    labels = "".join(f'[[labels]]\nname = "{label}"\n' for label in CLASSES)
    recipe_path.write_text(f'name = "scenes"\n{labels}[prefilter]\nlabel_issues_only = true\n'
                           f'[leakage]\nagainst = "{relative}"\n')
    [step] = [step for step in stage_steps(load_recipe(str(recipe_path)), train=False) if step.name == "check-leakage"]
    assert Path(step.settings["against"]).resolve() == theirs.root.resolve() and step.settings["against_catalog"]
    summary = step.action(mine)
    assert isinstance(summary, StepSummary) and summary.line.startswith("no owner")
    [warning] = summary.warnings
    assert "6 of 40 kept photos" in warning and "--drop-decisions" in warning and "--import-decisions" in warning
    saved = json.loads((mine.root / "reports" / "contamination.json").read_text())  # for `curate report`
    assert saved["copies_count"] == 6 and saved["against"] == str(Path(step.settings["against"]))


def test_against_a_folder_of_photos_ingests_it_into_a_workspace_of_its_own(collections, tmp_path):
    """`--against benchmark/` (photos, no workspace): ingested under this workspace's cache on the first check
    (and embedded when this workspace is: here it is not), brought up to date on the next, never inside the
    benchmark folder; a folder holding this workspace is refused."""
    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root)
    benchmark = theirs.root.parent / "benchmark"  # the folder the fixture ingested into ws-benchmark
    first = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(benchmark)])
    assert first.exit_code == 3, first.output
    output = " ".join(first.output.split())
    assert "6 of 40 kept photos" in output and "ingested as a workspace of its own" in output
    assert "20 new images read" in output and "embedded as this workspace is" not in output
    [cached] = list((mine.root / "cache" / "against").iterdir())
    assert cached.name.startswith("benchmark-") and (cached / "catalog.parquet").is_file()
    second = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(benchmark)])
    assert second.exit_code == 3 and "0 new images read, 20 there already" in " ".join(second.output.split())
    as_json = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(benchmark), "--json"])
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["copies_count"] == 6  # the notes go to stderr
    assert "ingested as a workspace of its own" in as_json.stderr
    around = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(tmp_path)])
    assert around.exit_code == 2 and "holds this workspace" in around.output
    junk = tmp_path / "junk"  # audit H: "no photos with stored images to embed; run `curate ingest` first"
    junk.mkdir()
    (junk / "b.jpg").write_text("junk")
    (junk / "c.png").write_bytes(b"")
    refused = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(junk)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 2 and "holds no readable image (1 empty_file, 1 not_an_image)" in said, said


def test_a_folder_is_embedded_when_this_workspace_is(collections, tmp_path, monkeypatch):
    """Both sides need the same evidence: with this workspace embedded, the folder's new workspace is embedded
    by the rule's backbone before the check (the model itself is stubbed here; the embedded path is tested
    above with planted vectors)."""
    import curate.embed as embed_module
    from curate.contamination import against_workspace
    from curate.filters import verify

    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root)
    calls = []
    monkeypatch.setattr(embed_module, "run_embed",
                        lambda ws, config: calls.append((ws.root, config.backbone)) or type("R", (), {"computed": 20}))
    _, notes = against_workspace(mine, theirs.root.parent / "benchmark")
    assert calls == [] and len(notes) == 1  # this workspace has no embeddings: pHash on both sides
    (mine.root / "cache" / "embeddings" / verify.EMBEDDING_BACKBONE).mkdir(parents=True)
    other, notes = against_workspace(mine, theirs.root.parent / "benchmark")
    assert calls == [(other.root, verify.EMBEDDING_BACKBONE)] and "embedded as this workspace is" in notes[1]


def test_the_same_bytes_are_a_copy_even_without_a_cluster():
    """An image whose pHash could not be read is in no cluster; its bytes still match."""
    from curate.contamination import _copies

    ours = pd.DataFrame({"photo_id": ["o1", "o2"], "sha256": ["aa", "bb"], "split": [None, "train"],
                         "label": ["x", "y"]})
    theirs = pd.DataFrame({"photo_id": ["t1", "t2"], "sha256": ["aa", "cc"], "label": ["x", None]})
    copies = _copies(ours, theirs, {"cc": 0, "bb": 1})  # "aa" has no cluster: unreadable pHash
    assert copies[["photo_id", "kind", "other_photo_ids"]].values.tolist() == [["o1", "exact", "t1"]]


def test_the_rule_is_the_one_the_filter_last_ran_with(collections, tmp_path):
    """A recipe's or the command line's near-duplicate settings make the filter's copies; the check between
    collections reads them from the filter's report, so that it calls the same pairs copies. Strict limits
    (no pHash bits, colours and tones within 0.1) leave the JPEG-35 copy out; the defaults find it."""
    from curate.contamination import rule_config
    from curate.filters.config import FilterConfig

    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root)
    assert rule_config(mine) == (FilterConfig(), None)  # the filter has not run here
    strict = ["--near-dup-bits", "0", "--near-dup-colour-diff", "0.1", "--near-dup-tone-diff", "0.1"]
    result = runner.invoke(app, ["filter", "-w", str(mine.root), *strict])
    assert result.exit_code == 0, result.output
    config, note = rule_config(mine)
    assert (config.near_dup_bits, config.near_dup_colour_diff, config.near_dup_tone_diff) == (0, 0.1, 0.1)
    assert "near_dup_bits 0" in note and "near_dup_tone_diff 0.1" in note
    report = copies_of(mine, theirs)
    assert note in report.notes
    strict_kinds = dict(zip(report.copies["photo_id"], report.copies["kind"]))
    default = copies_of(mine, theirs, config=FilterConfig())
    default_kinds = dict(zip(default.copies["photo_id"], default.copies["kind"]))
    [left_out] = set(default_kinds) - set(strict_kinds)
    assert len(default_kinds) == 6 and default_kinds[left_out] == "near"
    assert set(strict_kinds) < set(default_kinds)

    (mine.root / "reports" / "filter.json").write_text(json.dumps({"stage": "filter", "config": {
        "near_dup_bits": "many", "near_dup_colour_diff": 3}}))
    assert rule_config(mine) == (FilterConfig(), None)  # a report it cannot use: the defaults, not a crash
    (mine.root / "reports" / "filter.json").write_text("{not json")
    assert rule_config(mine) == (FilterConfig(), None)


def test_the_report_shows_the_last_check_against_another_collection(collections, tmp_path):
    """`curate report` shows the copies the last `check-leakage --against` found (a section after the splits),
    and says when the catalog has changed since; without such a check there is no section."""
    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root, ignore=shutil.ignore_patterns("contamination.json"))
    out = tmp_path / "report"
    assert runner.invoke(app, ["report", "-w", str(mine.root), "--out", str(out)]).exit_code == 0
    assert "copies" not in json.loads((out / "report.json").read_text())["sections"]

    check = runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(theirs.root)])
    assert check.exit_code == 3, check.output
    assert runner.invoke(app, ["report", "-w", str(mine.root), "--out", str(out)]).exit_code == 0
    report = json.loads((out / "report.json").read_text())
    keys = list(report["sections"])
    assert keys[keys.index("splits") + 1] == "copies"
    copies = report["sections"]["copies"]
    assert copies["copies_count"] == 6 and copies["exact"] == 3 and copies["per_split"] == {"no split": 6}
    assert copies["against"] == str(theirs.root) and "stale" not in copies
    catalog = read_catalog(mine).set_index("photo_id")
    assert {row["photo_id"] for row in copies["copies"]} <= set(catalog.index)
    page = (out / "index.html").read_text()
    assert "8b. Copies of another collection" in page and "6 of 40 kept photos" in page
    assert copies["copies"][0]["photo_id"] in page and "--import-decisions" in page

    assert runner.invoke(app, ["split", "-w", str(mine.root)]).exit_code == 0  # the catalog changes
    assert runner.invoke(app, ["report", "-w", str(mine.root), "--out", str(out)]).exit_code == 0
    stale = json.loads((out / "report.json").read_text())["sections"]["copies"]
    assert "changed since this check" in stale["stale"]
    assert "changed since this check" in (out / "index.html").read_text()

    (mine.root / "reports" / "contamination.json").write_text("{cut short")  # damaged: a warning, not a refusal
    result = runner.invoke(app, ["report", "-w", str(mine.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    damaged = json.loads((out / "report.json").read_text())
    assert "copies" not in damaged["sections"]
    assert any("contamination.json is unreadable" in line and "--against" in line for line in damaged["warnings"])


def test_copies_found_are_said_by_status_the_report_banner_and_export(collections, tmp_path):
    """An audit found a positive check (exit 3) visible only in the report's own section: its banner, `curate
    status` and `curate export` (whose card says the split is leak-free) said nothing. Each says it now."""
    ours, theirs = collections
    mine = Workspace(tmp_path / "ws")
    shutil.copytree(ours.root, mine.root, ignore=shutil.ignore_patterns("contamination.json"))
    assert runner.invoke(app, ["split", "-w", str(mine.root)]).exit_code == 0
    status = runner.invoke(app, ["status", "-w", str(mine.root)])
    assert status.exit_code == 0 and "check-leakage --against" not in status.output  # no check yet: no line
    assert runner.invoke(app, ["check-leakage", "-w", str(mine.root), "--against", str(theirs.root)]).exit_code == 3

    status = runner.invoke(app, ["status", "-w", str(mine.root)])
    said = " ".join(status.output.split())
    assert "warning (check-leakage): the last `curate check-leakage --against" in said and "found 6 kept photos" in said
    facts = json.loads(runner.invoke(app, ["status", "-w", str(mine.root), "--json"]).output)
    assert "found 6 kept photos" in facts["copies_of_other"]
    out = tmp_path / "report"
    assert runner.invoke(app, ["report", "-w", str(mine.root), "--out", str(out)]).exit_code == 0
    report = json.loads((out / "report.json").read_text())
    [line] = report["stage_warnings"]["check-leakage"]
    assert "found 6 kept photos" in line and "found 6 kept photos" in (out / "index.html").read_text()

    export = tmp_path / "export"
    result = runner.invoke(app, ["export", "-w", str(mine.root), "--format", "imagefolder", "--out", str(export)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "warning: the last `curate check-leakage --against" in said and "found 6 kept photos" in said  # not a note
    listed = runner.invoke(app, ["export", "-w", str(mine.root), "--format", "imagefolder", "--out", str(export),
                                 "--json"])
    facts = json.loads(listed.stdout)
    assert "found 6 kept photos" in facts["warnings"][0] and not [n for n in facts["notes"] if "found 6" in n]
    manifest = json.loads((export / "export.json").read_text())
    assert "found 6 kept photos" in manifest["provenance"]["leakage"]
    assert "found 6 kept photos" in (export / "README.md").read_text()


def test_an_exact_and_a_near_copy_of_one_photo_list_the_exact_one_first():
    """A photo of ours with a byte copy and an edited copy in theirs: `exact`, the byte copies named first
    (theirs' order after them), the cluster's images counted and labelled whole; a photo of ours that is only
    near the same cluster names them in theirs' order; more than SHOWN_OTHERS end with an ellipsis."""
    from curate.contamination import _copies

    ours = pd.DataFrame({"photo_id": ["o1", "o2", "o3"], "sha256": ["aa", "bb", "zz"], "split": ["test", None, "val"],
                         "label": ["x", "x", "y"]}, index=[7, 3, 5])
    theirs = pd.DataFrame({"photo_id": ["t1", "t2", "t3", "t4", "t5"], "sha256": ["cc", "aa", "dd", "aa", "ee"],
                           "label": ["x", "y", None, "10", "9"]}, index=[4, 0, 2, 1, 3])
    copies = _copies(ours, theirs, {"aa": 0, "bb": 0, "cc": 0, "dd": 0, "ee": 1, "zz": 2})
    assert copies.drop(columns="split").to_dict("list") == {
        "photo_id": ["o1", "o2"], "label": ["x", "x"], "kind": ["exact", "near"], "other_photos": [4, 4],
        "other_photo_ids": ["t2, t4, t1, …", "t1, t2, t3, …"], "other_labels": ["10, x, y", "10, x, y"]}
    assert copies["split"].iloc[0] == "test" and pd.isna(copies["split"].iloc[1])
    assert copies.equals(_copies_reference(ours, theirs, {"aa": 0, "bb": 0, "cc": 0, "dd": 0, "ee": 1, "zz": 2}))


SHAS = ("aa", "bb", "cc", "dd", "ee", "ff")
LABELS = {  # label columns as catalogs and hand-made frames hold them
    "object": st.sampled_from([None, "cat", "dog", "Dog"]),
    "str": st.sampled_from([None, "cat", "dog", "Dog"]),
    "category": st.sampled_from([None, "cat", "dog", "Dog"]),
    "int": st.sampled_from([9, 10, 2]),  # str() then sorted: "10" before "9"
    "float": st.sampled_from([None, 9.0, 10.5]),
}


@st.composite
def copies_inputs(draw) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Small ours / theirs / cluster_of: shared and unshared bytes, clusters holding several of theirs or only
    ours, images in no cluster (an unreadable pHash), empty frames, shuffled indexes, several label dtypes."""
    n_ours, n_theirs = draw(st.integers(0, 7)), draw(st.integers(0, 14))
    kind = draw(st.sampled_from(sorted(LABELS)))

    def labels(count: int) -> pd.Series:
        values = pd.Series(draw(st.lists(LABELS[kind], min_size=count, max_size=count)), dtype=object)
        if kind in ("str", "category"):
            return values.astype(kind)
        return values.astype({"int": "int64", "float": "float64"}.get(kind, object))

    def frame(prefix: str, count: int, **extra) -> pd.DataFrame:
        index = draw(st.permutations(range(count))) if draw(st.booleans()) else range(count)
        return pd.DataFrame({"photo_id": [f"{prefix}{i}" for i in range(count)],
                             "sha256": draw(st.lists(st.sampled_from(SHAS), min_size=count, max_size=count)),
                             **extra, "label": labels(count).to_numpy()}, index=list(index))

    splits = draw(st.lists(st.sampled_from([None, "train", "test"]), min_size=n_ours, max_size=n_ours))
    ours = frame("o", n_ours, split=pd.Series(splits, dtype=object).to_numpy())
    theirs = frame("t", n_theirs)
    if kind in ("str", "category"):  # .to_numpy() above made them object again
        ours["label"], theirs["label"] = ours["label"].astype(kind), theirs["label"].astype(kind)
    clusters = draw(st.lists(st.sampled_from([None, 0, 1, 2]), min_size=len(SHAS), max_size=len(SHAS)))
    cluster_of = {sha: cluster for sha, cluster in zip(SHAS, clusters) if cluster is not None}
    return ours, theirs, cluster_of


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copies_inputs())
def test_copies_are_those_of_the_loop_it_replaced(inputs):
    """The vectorised `_copies` gives the rows, columns, dtypes, values (None, not NaN) and list orders of the
    per-photo loop it replaced (`_copies_reference`, kept verbatim below)."""
    from curate.contamination import _copies

    ours, theirs, cluster_of = inputs
    before = (ours.copy(), theirs.copy())
    copies, expected = _copies(ours, theirs, cluster_of), _copies_reference(ours, theirs, cluster_of)
    pd.testing.assert_frame_equal(copies, expected)
    assert [[repr(value) for value in row] for row in copies.itertuples()] == \
        [[repr(value) for value in row] for row in expected.itertuples()]
    pd.testing.assert_frame_equal(ours, before[0])  # the inputs are not changed
    pd.testing.assert_frame_equal(theirs, before[1])


def _copies_reference(ours: pd.DataFrame, theirs: pd.DataFrame, cluster_of: dict) -> pd.DataFrame:
    """The oracle: `curate.contamination._copies` as it was before it was vectorised (a loop over our photos that
    scanned theirs for each byte copy), verbatim."""
    their_clusters = theirs.assign(cluster=theirs["sha256"].map(cluster_of)).dropna(subset=["cluster"])
    their_shas = set(theirs["sha256"])
    by_cluster = their_clusters.groupby("cluster")
    others = {key: group for key, group in by_cluster}
    rows = []
    for row in ours.itertuples(index=False):
        key = cluster_of.get(row.sha256)
        exact = row.sha256 in their_shas
        if key in others:
            group = others[key]
        elif exact:  # the same bytes, though no hash linked them (an image whose pHash could not be read)
            group = theirs[theirs["sha256"] == row.sha256]
        else:
            continue
        if exact:  # the byte-identical ones first
            group = pd.concat([group[group["sha256"] == row.sha256], group[group["sha256"] != row.sha256]])
        ids = group[schema.PHOTO_ID].tolist()
        labels = sorted({str(label) for label in group["label"].dropna()})
        rows.append({"photo_id": getattr(row, schema.PHOTO_ID), "split": None if pd.isna(row.split) else row.split,
                     "label": None if pd.isna(row.label) else row.label,
                     "kind": "exact" if exact else "near", "other_photos": len(ids),
                     "other_photo_ids": ", ".join(ids[:SHOWN_OTHERS]) + (", …" if len(ids) > SHOWN_OTHERS else ""),
                     "other_labels": ", ".join(labels)})
    return pd.DataFrame(rows, columns=COLUMNS)
