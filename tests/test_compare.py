"""`classify evaluate RUN --compare-random-split --uncurated`: the pure catalog transforms on a demo
catalog (uncurated labels, what comes back, what stays out, random-split shares), then the whole
command on a tiny demo workspace (CPU): both comparisons, an interrupted sub-run resumed, a
finished one reused, a stale one refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from classify.cli import app as classify_app
from classify.compare import (
    CLEAN_TEST_REASONS,
    RANDOM_SPLIT_DIR,
    STAGE,
    UNCURATED_DIR,
    clean_test_reasons,
    leakage_summary,
    random_split_catalog,
    run_train_config,
    train_or_reuse,
    train_val_shares,
    uncurated_catalog,
    uncurated_labels,
    workspace_shares,
)
from classify.gate import GATE_META
from classify.model import META, RunMeta, build_classifier, save_model
from classify.train import CHECKPOINT, TrainConfig, train
from curate import schema
from curate.errors import UsageError
from curate.leakage import find_leakage
from curate.split import SPLITS, SplitConfig
from curate.workspace import Workspace, read_catalog
from tests.helpers import demo_workspace, examples

runner = CliRunner()
# context.md's fast CPU settings, head-only (frozen backbone epochs are ~4x cheaper): three trainings fit in seconds
TINY = dict(image_size=48, cache_side=56, batch_size=16, workers=0, head_epochs=2, epochs=0)


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    """140 demo photos, filtered (skylines recipe) and split by owner, as `curate` leaves them."""
    return demo_workspace(tmp_path_factory.mktemp("compare"),
                          commands=(("filter", "--recipe", "skylines"), ("split", "--seed", "1")))


def clean_test_of(catalog: pd.DataFrame) -> pd.DataFrame:
    return catalog[(catalog["status"] == schema.KEPT) & (catalog["split"] == "test")]


def no_test(catalog: pd.DataFrame) -> pd.DataFrame:
    return catalog.iloc[0:0]


# ---------------------------------------------------------------- uncurated labels and rows
def test_uncurated_labels_are_ingests_not_the_curated_ones_nor_the_tags():
    """Audit AT: a folder-labelled photo whose tags named a recipe label (a red Ferrari tagged "london") got
    that city as its uncurated label, a label the collection never had; curation was credited with +38 pp."""
    frame = pd.DataFrame({
        "tag_labels": [np.array(["paris"]), np.array(["paris", "rome"]), np.array(["london"]), np.array(["rome"])],
        "label": ["rome", None, "red", "paris"],
        "original_label": ["paris", None, None, None],  # `curate prefilter --relabel` made paris rome
        "label_before_review": [None, None, None, "rome"]})  # a reviewer made rome paris
    assert uncurated_labels(frame).tolist() == ["paris", None, "red", "rome"]


def test_photos_curation_dropped_come_back_but_ingest_drops_stay_out(demo_ws):
    catalog = read_catalog(demo_ws)
    filtered = catalog["drop_stage"] == "filter"
    at_ingest = catalog["drop_stage"] == "ingest"
    assert filtered.any() and at_ingest.any(), "the demo should drop photos at ingest and at the filter"
    assert catalog.loc[at_ingest, "image_path"].isna().all()  # undecodable: nothing was stored
    # a prefilter drop, and an ingest drop that did store an image (e.g. a repeated photo id)
    catalog.loc[catalog.index[catalog["status"] == schema.KEPT][:2], ["status", "drop_reason", "drop_stage"]] = \
        [schema.DROPPED, "off_topic", "prefilter"]
    repeated = catalog.index[catalog["status"] == schema.KEPT][0]
    catalog.loc[repeated, ["status", "drop_reason", "drop_stage"]] = [schema.DROPPED, "duplicate_photo_id", "ingest"]
    at_ingest = catalog["drop_stage"] == "ingest"
    before = catalog.copy()

    out, summary = uncurated_catalog(catalog, no_test(catalog))

    came_back = catalog["status"].eq(schema.DROPPED) & ~at_ingest
    assert (out.loc[came_back, "status"] == schema.KEPT).all()
    assert out.loc[came_back, "drop_reason"].isna().all()
    assert summary["brought_back"] == came_back.sum()
    assert summary["brought_back_by_stage"] == {"filter": int(filtered.sum()), "prefilter": 2}
    assert (out.loc[at_ingest, "status"] == schema.DROPPED).all()
    pd.testing.assert_series_equal(out.loc[at_ingest, "drop_reason"], catalog.loc[at_ingest, "drop_reason"])
    assert set(out.loc[out["status"] == schema.KEPT, schema.PHOTO_ID]) == \
        set(catalog.loc[~at_ingest & catalog["image_path"].notna(), schema.PHOTO_ID])
    assert out["split"].isna().all()
    assert len(out) == len(catalog)  # flag, never delete
    pd.testing.assert_frame_equal(catalog, before)  # a pure function: the input is not mutated


def assert_nothing_of_the_test_set_is_trained_on(uncurated: pd.DataFrame, clean_test: pd.DataFrame) -> None:
    training = uncurated[(uncurated["status"] == schema.KEPT) & uncurated["split"].isin(["train", "val"])]
    assert len(training)
    for column in (schema.PHOTO_ID, "owner_id", "sha256", "exact_dup_group", "near_dup_cluster"):
        shared = set(training[column].dropna()) & set(clean_test[column].dropna())
        assert not shared, f"{column} shared with the clean test set: {sorted(shared)[:3]}"


def test_nothing_of_the_workspace_test_split_reaches_uncurated_training(demo_ws):
    catalog = read_catalog(demo_ws)
    clean_test = clean_test_of(catalog)
    # filter-dropped photos by other photographers, back in the pool: an exact copy and a near-duplicate
    # (other bytes, same cluster) of test photos
    exact, near = catalog.index[(catalog["drop_stage"] == "filter") & catalog["image_path"].notna()
                                & ~catalog["owner_id"].isin(clean_test["owner_id"])][:2]
    columns = ["sha256", "exact_dup_group"]
    catalog.loc[exact, columns] = clean_test.iloc[0][columns].to_list()
    catalog.loc[near, "near_dup_cluster"] = clean_test.iloc[1]["near_dup_cluster"]

    uncurated, summary = uncurated_catalog(catalog, clean_test)
    split, _ = random_split_catalog(uncurated, train_val_shares(SplitConfig()))

    assert_nothing_of_the_test_set_is_trained_on(split, clean_test)
    assert uncurated.at[exact, "drop_reason"] == uncurated.at[near, "drop_reason"] == "clean_test_duplicate"
    excluded = uncurated["drop_stage"] == STAGE
    assert summary["excluded_touching_clean_test"]["in_clean_test"] == len(clean_test)
    assert sum(summary["excluded_touching_clean_test"].values()) == excluded.sum()
    assert set(uncurated.loc[excluded, "drop_reason"]) <= set(CLEAN_TEST_REASONS)
    assert not (split["split"] == "test").any()  # the clean test set is the uncurated model's test


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), share=st.floats(0.02, 0.3))
def test_no_photo_owner_or_copy_of_any_test_set_is_trained_on(demo_ws, seed, share):
    catalog = read_catalog(demo_ws)
    kept = catalog[catalog["status"] == schema.KEPT]
    clean_test = kept.sample(frac=share, random_state=seed)  # any test set, even a leaky one
    uncurated, _ = uncurated_catalog(catalog, clean_test)
    touching = clean_test_reasons(uncurated, clean_test).notna()
    assert (uncurated.loc[touching & uncurated["image_path"].notna(), "status"] == schema.DROPPED).all()
    assume((uncurated["status"] == schema.KEPT).any())  # a big sample can cover every photographer
    split, _ = random_split_catalog(uncurated, train_val_shares(SplitConfig(seed=seed)))
    assert_nothing_of_the_test_set_is_trained_on(split, clean_test)


# ---------------------------------------------------------------- random split
@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(val=st.floats(0.0, 0.3), test=st.floats(0.05, 0.4), seed=st.integers(0, 1000))
def test_random_split_hits_the_shares_per_label_within_one_photo(demo_ws, val, test, seed):
    catalog = read_catalog(demo_ws)
    out, report = random_split_catalog(catalog, SplitConfig(val=val, test=test, by="owner", seed=seed))
    assert report.config["by"] == "none"
    kept = out["status"] == schema.KEPT
    assert out.loc[~kept, "split"].isna().all() and out.loc[kept, "split"].isin(SPLITS).all()
    counts = out[kept].groupby("label")["split"].value_counts().unstack(fill_value=0).reindex(
        columns=list(SPLITS), fill_value=0)
    photos = counts.sum(axis=1)
    for name, share in zip(SPLITS, (1 - val - test, val, test)):
        assert (counts[name] - share * photos).abs().max() <= 1 + 1e-9, name


def test_random_split_spans_photographers_the_owner_split_keeps_apart(demo_ws):
    catalog = read_catalog(demo_ws)
    assert find_leakage(catalog).empty
    random, _ = random_split_catalog(catalog, workspace_shares(demo_ws))
    leaks = leakage_summary(random)
    assert leaks["owners_spanning_splits"] > leaks["owners"] / 2
    assert 0 < leaks["test_photos_whose_owner_is_in_train"] <= 1
    assert leakage_summary(catalog)["owners_spanning_splits"] == 0


def test_workspace_shares_follow_the_last_curate_split(demo_ws, tmp_path):
    assert workspace_shares(demo_ws) == SplitConfig(val=0.1, test=0.2, by="none", seed=1)
    assert workspace_shares(Workspace(tmp_path)) == SplitConfig(val=0.1, test=0.2, by="none", seed=0)
    assert train_val_shares(SplitConfig(val=0.1, test=0.2)).test == 0
    assert train_val_shares(SplitConfig(val=0.1, test=0.2)).val == pytest.approx(0.1 / 0.8)


# ---------------------------------------------------------------- the command
def evaluate(ws: Workspace, run, *flags):
    return runner.invoke(classify_app, ["evaluate", str(run), "--workspace", str(ws.root), "--device", "cpu",
                                        "--top-losses", "4", *flags])


def test_evaluate_compares_random_split_and_uncurated_then_reuses_the_sub_runs(demo_ws, tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(**TINY)
    train(demo_ws, run, config)
    # an interrupted uncurated sub-run, as `evaluate --uncurated` would have started it
    catalog = read_catalog(demo_ws)
    pool, _ = uncurated_catalog(catalog, clean_test_of(catalog))
    pool, _ = random_split_catalog(pool, train_val_shares(workspace_shares(demo_ws)))
    train(demo_ws, run / UNCURATED_DIR, config, allow_leakage=True, catalog=pool, stop_after=1)

    result = evaluate(demo_ws, run, "--uncurated", "--compare-random-split", "--json")

    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output  # the sub-runs leak on purpose: that is what they measure
    # the comparison models train here: their epoch lines (and progress lines, where a display is installed)
    # say which model, not read as RUN's own
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert any("train loss" in line for line in epochs), epochs
    assert all("the random-split comparison model" in line or "the uncurated comparison model" in line
               for line in epochs), epochs
    payload = json.loads(result.stdout)
    random_split, uncurated = payload["comparisons"]["random_split"], payload["comparisons"]["uncurated"]
    for accuracy in (random_split["owner_split_accuracy"], random_split["random_split_accuracy"],
                     uncurated["curated_accuracy"], uncurated["uncurated_accuracy"]):
        assert 0 <= accuracy <= 1
    assert random_split["leakage_inflation_pp"] == pytest.approx(
        100 * (random_split["random_split_accuracy"] - random_split["owner_split_accuracy"]))
    assert uncurated["curation_worth_pp"] == pytest.approx(
        100 * (uncurated["curated_accuracy"] - uncurated["uncurated_accuracy"]))
    # its error over the test photographers, from the two evaluations' per-owner tables
    owners = pd.DataFrame(payload["per_owner"])
    assert len(owners) >= 2 and uncurated["curation_worth_se_owners_pp"] is not None
    assert uncurated["curation_worth_se_owners_pp"] >= 0
    assert f"s.e. {uncurated['curation_worth_se_owners_pp']:.1f} over test photographers" in uncurated["headline"]
    # RUN's numbers are RUN's own evaluation on the owner-disjoint test split
    assert random_split["owner_split_accuracy"] == uncurated["curated_accuracy"] == payload["accuracy"]
    assert uncurated["uncurated"]["photos"] == uncurated["curated"]["photos"] == payload["photos"]
    assert random_split["random_split_leakage"]["owners_spanning_splits"] > 0
    assert (random_split["sub_run"], uncurated["sub_run"]) == ("trained", "resumed")
    for sub in (RANDOM_SPLIT_DIR, UNCURATED_DIR):  # the same training settings as RUN
        assert run_train_config(run / sub).comparable() == config.comparable()
        assert (run / sub / "evaluation" / "evaluation.json").is_file()
    # the sub-runs are scored alone: no topic gate is fitted for them (nor recorded in model.json)
    assert not RunMeta.from_file(run / RANDOM_SPLIT_DIR / META).gate
    assert not (run / RANDOM_SPLIT_DIR / GATE_META).exists()
    assert len(pd.read_csv(run / UNCURATED_DIR / "metrics.csv")) == config.total_epochs
    on_disk = json.loads((run / "evaluation" / "evaluation.json").read_text())
    assert on_disk["comparisons"] == payload["comparisons"]

    checkpoint_written = (run / RANDOM_SPLIT_DIR / CHECKPOINT).stat().st_mtime_ns
    again = evaluate(demo_ws, run, "--uncurated", "--compare-random-split")

    assert again.exit_code == 0, again.output
    assert "leakage inflation" in again.stdout and "what curation is worth" in again.stdout
    # one seed: the headline gives its standard error over the test photographers, not a bare number
    assert "over test photographers, one training seed" in " ".join(again.stdout.split())  # however it wraps
    # the sandals test of both models sits beside the accuracies (the uncurated one scored without a gate)
    assert "sandals_photos" in uncurated and "curated_behind_gate" in uncurated
    assert json.loads((run / UNCURATED_DIR / "evaluation" / "evaluation.json").read_text()
                      )["sandals_test"]["behind_gate"] is False
    second = json.loads((run / "evaluation" / "evaluation.json").read_text())["comparisons"]
    assert second["random_split"]["sub_run"] == second["uncurated"]["sub_run"] == "reused"
    assert (run / RANDOM_SPLIT_DIR / CHECKPOINT).stat().st_mtime_ns == checkpoint_written
    assert second["random_split"]["random_split_accuracy"] == random_split["random_split_accuracy"]
    assert second["uncurated"]["uncurated_accuracy"] == uncurated["uncurated_accuracy"]

    other_catalog, _ = random_split_catalog(pool, SplitConfig(val=0.3, test=0.0, seed=9))
    with pytest.raises(UsageError, match="another version of the catalog"):
        train_or_reuse(demo_ws, run / UNCURATED_DIR, config, other_catalog)
    with pytest.raises(UsageError, match="other settings"):
        train_or_reuse(demo_ws, run / UNCURATED_DIR, TrainConfig(**{**TINY, "lr": 0.5}), pool)


def test_comparisons_need_a_run_trained_by_classify_train(demo_ws, tmp_path):
    model, preprocess = build_classifier("efficientnet_lite0", 2, pretrained=False, image_size=64)
    labels = sorted(read_catalog(demo_ws)["label"].dropna().unique())[:2]
    save_model(tmp_path / "bare", model, RunMeta(classes=labels, backbone="efficientnet_lite0",
                                                 preprocess=preprocess.to_dict()))
    result = evaluate(demo_ws, tmp_path / "bare", "--uncurated")
    assert result.exit_code == 2
    assert "no training config" in result.output


# ---------------------------------------------------------------- like for like: one set of test photos
def scored_as(photos: pd.DataFrame, classes: list[str], wrong: set, run_dir):
    """A RunEvaluation as `evaluate_run` makes it: the photos whose label is one of `classes`, answered right
    except those in `wrong` (answered as another class)."""
    from classify.evaluate import evaluate_predictions
    from classify.evaluation_files import RunEvaluation

    known = photos[photos["label"].isin(classes)].reset_index(drop=True)
    index = known["label"].map({name: i for i, name in enumerate(classes)}).to_numpy()
    answer = np.where(known[schema.PHOTO_ID].isin(wrong), (index + 1) % len(classes), index)
    report = evaluate_predictions(index, np.eye(len(classes))[answer], classes, owners=known["owner_id"].tolist(),
                                  photo_ids=known[schema.PHOTO_ID].tolist())
    return RunEvaluation(run_dir=run_dir, split="test", report=report,
                         photos=known.assign(predicted=np.asarray(classes, dtype=object)[answer]))


def compare_with_a_label_lacking(demo_ws, tmp_path, monkeypatch, curated_right_on_it: bool):
    """`compare_uncurated` with the uncurated model lacking the smallest test label's class; both models answer
    every other photo alike (one photo of each other label wrong), the curated one all of the lacking label's
    photos right or all wrong. Returns (comparison, clean test photos, lacking label, its photo ids, the photos
    both models get wrong, the curated model's evaluation)."""
    import classify.compare as compare
    from classify.compare import compare_uncurated

    clean_test = clean_test_of(read_catalog(demo_ws))
    classes = sorted(clean_test["label"].unique())
    lacking = clean_test["label"].value_counts().sort_values(kind="mergesort").index[0]
    lacking_ids = set(clean_test.loc[clean_test["label"] == lacking, schema.PHOTO_ID])
    both_wrong = set(clean_test.groupby("label")[schema.PHOTO_ID].first()) - lacking_ids
    reference = scored_as(clean_test, classes, both_wrong | (set() if curated_right_on_it else lacking_ids),
                          tmp_path / "run")
    uncurated_eval = scored_as(clean_test, [c for c in classes if c != lacking], both_wrong,
                               tmp_path / "run" / UNCURATED_DIR)
    monkeypatch.setattr(compare, "train_or_reuse", lambda *args, **kwargs: "reused")
    monkeypatch.setattr(compare, "_train_photos", lambda run_dir: None)
    comparison, _ = compare_uncurated(tmp_path / "run", demo_ws, TrainConfig(**TINY), workspace_shares(demo_ws),
                                      reference, lambda run_dir, catalog: uncurated_eval)
    return comparison, clean_test, lacking, lacking_ids, both_wrong, reference


def test_curation_is_worth_the_difference_on_the_photos_both_models_could_be_scored_on(demo_ws, tmp_path,
                                                                                      monkeypatch):
    """The long-tail audit's finding 3: the uncurated model (ingest's labels) had no class for one label,
    its one test photo was dropped from that model's score only, and the worth compared 51/54 with 51/53
    under "on the same 54 clean test photos". Here the curated model gets every photo of the label the
    uncurated model lacks wrong and answers every other photo as the uncurated model does: like for like,
    curation is worth nothing, and the photos left out are counted and explained once."""
    from classify.compare_scores import comparison_lines, comparison_table

    comparison, clean_test, lacking, lacking_ids, both_wrong, reference = compare_with_a_label_lacking(
        demo_ws, tmp_path, monkeypatch, curated_right_on_it=False)

    common = len(clean_test) - len(lacking_ids)
    assert comparison["curated"]["photos"] == comparison["uncurated"]["photos"] == common
    assert (comparison["clean_test_photos"], comparison["common_test_photos"]) == (len(clean_test), common)
    right = pytest.approx(1 - len(both_wrong) / common)
    assert comparison["curated_accuracy"] == comparison["uncurated_accuracy"] == right
    assert comparison["curation_worth_pp"] == 0 and comparison["curation_worth_se_owners_pp"] == 0
    assert f"on the same {common} of the {len(clean_test)} clean test photos" in comparison["headline"]
    assert comparison["left_out_photos"] == len(lacking_ids)
    assert comparison["left_out"] == [{"model": "uncurated", "reason": "no_class", "label": lacking,
                                       "photos": len(lacking_ids)}]
    s = "s" if len(lacking_ids) > 1 else ""
    assert comparison["notes"][0] == (f"{len(lacking_ids)} test photo{s} of {lacking} left out of both: "
                                      f"the uncurated model has no {lacking} class")
    # counted as the uncurated model's errors instead, the curated model (wrong on them too) gains nothing
    assert comparison["curation_worth_counting_missing_classes_pp"] == 0
    assert comparison["notes"][1].startswith(f"counting the {len(lacking_ids)} photo{s} of labels the uncurated "
                                             "model has no class for as its errors (the curated model got 0 right)")
    lines = comparison_lines({"uncurated": comparison})
    assert lines[0].startswith("what curation is worth: +0.0 pp")
    assert lines[-2:] == [f"note: {note}" for note in comparison["notes"]]
    assert set(comparison_table({"uncurated": comparison})["test photos"]) == {common}

    # the report carries the same sentence, with the note beside it (both engines share training_section)
    from curate.report.data import training_section
    from curate.report.html_sections import training

    evaluation = {**reference.to_dict(), "comparisons": {"uncurated": json.loads(json.dumps(comparison))}}
    section = training_section(evaluation, max_rows=10)
    assert section["headline"] == comparison["headline"] and section["headline_notes"] == comparison["notes"]
    assert "+0.0 pp: losing a class is a cost of not curating" in comparison["notes"][1]
    explain = section["comparisons"]["uncurated"]["explain"]
    assert "both models are scored on" in explain["common_test_photos"]
    page = training(section)
    note = f'<p class="note">{comparison["notes"][0]}</p>'
    assert page.count(note) == 1 and page.index(comparison["headline"]) < page.index(note)


def test_a_photo_one_model_could_not_read_is_left_out_of_both_and_said_so():
    from classify.compare_scores import left_out_line, score_on_common_photos

    test = pd.DataFrame({schema.PHOTO_ID: ["a", "b", "c", "d"], "owner_id": ["o1", "o1", "o2", None],
                         "label": ["cat", "cat", "dog", None]})
    answers = test.assign(predicted=["cat", "dog", "dog", None])
    common, left_out = score_on_common_photos(
        test, {"curated": answers.iloc[[0, 1, 2]], "uncurated": answers.iloc[[0, 2]]},
        {"curated": ["cat", "dog"], "uncurated": ["cat", "dog"]})
    assert common[schema.PHOTO_ID].tolist() == ["a", "c"]
    assert common[["curated_correct", "uncurated_correct"]].to_numpy().all()
    by_photo = left_out.set_index(schema.PHOTO_ID)
    assert by_photo.loc["b", ["model", "reason"]].tolist() == ["uncurated", "unreadable"]
    assert by_photo.loc["d", ["model", "reason", "label"]].tolist() == ["both", "no_class", schema.NO_LABEL]
    line = left_out_line(left_out)
    assert line.startswith("2 test photos of ") and " left out of both: " in line
    assert "the uncurated model could not read the image of 1" in line and "1 of them have no label" in line
    assert left_out_line(left_out.iloc[0:0]) is None


# ---------------------------------------------------------------- whose warning: the comparison models'
def test_the_comparison_models_are_trained_under_their_own_names(demo_ws, tmp_path, monkeypatch):
    """The long-tail audit's finding 8: in `curate run`, the uncurated model's "fewer than 5 training photos"
    warning read like the run's own. Each sub-run is trained under a name its warnings carry."""
    import classify.train
    from classify.compare import (
        RANDOM_SPLIT_MODEL,
        UNCURATED_MODEL,
        compare_random_split,
        compare_uncurated,
    )

    named = []

    def spy(*args, name=None, **kwargs):
        named.append(name)
        raise InterruptedError  # stop before any training

    monkeypatch.setattr(classify.train, "train", spy)
    for compare in (compare_uncurated, compare_random_split):
        with pytest.raises(InterruptedError):
            compare(tmp_path / "run", demo_ws, TrainConfig(**TINY), workspace_shares(demo_ws), None, None)
    assert named == [UNCURATED_MODEL, RANDOM_SPLIT_MODEL]
    assert len(set(named)) == 2 and all("comparison model" in name for name in named)


def test_a_comparison_models_thin_class_warning_says_whose_it_is(demo_ws, tmp_path, caplog):
    import logging

    from classify.compare import UNCURATED_MODEL
    from classify.trainer import MIN_CLASS_PHOTOS, Trainer

    catalog = read_catalog(demo_ws)
    train_rows = (catalog["status"] == schema.KEPT) & (catalog["split"] == "train")
    thin = catalog.loc[train_rows, "label"].value_counts().index[0]
    variant = catalog.copy()
    variant.loc[variant.index[train_rows & (catalog["label"] == thin)][2:], "status"] = schema.DROPPED

    def thin_warnings(name):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="classify"):
            Trainer(demo_ws, tmp_path / str(name), TrainConfig(**TINY), catalog=variant, name=name)
        return [r.getMessage() for r in caplog.records if f"fewer than {MIN_CLASS_PHOTOS} training" in r.getMessage()]

    own, comparison = thin_warnings(None), thin_warnings(UNCURATED_MODEL)
    assert len(own) == len(comparison) == 1 and f"{thin} 2" in own[0] and f"{thin} 2" in comparison[0]
    assert comparison[0].startswith(f"warning: {UNCURATED_MODEL}: ")
    assert UNCURATED_MODEL not in own[0] and own[0].startswith("warning: ")


