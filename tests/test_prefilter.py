"""`curate prefilter`: owner-grouped out-of-fold topic scores, the four counts, thresholds,
label issues, bad input; and the whole embed -> prefilter -> score path on a small demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.prefilter.folds import grouped_folds
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from curate.prefilter.threshold import otsu_threshold
from tests.helpers import examples
from tests.test_split import make_catalog

runner = CliRunner()
DIM = 32


def synthetic(seed: int = 0, owners: int = 60, per_owner: int = 8, flips: float = 0.0, owner_noise: float = 0.1):
    """Catalog + embeddings: on-topic photos lie along a topic direction (and a class direction),
    tags are noisy (70% of on-topic, 10% of off-topic photos carry the topic tag)."""
    rng = np.random.default_rng(seed)
    n = owners * per_owner
    owner = np.repeat(np.arange(owners), per_owner)
    on_topic = rng.random(n) < 0.7
    true_class = rng.integers(0, 3, n)
    directions = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0][:5]  # orthonormal: topic, off-topic, 3 classes
    vectors = (np.where(on_topic, 1.0, 0.0)[:, None] * (directions[0] + directions[2 + true_class])
               + np.where(on_topic, 0.0, 1.0)[:, None] * directions[1]
               + owner_noise * rng.normal(size=(owners, DIM))[owner] + 0.1 * rng.normal(size=(n, DIM)))
    tagged = rng.random(n) < np.where(on_topic, 0.7, 0.1)
    given = true_class.copy()
    flipped = on_topic & (rng.random(n) < flips)
    given[flipped] = (true_class[flipped] + rng.integers(1, 3, flipped.sum())) % 3
    names = np.array(["amsterdam", "berlin", "chicago"])
    rows = [{"owner_id": f"o{owner[i]}", "label": names[given[i]], "tags": ["skyline"] if tagged[i] else ["city"],
             "image_path": f"images/{i}.jpg"} for i in range(n)]
    catalog = make_catalog(rows)
    found = np.ones(n, bool)
    return catalog, vectors.astype(np.float32), found, {"on_topic": on_topic, "tagged": tagged, "flipped": flipped,
                                                        "true_class": names[true_class]}


def run(catalog, vectors, config=None, found=None, ok=None):
    n = len(catalog)
    found = np.ones(n, bool) if found is None else found
    ok = np.ones(n, bool) if ok is None else ok
    return prefilter_catalog(catalog, vectors, found, ok, config or PrefilterConfig(topic="skyline"))


def test_four_counts_add_up_and_match_the_rows():
    catalog, vectors, _, truth = synthetic()
    result, report = run(catalog, vectors)
    tagged = truth["tagged"]
    assert report.scored == len(catalog)
    assert report.tagged_kept + report.tagged_dropped == tagged.sum()
    assert report.untagged_recovered + report.untagged_dropped == (~tagged).sum()
    off = result["drop_reason"] == "off_topic"
    assert off.sum() == report.tagged_dropped + report.untagged_dropped
    assert (result["topic_recovered"] == True).sum() == report.untagged_recovered  # noqa: E712
    assert not (result.loc[result["topic_recovered"] == True, "status"] == schema.DROPPED).any()  # noqa: E712
    assert result["topic_score"].notna().all()
    assert (off == (result["topic_score"].astype(float) < report.threshold)).all()


def test_photos_it_drops_from_a_split_are_counted_by_the_next_split():
    """The split placed again counts the earlier split's photos dropped since; the prefilter cleared their
    `split`, so its drops were missing from "(N more of its photos are dropped since and leave it)"."""
    from curate.split import SplitConfig, split_catalog

    catalog, vectors, _, _ = synthetic()
    split, _ = split_catalog(catalog, SplitConfig())
    result, report = run(split, vectors)
    dropped = result["drop_reason"] == "off_topic"
    assert dropped.sum() > 20 and any("run `curate split` again" in note for note in report.notes)
    again, split_report = split_catalog(result, SplitConfig(), SplitConfig().__dict__)
    assert split_report.earlier["dropped"] == dropped.sum()
    assert any(f"({dropped.sum()} more of its photos are dropped since" in note for note in split_report.notes)
    assert again.loc[dropped, "split"].isna().all() and again.loc[~dropped, "split"].notna().all()


def test_off_topic_photos_are_found_despite_noisy_tags():
    catalog, vectors, _, truth = synthetic(seed=1)
    result, report = run(catalog, vectors)
    predicted = (result["drop_reason"] == "off_topic").to_numpy()
    actual = ~truth["on_topic"]
    precision = (predicted & actual).sum() / predicted.sum()
    recall = (predicted & actual).sum() / actual.sum()
    assert precision >= 0.9 and recall >= 0.9
    assert report.untagged_recovered > 0  # untagged on-topic photos come back
    assert report.tagged_dropped > 0  # tagged off-topic photos go


def test_scores_come_from_models_that_never_saw_the_photographer():
    """Each photographer has a private look and tags all or nothing. A model that saw the
    photographer memorises it; out-of-fold scores grouped by owner cannot."""
    rng = np.random.default_rng(5)
    owners, per_owner = 40, 10
    owner = np.repeat(np.arange(owners), per_owner)
    owner_tags = rng.random(owners) < 0.5
    vectors = (3.0 * rng.normal(size=(owners, DIM))[owner] + 0.1 * rng.normal(size=(owners * per_owner, DIM)))
    rows = [{"owner_id": f"o{owner[i]}", "tags": ["skyline"] if owner_tags[owner[i]] else [],
             "image_path": f"images/{i}.jpg"} for i in range(len(owner))]
    catalog = make_catalog(rows)
    result, _ = run(catalog, vectors.astype(np.float32), PrefilterConfig(topic="skyline", label_issues=False))
    tagged = owner_tags[owner]
    oof_accuracy = ((result["topic_score"].astype(float) >= 0.5).to_numpy() == tagged).mean()

    from sklearn.linear_model import LogisticRegression

    seen = LogisticRegression(max_iter=2000).fit(vectors, tagged).score(vectors, tagged)
    assert seen > 0.95  # the memorising model exists...
    assert oof_accuracy < 0.75  # ...but the stored scores are not from it


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(0, 1)), min_size=12, max_size=120))
def test_grouped_folds_never_split_a_group(pairs):
    groups = np.array([g for g, _ in pairs])
    labels = np.array([y for _, y in pairs])
    folds = min(3, len(np.unique(groups)))
    if folds < 2:
        return
    fold = grouped_folds(labels, groups, folds, seed=0)
    assert (fold >= 0).all()
    per_group = pd.Series(fold).groupby(groups).nunique()
    assert (per_group == 1).all()


def test_otsu_cut_falls_between_two_modes():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.15, 0.04, 700), rng.normal(0.7, 0.06, 300)]).clip(0, 1)
    cut = otsu_threshold(scores)
    assert 0.3 < cut < 0.55


def test_fixed_threshold_overrides_and_a_rerun_starts_afresh():
    catalog, vectors, _, _ = synthetic(seed=2)
    # 0.9 drops more than max_drop_share of the tagged photos: held unless forced
    strict, strict_report = run(catalog, vectors, PrefilterConfig(topic="skyline", threshold=0.9, label_issues=False,
                                                                  force=True))
    assert strict_report.threshold == 0.9 and strict_report.threshold_method == "fixed"
    lenient, lenient_report = run(strict, vectors, PrefilterConfig(topic="skyline", threshold=0.05, label_issues=False))
    assert (strict["drop_reason"] == "off_topic").sum() > (lenient["drop_reason"] == "off_topic").sum()
    # the strict run's drops were reinstated before deciding again: same as running lenient on the original
    fresh, _ = run(catalog, vectors, PrefilterConfig(topic="skyline", threshold=0.05, label_issues=False))
    assert lenient["status"].tolist() == fresh["status"].tolist()
    assert lenient_report.scored == len(catalog)


def test_earlier_stage_drops_are_left_alone():
    catalog, vectors, _, _ = synthetic(seed=3)
    catalog.loc[:9, ["status", "drop_reason", "drop_stage"]] = [schema.DROPPED, "owner_cap", "filter"]
    result, report = run(catalog, vectors)
    assert report.scored == len(catalog) - 10
    assert (result.loc[:9, "drop_reason"] == "owner_cap").all() and result.loc[:9, "topic_score"].isna().all()


def test_scores_given_from_elsewhere_are_used_as_they_are(monkeypatch):
    """`--mode finetune` brings its own out-of-fold scores (NaN: the network could not read the
    photo): the stage stores them as given and does not fold the photos again."""
    import curate.prefilter.stage as stage

    catalog, vectors, _, truth = synthetic(seed=8)
    scores = np.where(truth["tagged"], 0.9, 0.1)
    scores[[2, 5]] = np.nan

    def no_folds(*args, **kwargs):
        raise AssertionError("the given scores are already out of fold")

    monkeypatch.setattr(stage, "grouped_folds", no_folds)
    n = len(catalog)
    result, report = prefilter_catalog(catalog, np.zeros((n, 0), np.float32), np.zeros(n, bool), np.zeros(n, bool),
                                       PrefilterConfig(topic="skyline", threshold=0.5), topic_scores=scores)
    assert result.loc[[2, 5], "drop_reason"].tolist() == ["unreadable_image"] * 2 and report.unreadable == 2
    scored = np.isfinite(scores)
    np.testing.assert_array_equal(result.loc[scored, "topic_score"].astype(float), scores[scored])
    assert report.tagged_dropped == report.untagged_recovered == 0  # the given scores follow the tags


def test_unreadable_images_are_dropped_with_a_reason():
    catalog, vectors, _, _ = synthetic(seed=4)
    ok = np.ones(len(catalog), bool)
    ok[[3, 7]] = False
    result, report = run(catalog, vectors, ok=ok)
    assert report.unreadable == 2
    assert result.loc[[3, 7], "drop_reason"].tolist() == ["unreadable_image"] * 2


def test_label_issues_find_planted_flips_and_can_drop_them():
    catalog, vectors, _, truth = synthetic(seed=6, owners=80, flips=0.08, owner_noise=0.05)
    result, report = run(catalog, vectors)
    examined = result["is_label_issue"].notna().to_numpy()
    flagged = (result["is_label_issue"] == True).to_numpy()  # noqa: E712
    flipped = truth["flipped"] & examined
    precision = (flagged & flipped).sum() / max(flagged.sum(), 1)
    recall = (flagged & flipped).sum() / flipped.sum()
    assert precision >= 0.5 and recall >= 0.5, (precision, recall)
    hits = flagged & flipped
    assert (result.loc[hits, "suggested_label"].to_numpy() == truth["true_class"][hits]).mean() > 0.8
    assert result.loc[examined, "label_quality"].astype(float).between(0, 1).all()

    dropped, drop_report = run(catalog, vectors, PrefilterConfig(topic="skyline", drop_label_issues=True))
    assert (dropped["drop_reason"] == "label_issue").sum() == drop_report.label_issues_dropped == report.label_issues
    # `curate run` shows only the summary line: it says how many were dropped (audit AE)
    assert f"label issues {report.label_issues:,} ({report.label_issues:,} dropped)" in drop_report.summary()
    assert "dropped)" not in report.summary().split("label issues")[1].split(";")[0]


@pytest.mark.parametrize("tags, config, message", [
    # photos without the tag (labelled by folders, audit CW): the line names label issues alone as well
    (lambda i: ["city"], PrefilterConfig(topic="skyline"), "no kept photo is tagged.*label.issues.only"),
    # on every photo, with label issues off: nothing left to do; the line names the way to label issues
    (lambda i: ["skyline"], PrefilterConfig(topic="skyline", label_issues=False),
     "needs untagged photos.*label.issues.only"),
])
def test_topic_without_positives_or_negatives_is_a_usage_error(tags, config, message):
    rows = [{"owner_id": f"o{i % 9}", "tags": tags(i), "image_path": f"i{i}.jpg"} for i in range(40)]
    catalog = make_catalog(rows)
    with pytest.raises(UsageError, match=message):
        run(catalog, np.random.default_rng(0).normal(size=(40, DIM)).astype(np.float32), config)


def test_a_topic_on_every_photo_is_held_and_label_issues_run_alone():
    """Audit M: a recipe whose topic tag is on every photo stopped `curate run` at the prefilter (exit 2)
    while a topic on 93 % held its drops and went on. Now: nothing judged off topic, nothing dropped,
    label issues found as without a topic, one warning saying why and what to do."""
    catalog, vectors, _, truth = synthetic(seed=5, flips=0.08)
    catalog["tags"] = [["skyline", "city"] for _ in range(len(catalog))]
    result, report = run(catalog, vectors)
    assert result["status"].tolist() == catalog["status"].tolist()  # nothing dropped
    assert result["topic_score"].isna().all() and result["is_label_issue"].notna().all()
    alone, alone_report = run(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True))
    assert result["is_label_issue"].tolist() == alone["is_label_issue"].tolist()
    assert report.label_issues == alone_report.label_issues > 0
    assert report.topic is None and "'skyline' on every photo judged" in report.notes[0]
    assert report.warnings[0].startswith(f"every one of the {len(catalog):,} kept photos judged is tagged 'skyline'")
    assert "--label-issues-only" in report.warnings[0] and "nothing dropped" in report.warnings[0]
    assert report.summary().startswith("topic 'skyline' on every photo, no negatives (label issues only)")
    from curate.report.data import tags_section  # the report read a threshold it did not have (a TypeError)

    assert "carries the topic 'skyline'" in tags_section(result, report.to_dict(), 5)["prefilter"]["absent"]


def test_fewer_owners_than_folds_is_a_usage_error():
    rows = [{"owner_id": f"o{i % 3}", "tags": ["skyline"] if i % 2 else [], "image_path": f"i{i}.jpg"}
            for i in range(30)]
    with pytest.raises(UsageError, match="fewer than --folds"):
        run(make_catalog(rows), np.zeros((30, DIM), np.float32))


def test_missing_embeddings_say_run_embed():
    catalog, vectors, _, _ = synthetic(seed=7, owners=10)
    found = np.ones(len(catalog), bool)
    found[0] = False
    with pytest.raises(UsageError, match="curate embed"):
        run(catalog, vectors, found=found)


@pytest.mark.parametrize("threshold", ["1.5", "0", "-0.2", "abc", "nan"])
def test_bad_thresholds_are_rejected(threshold, tmp_path):
    result = runner.invoke(app, ["prefilter", "--workspace", str(tmp_path), "--topic", "skyline",
                                 "--threshold", threshold])
    assert result.exit_code == 2
    assert "--threshold" in result.output and "Traceback" not in result.output


def test_prefilter_before_embed_says_run_embed(tmp_path):
    catalog, _, _, _ = synthetic(seed=8, owners=10)
    from curate.workspace import Workspace, write_catalog

    write_catalog(Workspace(tmp_path), catalog)
    result = runner.invoke(app, ["prefilter", "--workspace", str(tmp_path), "--topic", "skyline"])
    assert result.exit_code == 2 and "curate embed" in result.output


def test_prefilter_needs_a_topic(tmp_path):
    result = runner.invoke(app, ["prefilter", "--workspace", str(tmp_path)])
    assert result.exit_code == 2 and "--topic" in result.output


# ------------------------------------------------------------------ small demo, real model

@pytest.fixture(scope="module")
def embedded_demo(tmp_path_factory):
    from curate.demo.config import DemoConfig
    from curate.embed import EmbedConfig, run_embed
    from curate.ingest.demo import ingest_demo
    from curate.workspace import Workspace

    root = tmp_path_factory.mktemp("prefilter-demo")
    ws = Workspace(root)
    ingest_demo(ws, DemoConfig(photos=360, seed=11, image_width=96, image_height=72), images=True, workers=2)
    assert runner.invoke(app, ["filter", "--workspace", str(root), "--recipe", "skylines"]).exit_code == 0
    run_embed(ws, EmbedConfig(workers=0, image_size=128))  # smaller crops: same features, 3x faster on CPU
    return root


def test_demo_prefilter_and_scorecard(embedded_demo):
    root = str(embedded_demo)
    result = runner.invoke(app, ["prefilter", "--workspace", root, "--recipe", "skylines", "--folds", "4", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["topic"] == "skyline"
    four = report["tagged_kept"] + report["tagged_dropped"] + report["untagged_recovered"] + report["untagged_dropped"]
    assert four == report["scored"] > 0

    scored = runner.invoke(app, ["score", "--workspace", root, "--json"])
    rows = {row["metric"]: row for row in json.loads(scored.output)["rows"]}
    assert rows["off_topic"]["precision"] >= 0.85 and rows["off_topic"]["recall"] >= 0.85
    assert rows["sandals_photos_dropped"]["share"] >= 0.9
    assert "label_issue" in rows


def test_demo_prefilter_with_an_unknown_topic_is_one_clear_line(embedded_demo):
    result = runner.invoke(app, ["prefilter", "--workspace", str(embedded_demo), "--topic", "volcano"])
    assert result.exit_code == 2
    assert "volcano" in result.output and "Traceback" not in result.output


def test_rerunning_the_filter_reinstates_prefilter_drops_so_the_pipeline_repeats():
    """filter -> prefilter -> filter -> prefilter gives the same catalog as filter -> prefilter."""
    from curate.filters.stage import FilterConfig, filter_catalog

    catalog, vectors, _, _ = synthetic(seed=9)
    once, _ = filter_catalog(catalog, FilterConfig())
    first, _ = run(once, vectors)
    again, report = filter_catalog(first, FilterConfig())
    assert not (again["drop_stage"] == "prefilter").any()
    assert any("prefilter" in note for note in report.notes)
    second, _ = run(again, vectors)
    assert second["status"].tolist() == first["status"].tolist()
    assert second["drop_reason"].tolist() == first["drop_reason"].tolist()


# ------------------------------------------------------------------ no topic: label issues only

def test_without_a_topic_label_issues_are_found_and_nothing_is_dropped():
    """A labelled collection without tags (`topic` None): no topic score, no off_topic drop, every
    kept photo judged for label issues; the flipped labels are among the flags."""
    catalog, vectors, _, truth = synthetic(seed=5, flips=0.08)
    result, report = run(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True))
    assert result["status"].tolist() == catalog["status"].tolist()  # nothing dropped
    assert result["topic_score"].isna().all() and result["topic_recovered"].isna().all()
    assert result["is_label_issue"].notna().all() and report.scored == len(catalog)
    assert report.topic is None and report.threshold is None and report.label_issues is not None
    flagged = result["is_label_issue"].astype(bool).to_numpy()
    assert report.label_issues == flagged.sum()
    # (the synthetic off-topic photos show no class at all: their labels are judged too, and some flagged)
    shown, flipped = flagged & truth["on_topic"], truth["flipped"]
    assert (shown & flipped).sum() >= 0.8 * flipped.sum()  # the wrong labels are found ...
    assert (shown & flipped).sum() >= 0.8 * shown.sum()  # ... and the flags on photos of a class are mostly them
    assert "label issues only" in report.summary()

    dropped, report = run(catalog, vectors, PrefilterConfig(topic=None, label_issues_only=True, drop_label_issues=True))
    reasons = dropped["drop_reason"].dropna()
    assert set(reasons) == {"label_issue"} and len(reasons) == report.label_issues_dropped == flagged.sum()


def test_without_a_topic_the_settings_that_need_one_are_refused():
    with pytest.raises(UsageError, match="label issues"):
        PrefilterConfig(topic=None, label_issues_only=True, label_issues=False)
    with pytest.raises(UsageError, match="finetune"):
        PrefilterConfig(topic=None, label_issues_only=True, mode="finetune")
    with pytest.raises(UsageError, match="not both"):
        PrefilterConfig(topic="skyline", label_issues_only=True)
    with pytest.raises(UsageError, match="label.issues.only"):  # the flag on the command line, the key in a recipe
        PrefilterConfig(topic=None)  # no topic is asked for, not assumed
    with pytest.raises(UsageError, match="topic"):
        PrefilterConfig(topic="  ")


def test_label_issues_only_on_the_command_line_replaces_a_topic_run(embedded_demo, tmp_path):
    """`--label-issues-only` after a topic run: the off_topic drops and the saved topic model (a stale
    gate for `classify train`) are gone, label issues are flagged, the report says why it has no
    pre-classifier counts. Without a topic or the flag, one line names the flag."""
    import shutil

    from curate.prefilter.run import topic_model_dir
    from curate.workspace import Workspace, read_catalog

    root = tmp_path / "ws"
    shutil.copytree(embedded_demo, root)
    ws = Workspace(root)
    assert runner.invoke(app, ["prefilter", "--workspace", str(root), "--topic", "skyline", "--folds", "4"]
                         ).exit_code == 0
    assert (read_catalog(ws)["drop_reason"] == "off_topic").any() and any(topic_model_dir(ws).iterdir())

    for args, wanted in ((["--no-label-issues", "--label-issues-only"], "label issues"),
                         (["--topic", "skyline", "--label-issues-only"], "not both"),
                         ([], "--label-issues-only")):
        refused = runner.invoke(app, ["prefilter", "--workspace", str(root), *args])
        assert refused.exit_code == 2 and wanted in refused.output and "Traceback" not in refused.output
        assert len(refused.output.strip().splitlines()) == 1

    result = runner.invoke(app, ["prefilter", "--workspace", str(root), "--label-issues-only", "--folds", "4",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["topic"] is None and report["label_issues"] is not None
    catalog = read_catalog(ws)
    assert not (catalog["drop_stage"] == "prefilter").any() and catalog["topic_score"].isna().all()
    kept = catalog[(catalog["status"] == schema.KEPT) & catalog["label"].notna()]
    unjudged = sum(row["unjudged"] for row in report["per_label"])  # too little fold support to judge
    assert kept["is_label_issue"].notna().sum() + unjudged == len(kept) and report["scored"] == len(kept)
    assert not any(topic_model_dir(ws).iterdir())  # no stale topic model for a later `classify train`

    text = runner.invoke(app, ["prefilter", "--workspace", str(root), "--label-issues-only", "--folds", "4"])
    assert text.exit_code == 0 and "no topic (label issues only)" in text.output
    assert runner.invoke(app, ["report", "--workspace", str(root)]).exit_code == 0
    page = (root / "report" / "index.html").read_text(encoding="utf-8")
    assert "the prefilter ran without a topic" in page


def test_photos_no_topic_model_could_score_are_still_judged_for_label_issues():
    """Audit CR: with a topic, the 18 real Ferraris the topic models could not score (their photographer's fold saw
    one kind) were left out of the label issues too, without a word; without a topic they were judged."""
    catalog, vectors, _, _ = synthetic(seed=3)
    alone = (catalog["owner_id"] == "o0").to_numpy()
    catalog["tags"] = [["city"] if mine else ["skyline"] for mine in alone]  # o0's photos alone lack the tag
    result, report = run(catalog, vectors, PrefilterConfig(topic="skyline"))
    unscored = result["topic_score"].isna().to_numpy()
    assert unscored[alone].all()  # the premise: no topic model scored o0's photos
    assert result.loc[alone, "label_quality"].notna().all() and result.loc[alone, "is_label_issue"].notna().all()
    assert report.label_model["photos"] == len(catalog)
