"""`curate ingest scrape`: a noisy scrape with ground truth from a clean labelled folder.

Determinism, every noise kind at its configured rate, truth consistency (edited copies
really are edits of their source file; off-topic pixels come from the off-topic folders;
one source file, one near-duplicate group), bad folders, resume, the recipe and the
scorecard's near-duplicate rows."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import REALDATA
from PIL import Image, ImageOps
from test_demo import assert_rate
from typer.testing import CliRunner

from curate.cli.app import app
from curate.errors import UsageError
from curate.ingest.demo import read_truth
from curate.ingest.scrape import ingest_scrape
from curate.pipeline import plan
from curate.recipes import load_recipe
from curate.scrape import EDIT_KINDS, ScrapeConfig, find_sources, generate_scrape
from curate.scrape.sources import ScrapeSources, SourceFile
from curate.workspace import Workspace, read_catalog

runner = CliRunner()
LABELS = ("harbour", "market", "tower")


def texture(seed: int, size=(120, 90)) -> Image.Image:
    """A distinct photo-like image: smooth random blobs plus a few edges (so pHash and
    thumbnails tell different seeds apart)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.BICUBIC)
    pixels = np.asarray(image).astype(np.int16)
    pixels[:, int(rng.integers(10, size[0] - 10))] = 255
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A clean labelled folder (3 labels x 45 photos) and an off-topic folder (90 photos)."""
    root = tmp_path_factory.mktemp("clean")
    seed = 0
    for label in LABELS:
        (root / "photos" / label).mkdir(parents=True)
        for i in range(45):
            seed += 1
            texture(seed).save(root / "photos" / label / f"{i:03d}.jpg", quality=92)
    (root / "other" / "misc").mkdir(parents=True)
    for i in range(90):
        seed += 1
        texture(seed).save(root / "other" / "misc" / f"{i:03d}.jpg", quality=92)
    return root / "photos", root / "other"


def small_config(folders, **changes) -> ScrapeConfig:
    photos, other = folders
    settings = dict(folders=(str(photos),), offtopic=(str(other),), topic="city", photos=150, seed=5,
                    near_dup_rate=0.15, burst_rate=0.05, exact_dup_rate=0.03, broken_rate=0.04, sandals_photos=12)
    settings.update(changes)
    return ScrapeConfig(**settings)


@pytest.fixture(scope="module")
def ingested(folders, tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("scrape-ws"))
    config = small_config(folders)
    report = ingest_scrape(ws, config, workers=2)
    return ws, config, report


def fake_sources(per_label: int = 6000, offtopic: int = 12000) -> ScrapeSources:
    """Pools of file names only: generate_scrape never opens a file."""
    labels = {name: tuple(SourceFile("/nowhere", f"{name}/{i}.jpg") for i in range(per_label)) for name in LABELS}
    return ScrapeSources(LABELS, labels, tuple(SourceFile("/off", f"{i}.jpg") for i in range(offtopic)))


# ---- determinism -------------------------------------------------------------------------

def test_same_seed_same_scrape_other_seed_differs():
    config = ScrapeConfig(folders=("x",), offtopic=("y",), topic="city", photos=3000, seed=1)
    first, second = generate_scrape(config, fake_sources()), generate_scrape(config, fake_sources())
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    other = generate_scrape(ScrapeConfig(folders=("x",), offtopic=("y",), topic="city", photos=3000, seed=2),
                            fake_sources())[1]
    assert (other["source_file"] != first[1]["source_file"]).mean() > 0.9


def test_ingest_gives_the_same_bytes_for_the_same_seed(folders, ingested, tmp_path):
    ws, config, _ = ingested
    again = Workspace(tmp_path / "again")
    ingest_scrape(again, config, workers=1)
    first, second = read_catalog(ws), read_catalog(again)
    assert first["sha256"].tolist() == second["sha256"].tolist()
    assert first["sha256"].notna().sum() > 100


# ---- noise kinds at their configured rates ---------------------------------------------------

@pytest.fixture(scope="module")
def big():
    config = ScrapeConfig(folders=("x",), offtopic=("y",), topic="city", photos=20_000, seed=7, sandals_photos=400)
    records, truth = generate_scrape(config, fake_sources())
    return config, records, truth


def test_each_noise_kind_appears_at_its_configured_rate(big):
    config, records, truth = big
    n = len(truth)
    regular = truth[~truth["is_sandals"]]
    assert int(truth["is_sandals"].sum()) == config.sandals_photos
    assert_rate(int((~regular["is_on_topic"]).sum()), len(regular), config.offtopic_rate, "off-topic")
    assert_rate(int((truth["edit_kind"].isin(EDIT_KINDS)).sum()), n, config.near_dup_rate, "edited copies", z=1)
    assert_rate(int(truth["is_exact_dup_copy"].sum()), n, config.exact_dup_rate, "exact copies", z=1)
    assert_rate(int(truth["broken_kind"].notna().sum()), n, config.broken_rate, "broken files", z=1)
    assert_rate(int(truth["burst_id"].notna().sum()), n, config.burst_rate, "burst frames", z=1)
    assert_rate(int(regular["is_misgeotagged"].sum()), len(regular), config.misgeotag_rate, "mis-geotags")
    on_topic = regular[regular["is_on_topic"]]
    assert_rate(int(on_topic["is_mislabelled"].sum()), len(on_topic), config.mislabel_rate, "mislabels")
    assert_rate(int(on_topic["is_taken_elsewhere"].sum()), len(on_topic), config.taken_elsewhere_rate,
                "taken elsewhere")
    assert_rate(int(on_topic["topic_tagged"].sum()), len(on_topic), config.topic_tag_rate, "topic tag on topic")
    off = regular[~regular["is_on_topic"]]
    assert_rate(int(off["topic_tagged"].sum()), len(off), config.offtopic_topic_tag_rate, "topic tag off topic")
    # every edit kind is used, about equally
    counts = truth.loc[truth["edit_kind"].isin(EDIT_KINDS), "edit_kind"].value_counts()
    assert set(counts.index) == set(EDIT_KINDS) and counts.min() > 0.6 * counts.mean()


def test_tags_carry_the_topic_and_the_labels_the_truth_says(big):
    config, records, truth = big
    has_topic = records["tags"].map(lambda tags: config.topic in list(tags))
    assert (has_topic == truth["topic_tagged"]).all()
    # the sandals photographer: one owner, one label, always the topic tag, one near-duplicate group
    sandals = truth["is_sandals"]
    assert records.loc[sandals, "owner_id"].nunique() == 1 and has_topic[sandals].all()
    assert truth.loc[sandals, "near_dup_group"].nunique() == 1
    assert truth.loc[sandals, "source_file"].nunique() == 1
    # mislabelled photos: pixels of one label, tags of another
    wrong = truth[truth["is_mislabelled"]]
    assert (wrong["tagged_city"] != wrong["true_label"]).all()
    assert (wrong["source_file"].str.split("/").str[0] == wrong["true_label"]).all()


def test_truth_groups_and_source_files_are_consistent(big):
    _, _, truth = big
    grouped = truth[truth["near_dup_group"].notna()]
    # one real source file, one near-duplicate group
    assert (grouped.groupby("source_file")["near_dup_group"].nunique() == 1).all()
    alone = truth[truth["near_dup_group"].isna()]
    assert not alone["source_file"].isin(grouped["source_file"]).any()
    assert alone["source_file"].is_unique
    # every copy names a photo of its own group that shows the file as taken
    copies = truth[truth["edit_of"].notna()]
    original = truth.set_index("photo_id").loc[copies["edit_of"]]
    assert (original["near_dup_group"].to_numpy() == copies["near_dup_group"].to_numpy()).all()
    assert (original["source_file"].to_numpy() == copies["source_file"].to_numpy()).all()
    # on-topic pixels come from the true label's folder, off-topic from the off-topic pool
    on = truth[truth["is_on_topic"]]
    assert (on["source_file"].str.split("/").str[0] == on["true_label"]).all()
    assert (truth.loc[~truth["is_on_topic"], "source_root"] == "/off").all()
    assert truth.loc[~truth["is_on_topic"], "true_label"].isna().all()


def test_too_few_photos_for_the_settings_names_the_size_that_fits(folders):
    with pytest.raises(UsageError, match=r"needs \d+ of them; use --photos \d+ or fewer"):
        generate_scrape(small_config(folders, photos=2000), find_sources(*map(lambda p: (str(p),), folders)))


# ---- the images ------------------------------------------------------------------------------

def thumb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((16, 12), Image.BILINEAR), dtype=np.float32)


def test_edited_copies_really_are_edits_of_their_source_file(ingested):
    ws, _, _ = ingested
    truth = read_truth(ws)[0]
    catalog = read_catalog(ws).merge(truth[["photo_id", "edit_kind", "burst_id", "source_root", "source_file"]],
                                     on="photo_id")
    stored = catalog[catalog["image_path"].notna()]
    sources = {path: thumb(Image.open(f"{root}/{path}")) for root, path in
               stored[["source_root", "source_file"]].drop_duplicates().itertuples(index=False)}
    names = list(sources)
    stack = np.stack([sources[name] for name in names])
    edited = stored[stored["edit_kind"].notna()]
    assert set(EDIT_KINDS) <= set(edited["edit_kind"])
    for row in edited.itertuples():
        image = Image.open(ws.root / row.image_path)
        if row.edit_kind == "flip":
            image = ImageOps.mirror(image)  # compare like with like
        distance = np.abs(stack - thumb(image)).mean(axis=(1, 2))
        assert names[int(np.argmin(distance))] == row.source_file, (row.photo_id, row.edit_kind)
    plain = stored[stored["edit_kind"].isna() & stored["burst_id"].isna()]
    assert len(plain) > 50
    for row in plain.head(10).itertuples():
        assert (ws.root / row.image_path).read_bytes() == open(f"{row.source_root}/{row.source_file}", "rb").read()


def test_broken_files_are_dropped_with_their_reason(ingested):
    ws, _, _ = ingested
    truth = read_truth(ws)[0]
    catalog = read_catalog(ws).merge(truth[["photo_id", "broken_kind"]], on="photo_id")
    broken = catalog[catalog["broken_kind"].notna()]
    assert len(broken) >= 4 and (broken["drop_stage"] == "ingest").all()
    assert catalog.loc[catalog["broken_kind"].isna(), "sha256"].notna().all()


def test_a_rerun_resumes_and_another_collection_is_refused(folders, ingested):
    ws, config, _ = ingested
    before = read_catalog(ws)
    report = ingest_scrape(ws, config, workers=1)
    assert report.already_done == len(before) and report.fetched == 0
    assert read_catalog(ws)["sha256"].tolist() == before["sha256"].tolist()
    with pytest.raises(UsageError, match="already holds the scrape collection made with seed 5"):
        ingest_scrape(ws, small_config(folders, seed=6))


# ---- bad folders: one line, exit 2 -------------------------------------------------------------

def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def test_bad_folders_are_one_line_and_exit_2(folders, tmp_path):
    photos, other = folders
    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "only").mkdir(parents=True)
    texture(1).save(tmp_path / "one" / "only" / "a.jpg")
    (tmp_path / "bad" / "a").mkdir(parents=True)
    (tmp_path / "bad" / "b").mkdir(parents=True)
    texture(2).save(tmp_path / "bad" / "a" / "x.jpg")
    (tmp_path / "bad" / "b" / "y.jpg").write_bytes(b"<html>not a photo</html>")
    cases = {"missing": [tmp_path / "nope"], "empty": [tmp_path / "empty"], "one label": [tmp_path / "one"],
             "unreadable": [tmp_path / "bad"]}
    for case, args in cases.items():
        result = invoke("ingest", "scrape", *args, "--topic", "city", "--offtopic", other, "-w", tmp_path / "ws")
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, (case, result.output)
    result = invoke("ingest", "scrape", photos, "--topic", "city", "-w", tmp_path / "ws")
    assert result.exit_code == 2 and "--offtopic" in result.output
    result = invoke("ingest", "scrape", photos, "--topic", "city", "--offtopic", other, "--set", "bogus=1",
                    "-w", tmp_path / "ws")
    assert result.exit_code == 2 and "bogus" in result.output


def test_cli_settings_reach_the_truth(folders, tmp_path):
    photos, other = folders
    result = invoke("ingest", "scrape", photos, "--topic", "city", "--offtopic", other, "--photos", 80,
                    "--set", "near_dup_rate=0.2", "--set", 'edit_kinds=["flip", "crop"]', "-w", tmp_path)
    assert result.exit_code == 0, result.output
    truth, config = read_truth(Workspace(tmp_path))
    assert config.near_dup_rate == 0.2 and config.edit_kinds == ("flip", "crop")
    assert set(truth["edit_kind"].dropna()) <= {"flip", "crop", "burst", "exact_copy", "sandals"}
    assert truth["edit_kind"].isin(["flip", "crop"]).sum() == round(0.2 * 80)


# ---- scoring and the recipe --------------------------------------------------------------------

def test_score_reports_near_duplicate_recall_per_edit_kind(ingested):
    ws, _, _ = ingested
    assert invoke("filter", "-w", ws.root, "--max-km", "5").exit_code == 0
    result = invoke("score", "-w", ws.root, "--json")
    assert result.exit_code == 0, result.output
    rows = {row["metric"]: row for row in json.loads(result.stdout)["rows"]}
    assert {"broken_file", "exact_duplicate", "geo_outlier", "near_duplicate"} <= set(rows)
    assert {f"near_dup:{kind}" for kind in ("jpeg", "downscale", "flip", "greyscale")} <= set(rows)
    # a scrape is held to its own targets; exact copies and broken files are found exactly
    assert rows["off_topic" if "off_topic" in rows else "near_duplicate"]["target_precision"] in (0.95, 0.98)
    assert rows["exact_duplicate"]["met"] and rows["broken_file"]["met"]
    assert rows["near_dup:exact_copy"]["recall"] == 1.0
    assert rows["near_dup:flip"]["met"] is None  # not expected of pHash (issue J)


def test_the_scenes_scrape_recipe_plans_every_step():
    recipe = load_recipe("scenes-scrape")
    steps = [step.name for step in plan(recipe, train=True)]
    assert steps[0] == "ingest scrape" and "score" in steps and steps[-1] == "report"
    assert recipe.topic == "urban" and len(recipe.labels) == 6


@pytest.mark.skipif(not (REALDATA / "scenes15").is_dir(), reason="needs ../shared/realdata/scenes15")
def test_scenes_scrape_sources_are_the_urban_classes_and_the_rest_is_off_topic():
    recipe = load_recipe("scenes-scrape")
    entry = recipe.sources[0]
    base = recipe.path.parent
    folders = tuple(str((base / f).resolve()) for f in entry["folders"])
    offtopic = tuple(str((base / f).resolve()) for f in entry["offtopic"])
    sources = find_sources(folders, offtopic, recipe.label_names)
    assert set(sources.labels) == set(recipe.label_names)
    config = ScrapeConfig(folders=folders, offtopic=offtopic, topic="urban", photos=entry["photos"])
    records, truth = generate_scrape(config, sources, recipe)
    off = truth[~truth["is_on_topic"]]
    assert off["source_root"].isin(offtopic).all()
    assert not truth.loc[truth["is_on_topic"], "source_root"].isin(offtopic).any()
    assert (truth.loc[truth["is_on_topic"], "source_file"].str.split("/").str[0]
            == truth.loc[truth["is_on_topic"], "true_label"]).all()


def test_a_scrape_is_held_to_its_own_targets_and_the_demo_to_its():
    from curate.score import SCRAPE_TARGETS, TARGETS, _row, rejudge

    row = _row("off_topic", tp=93, fp=7, fn=0)  # P 0.93, R 1.0
    assert row["met"] is True and row["target_precision"] == TARGETS["off_topic"][0]
    held = rejudge(row, SCRAPE_TARGETS)
    assert held["met"] is False and held["target_precision"] == 0.95 and held["precision"] == row["precision"]


def test_the_label_issue_row_is_split_into_mislabelled_and_off_topic_photos():
    """Off-topic photos the topic cut kept count as wrong labels in `label_issue`; its two parts say
    how much of a miss is theirs (none of the labels is right for them) and how much is mislabels."""
    from curate.score import score_prefilter

    frame = pd.DataFrame({
        "photo_id": [f"p{i}" for i in range(7)],
        "label": ["a", "a", "b", "b", "a", "a", "b"],
        "original_label": [None, None, "a", None, None, None, None],  # p2 relabelled a -> b: judged as "a"
        "true_label": ["a", "b", "b", "a", "a", None, None],  # p5, p6 off topic
        "is_on_topic": [True, True, True, True, True, False, False],
        "is_label_issue": [False, True, True, False, True, False, True],
        "status": ["kept"] * 7, "drop_reason": [None] * 7, "topic_score": [None] * 7,
        "is_sandals": [False] * 7, "sha256": ["x"] * 7, "drop_stage": [None] * 7})
    rows = {row["metric"]: row for row in score_prefilter(frame)}
    whole, mislabelled, off = rows["label_issue"], rows["label_issue:on_topic"], rows["label_issue:off_topic"]
    assert (whole["tp"], whole["fp"], whole["fn"]) == (3, 1, 2)  # p1 p2 p6 found, p4 wrongly, p3 p5 missed
    assert (mislabelled["tp"], mislabelled["fp"], mislabelled["fn"]) == (2, 1, 1)
    assert (off["tp"], off["fn"], off["recall"]) == (1, 1, 0.5) and off["met"] is None and mislabelled["met"] is None


def test_a_recipe_without_labels_labels_the_scrape_by_its_label_folders(ingested, tmp_path):
    """Audit F-7: a scrape recipe may leave [[labels]] out (its label folders are the labels); the scrape's
    tags then name the folder labels as without a recipe, not nothing as a recipe with no label would."""
    from curate.recipes import Recipe

    ws, config, _ = ingested
    plain = Workspace(tmp_path / "ws")
    ingest_scrape(plain, config, Recipe("plain", (), topic="city"), workers=2)
    ours, theirs = read_catalog(plain).set_index("photo_id"), read_catalog(ws).set_index("photo_id")
    assert ours["label"].notna().any() and set(ours["label"].dropna()) == set(LABELS)
    assert ours["label"].equals(theirs.loc[ours.index, "label"])