def test_a_class_only_the_uncurated_model_lacks_counts_against_it_in_the_second_figure(demo_ws, tmp_path,
                                                                                        monkeypatch):
    """The long-tail re-check's N5: the like-for-like worth leaves out the photos of a label the uncurated model
    has no class for, which the curated model may get right. A second figure counts them as the uncurated
    model's errors: here the curated model gets them all right and answers the rest as the uncurated model
    does, so that figure is exactly their share of the photos, while the headline's stays 0."""
    comparison, clean_test, _, lacking_ids, _, _ = compare_with_a_label_lacking(demo_ws, tmp_path, monkeypatch,
                                                                                curated_right_on_it=True)
    assert comparison["curation_worth_pp"] == 0
    share = 100 * len(lacking_ids) / len(clean_test)
    assert comparison["curation_worth_counting_missing_classes_pp"] == pytest.approx(share, abs=1e-3)
    assert f"(the curated model got {len(lacking_ids)} right)" in comparison["notes"][1]


def test_what_an_evaluation_skipped_is_in_its_warnings_for_curate_run_too(tmp_path):
    """Audit AW4: photos skipped for a label the model lacks, unreadable images and a model trained on another
    catalog were said by `classify evaluate` alone (its command line built the lines), so `curate run --train`'s
    evaluate step, which prints the evaluation's warnings, never said them."""
    from dataclasses import replace

    photos = pd.DataFrame({schema.PHOTO_ID: [f"p{i}" for i in range(6)], "owner_id": ["a", "b", "c"] * 2,
                           "label": ["x", "y"] * 3})
    evaluation = scored_as(photos, ["x", "y"], set(), tmp_path)
    assert not [line for line in evaluation.warnings if "skipped" in line or "trained on" in line]
    skipped = replace(evaluation, unknown_labels={"z": 2}, unreadable=[{"photo_id": "p9", "reason": "truncated_image"}],
                      catalog_sha256="a" * 64, model_catalog_sha256="b" * 64)
    said = " ".join(skipped.warnings)
    assert "warning: 2 test photos skipped, left out of every figure: label not among the model's classes (z: 2)" \
        in said
    assert "1 test image is unreadable, skipped (e.g. p9: truncated_image)" in said
    assert "the catalog is not the one this model was trained on" in said


def test_a_photo_left_out_because_the_run_trained_on_it_is_not_called_unreadable():
    """Audit DH: after a re-split, RUN's evaluation leaves out the test photos it trained on; the
    --uncurated note said 'the curated model could not read the image of 27' for them."""
    from classify.compare_scores import left_out_line, left_out_reasons, score_on_common_photos

    test = pd.DataFrame({schema.PHOTO_ID: ["a", "b", "c"], "owner_id": None, "label": ["cat", "cat", "dog"]})
    answers = test.assign(predicted=["cat", "dog", "dog"])
    common, left_out = score_on_common_photos(
        test, {"curated": answers.iloc[[0]], "uncurated": answers},
        {"curated": ["cat", "dog"], "uncurated": ["cat", "dog"]},
        {"curated": ["c"], "uncurated": []})  # c unreadable to RUN; b left out as trained on
    assert common[schema.PHOTO_ID].tolist() == ["a"]
    by_photo = left_out.set_index(schema.PHOTO_ID)
    assert by_photo.loc["b", ["model", "reason"]].tolist() == ["curated", "trained_on"]
    assert by_photo.loc["c", ["model", "reason"]].tolist() == ["curated", "unreadable"]
    line = left_out_line(left_out)
    assert "the curated model could not read the image of 1" in line
    assert "the curated model trained on 1 of them" in line
    assert {row["reason"] for row in left_out_reasons(left_out)} == {"trained_on", "unreadable"}


def test_the_worth_and_the_leakage_inflation_come_with_their_errors():
    """Audit DH 2-3: photos without a photographer were all one "(unknown)" photographer in the worth's bootstrap
    (and with none at all the unpaired binomial error was given: 7.4 pp where both models agreed on every photo);
    the leakage inflation, two accuracies on two test sets of 40, had no error at all (about 6.3 pp there)."""
    import pandas as pd

    from classify.compare_scores import comparison_lines, worth_se
    from curate.report.explain import comparison_sentences

    agree = pd.DataFrame({"owner_id": [None] * 40, "photo_id": [f"p{i}" for i in range(40)],
                          "curated_correct": [i % 3 > 0 for i in range(40)]})
    agree["uncurated_correct"] = agree["curated_correct"]
    assert worth_se(agree) == (0.0, 40)
    one_owner = agree.assign(owner_id=["a"] * 2 + [None] * 38)
    one_owner.loc[5, "uncurated_correct"] = not one_owner.loc[5, "curated_correct"]
    se, ownerless = worth_se(one_owner)
    assert ownerless == 38 and 0 < se < 5  # 39 groups, one photo differing: not one "(unknown)" block of 38
    random_split = {"sub_run": "trained", "leakage_inflation_pp": 7.5, "leakage_inflation_se_pp": 6.26,
                    "random_split_leakage": {"owners_spanning_splits": 0, "owners": 0,
                                             "near_dup_clusters_spanning_splits": 2, "near_dup_clusters": 6,
                                             "test_photos_whose_owner_is_in_train": 0.0}}
    line = comparison_lines({"random_split": random_split})[0]
    assert line.startswith("leakage inflation: +7.5 pp (random − owner split, s.e. about 6.3 from the two test sets")
    assert "Standard error about 6.3 pp from the two test sets alone" in comparison_sentences(
        {"leakage_inflation_pp": 7.5, "leakage_inflation_se_pp": 6.26})["leakage_inflation_pp"]
