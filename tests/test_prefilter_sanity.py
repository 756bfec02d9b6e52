"""`curate prefilter` never destroys good data silently: the bimodality test behind Otsu's cut,
the calibrated fallback, the holds (tag on most photos, too many tagged photos dropped, no
calibrated cut), `--force`, the report's line; on real photos (Ferrari, 15-Scene) when present."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.errors import UsageError
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from curate.prefilter.threshold import bimodality, youden_threshold
from tests.helpers import REALDATA, no_fsync
from tests.test_prefilter import DIM, synthetic
from tests.test_split import make_catalog

runner = CliRunner()
FERRARI = REALDATA / "flickr-ferrari"
SCENES = REALDATA / "scenes15" / "train"
URBAN = ("TallBuilding", "InsideCity", "Street", "Highway", "Industrial", "Suburb")


def with_scores(tagged: np.ndarray, scores: np.ndarray, config: PrefilterConfig | None = None, owners: int = 12):
    """Run the stage on given out-of-fold scores (the `--mode finetune` entry), one row per score."""
    n = len(tagged)
    rows = [{"owner_id": f"o{i % owners}", "tags": ["skyline"] if tagged[i] else ["city"],
             "image_path": f"i{i}.jpg"} for i in range(n)]
    config = config or PrefilterConfig(topic="skyline", label_issues=False)
    return prefilter_catalog(make_catalog(rows), np.zeros((n, 0), np.float32), np.zeros(n, bool), np.zeros(n, bool),
                             config, topic_scores=np.asarray(scores, dtype=np.float64))


def youden_oracle(scores: np.ndarray, tagged: np.ndarray) -> float:
    """Brute force: every observed score as a cut, J = TPR - FPR, lowest cut among the best."""
    best, best_j = None, -2.0
    for cut in sorted(set(scores.tolist())):
        j = np.mean(scores[tagged] >= cut) - np.mean(scores[~tagged] >= cut)
        if j > best_j + 1e-12:
            best, best_j = cut, j
    return best


# ------------------------------------------------------------------ the bimodality test

def test_ashman_d_matches_its_formula_on_two_known_gaussians():
    """Logits from N(-2, 0.5^2) and N(2, 0.5^2): D = sqrt(2) * 4 / sqrt(0.5) = 8."""
    rng = np.random.default_rng(0)
    logits = np.concatenate([rng.normal(-2, 0.5, 5000), rng.normal(2, 0.5, 5000)])
    test = bimodality(1 / (1 + np.exp(-logits)))
    assert test.ashman_d == pytest.approx(8.0, rel=0.05) and test.bimodal


@pytest.mark.parametrize("shape", ["exponential", "beta_20_1", "logit_normal", "flat", "gaussian"])
def test_one_humped_scores_are_not_bimodal(shape):
    rng = np.random.default_rng(1)
    scores = {"exponential": np.clip(rng.exponential(0.15, 2000), 0, 1), "beta_20_1": rng.beta(20, 1, 2000),
              "logit_normal": 1 / (1 + np.exp(-rng.normal(1, 1.5, 2000))), "flat": rng.random(2000),
              "gaussian": rng.normal(0.5, 0.1, 2000).clip(0, 1)}[shape]
    test = bimodality(scores)
    assert test.ashman_d < 2 and not test.bimodal


@pytest.mark.parametrize("low_share", [0.7, 0.3, 0.1])
def test_two_separated_groups_are_bimodal_at_any_balance(low_share):
    rng = np.random.default_rng(2)
    n_low = int(2000 * low_share)
    scores = np.concatenate([rng.normal(0.15, 0.05, n_low), rng.normal(0.8, 0.07, 2000 - n_low)]).clip(0, 1)
    test = bimodality(scores)
    assert test.bimodal and 0.3 < test.cut < 0.65


def test_clumps_a_few_hundredths_apart_are_not_two_populations():
    """The real Ferrari folder's out-of-fold scores: clumps at 0.97 and 1.00 (D is scale-free)."""
    rng = np.random.default_rng(3)
    scores = np.concatenate([rng.normal(0.975, 0.003, 80), np.full(20, 0.9999)])
    test = bimodality(scores)
    assert test.ashman_d > 2 and test.mode_gap < 0.1 and not test.bimodal


def test_youden_cut_matches_a_brute_force_search():
    rng = np.random.default_rng(4)
    for _ in range(5):
        tagged = rng.random(300) < 0.4
        scores = np.round(np.where(tagged, rng.normal(0.6, 0.15, 300), rng.normal(0.4, 0.15, 300)).clip(0, 1), 3)
        assert youden_threshold(scores, tagged) == pytest.approx(youden_oracle(scores, tagged))


# ------------------------------------------------------------------ threshold choice

def test_scores_that_are_not_bimodal_get_the_calibrated_cut_and_it_drops():
    """One hump (tagged and untagged scores overlap): Youden's J on tagged vs untagged, not Otsu."""
    rng = np.random.default_rng(5)
    tagged = rng.random(400) < 0.7
    scores = np.where(tagged, rng.normal(0.6, 0.1, 400), rng.normal(0.35, 0.1, 400)).clip(0.01, 0.99)
    assert not bimodality(scores).bimodal
    result, report = with_scores(tagged, scores)
    assert report.threshold_method == "youden" and not report.held
    cut = youden_oracle(scores, tagged)
    assert report.threshold == pytest.approx(cut, abs=1e-4)
    dropped = (result["drop_reason"] == "off_topic").to_numpy()
    np.testing.assert_array_equal(dropped, scores < cut)
    assert 0 < report.tagged_dropped <= 0.3 * tagged.sum()
    assert "not bimodal" in report.bimodality["summary"]


@pytest.mark.parametrize("seed", range(4))
def test_a_cut_calibrated_on_a_tag_the_pixels_do_not_predict_is_held(seed):
    """An acceptance audit put a tag on a random half of 280 real photos: the scores were one hump, the
    Youden cut on that tag dropped 10 % of the photos from every label and said nothing. The same cut on
    scores the tag does not separate is held now, and claims no recovered photo."""
    rng = np.random.default_rng(seed)
    tagged = rng.random(280) < 0.5
    scores = rng.normal(0.5, 0.1, 280).clip(0.01, 0.99)  # the tag says nothing of the pixels
    assert not bimodality(scores).bimodal
    result, report = with_scores(tagged, scores)
    assert report.threshold_method == "youden" and report.held
    assert not (result["drop_reason"] == "off_topic").any() and not result["topic_recovered"].fillna(False).any()
    assert any("does not tell photos apart" in reason for reason in report.held_reasons)


def test_a_tag_beyond_chance_but_barely_separating_is_held_too():
    """At 20,000 photos a tag 0.05 standard deviations apart is beyond chance, yet keeps only a few points
    more of the tagged photos above the cut: too weak to drop photos on."""
    from curate.prefilter.threshold import tag_separation

    rng = np.random.default_rng(7)
    tagged = rng.random(20_000) < 0.5
    scores = (rng.normal(0.5, 0.1, 20_000) + 0.005 * tagged).clip(0.01, 0.99)
    j, chance = tag_separation(scores, tagged)
    assert chance < 0.01 and j < 0.2
    _, report = with_scores(tagged, scores)
    assert report.held and any("does not tell photos apart" in reason for reason in report.held_reasons)


def test_bimodal_scores_use_otsus_cut():
    rng = np.random.default_rng(6)
    on_topic = rng.random(400) < 0.6
    tagged = rng.random(400) < np.where(on_topic, 0.8, 0.05)
    scores = np.where(on_topic, rng.normal(0.8, 0.05, 400), rng.normal(0.1, 0.04, 400)).clip(0, 1)
    result, report = with_scores(tagged, scores)
    assert report.threshold_method == "otsu" and not report.held and report.bimodality["bimodal"]
    dropped = (result["drop_reason"] == "off_topic").to_numpy()
    np.testing.assert_array_equal(dropped, ~on_topic)


# ------------------------------------------------------------------ holds and --force

def test_a_tag_on_most_photos_drops_nothing_and_flags_the_doubted():
    catalog, vectors, _, _ = synthetic(seed=10)
    rng = np.random.default_rng(10)
    tagged = rng.random(len(catalog)) < 0.9
    catalog["tags"] = [["skyline"] if t else ["city"] for t in tagged]
    config = PrefilterConfig(topic="skyline", label_issues=False)
    result, report = prefilter_catalog(catalog, vectors, np.ones(len(catalog), bool), np.ones(len(catalog), bool),
                                       config)
    assert report.held and not (result["status"] == schema.DROPPED).any()
    assert any("max_topic_share" in reason for reason in report.held_reasons)
    assert report.tagged_dropped == report.untagged_dropped == 0
    score = result["topic_score"].astype(float).to_numpy()
    assert np.isfinite(score).all()
    doubted = (result["topic_doubted"] == True).to_numpy()  # noqa: E712
    np.testing.assert_array_equal(doubted, score < report.threshold)
    assert report.doubted == doubted.sum() > 0
    assert "--force" in report.sanity_line() and "no photo dropped as off topic" in report.sanity_line()

    forced, forced_report = prefilter_catalog(catalog, vectors, np.ones(len(catalog), bool),
                                              np.ones(len(catalog), bool),
                                              PrefilterConfig(topic="skyline", label_issues=False, force=True))
    off = (forced["drop_reason"] == "off_topic").to_numpy()
    np.testing.assert_array_equal(off, doubted)
    assert forced_report.forced and not forced_report.held and (forced["topic_doubted"] == False).all()  # noqa: E712
    assert forced_report.sanity_line().startswith("dropped anyway (--force)")


def test_a_photographer_holding_every_untagged_photo_leaves_them_unjudged_even_with_force():
    """Audit AV3: one photographer owned every untagged photo (29 photos of a cathedral among Ferraris), so the
    fold that held them out trained on tagged photos only and scored all of them 1.000; with --force they were
    marked topic_recovered. A model of one class scores nothing: those photos stay kept, unscored, named, and as
    every photo left to judge is tagged, no cut is made, even with --force."""
    catalog, vectors, _, _ = synthetic(seed=3)
    spammer = (catalog["owner_id"] == "o0").to_numpy()
    catalog["tags"] = [["city"] if mine else ["skyline"] for mine in spammer]  # o0's photos alone lack the tag
    for force in (False, True):
        config = PrefilterConfig(topic="skyline", label_issues=False, force=force)
        result, report = prefilter_catalog(catalog, vectors, np.ones(len(catalog), bool), np.ones(len(catalog), bool),
                                           config)
        unscored = result["topic_score"].isna().to_numpy()
        assert unscored[spammer].all() and not unscored.all()  # o0's fold trained on tagged photos only
        assert (result["status"] == schema.KEPT).all() and not (result["topic_recovered"] == True).any()  # noqa: E712
        assert report.held and not report.forced and report.tagged_dropped == report.untagged_dropped == 0
        assert "even with --force" in report.held_reasons[0] and "pass --force" not in report.sanity_line()
        lines = [line for line in report.warnings if "were not judged on topic" in line]
        assert len(lines) == 1 and lines[0].startswith(f"{int(unscored.sum()):,} photos were not judged on topic")
        assert f"they hold {int(spammer.sum())} of the {int(spammer.sum())} photos without the tag" in lines[0]
        # audit EG F8: 8 untagged photos are too few for a topic model, whoever holds them; the line names him
        assert f"only {int(spammer.sum())} of the {len(catalog)} photos lack the tag (all {int(spammer.sum())} by " \
            "photographer o0)" in lines[0]


def test_a_handful_of_untagged_photos_is_named_as_the_cause_not_the_photographers():
    """Audit EG F8: 129 of 131 photos carried `ferrari`, the 2 others one photographer's; the warning named another
    photographer (12 of the photos) and said "ingest photos of more photographers", which would not help: too few
    photos lack the tag for a topic model. It now says so; above min_untagged it still asks for photographers."""
    catalog, vectors, _, _ = synthetic(seed=3)
    owner = catalog["owner_id"].to_numpy()
    few = np.flatnonzero(owner == "o0")[:2]
    catalog["tags"] = [["city"] if i in few else ["skyline"] for i in range(len(catalog))]
    lines = {}
    for min_untagged in (20, 2):
        config = PrefilterConfig(topic="skyline", label_issues=False, min_untagged=min_untagged)
        _, report = prefilter_catalog(catalog, vectors, np.ones(len(catalog), bool), np.ones(len(catalog), bool),
                                      config)
        [lines[min_untagged]] = [line for line in report.warnings if "were not judged on topic" in line]
    assert f"only 2 of the {len(catalog)} photos lack the tag (both by photographer o0), too few to fit a topic " \
        "model on (min_untagged 20): more photos without the tag would help, more photographers alone would not" \
        in lines[20]
    assert "ingest photos of more photographers" not in lines[20] and "alone has" not in lines[20]
    assert lines[2].endswith("a topic model needs photographers on both sides: ingest photos of more photographers")


def test_one_class_folds_are_unscored_not_certain():
    from curate.prefilter.folds import out_of_fold_proba

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4))
    y = np.array([1] * 8 + [0] * 4)
    fold = np.array([0] * 4 + [1] * 4 + [2] * 4)  # fold 2 holds every negative: folds 0 and 1 train on both
    proba = out_of_fold_proba(x, y, fold, 2, 1.0, 0)
    assert np.isnan(proba[8:]).all()  # fold 2's model saw positives only
    assert np.isfinite(proba[:8]).all() and np.allclose(proba[:8].sum(axis=1), 1.0)


def test_a_cut_that_drops_too_many_tagged_photos_is_held():
    """40% of the tagged photos score with the untagged ones: bimodal, but the cut would drop them."""
    tagged = np.array([True] * 100 + [False] * 100)
    scores = np.concatenate([np.full(60, 0.9), np.full(40, 0.1), np.full(100, 0.1)])
    scores = scores + np.random.default_rng(7).normal(0, 0.01, 200)
    result, report = with_scores(tagged, scores)
    assert report.threshold_method == "otsu" and report.held
    assert report.would_drop_tagged == 40 and report.tagged_dropped == 0
    assert any("max_drop_share" in reason and "40 of 100 tagged" in reason for reason in report.held_reasons)
    assert (result["status"] == schema.KEPT).all() and (result["topic_doubted"] == True).sum() == 140  # noqa: E712

    loose, loose_report = with_scores(tagged, scores, PrefilterConfig(topic="skyline", label_issues=False,
                                                                      max_drop_share=0.5))
    assert not loose_report.held and (loose["drop_reason"] == "off_topic").sum() == 140


def test_too_few_untagged_photos_to_calibrate_drops_nothing():
    rng = np.random.default_rng(8)
    tagged = np.arange(200) >= 10  # 10 untagged
    scores = rng.normal(0.6, 0.12, 200).clip(0.01, 0.99)
    config = PrefilterConfig(topic="skyline", label_issues=False, max_topic_share=1.0, max_drop_share=1.0)
    result, report = with_scores(tagged, scores, config)
    assert report.threshold_method == "otsu-uncalibrated" and report.held
    assert "min_untagged 20" in report.held_reasons[0]
    # the scores are noise: within the labels they cannot tell tagged photos either, the only other reason
    assert all(reason.startswith("within its labels") for reason in report.held_reasons[1:])
    assert not (result["drop_reason"] == "off_topic").any()


def test_a_fixed_threshold_is_held_too_and_force_applies_it():
    rng = np.random.default_rng(9)
    tagged = rng.random(200) < 0.5
    scores = rng.random(200)
    held, held_report = with_scores(tagged, scores, PrefilterConfig(topic="skyline", threshold=0.8,
                                                                    label_issues=False))
    assert held_report.threshold_method == "fixed" and held_report.held
    assert not (held["drop_reason"] == "off_topic").any()
    forced, _ = with_scores(tagged, scores, PrefilterConfig(topic="skyline", threshold=0.8, label_issues=False,
                                                            force=True))
    np.testing.assert_array_equal((forced["drop_reason"] == "off_topic").to_numpy(), scores < 0.8)


@pytest.mark.parametrize("settings, name", [({"max_topic_share": 1.5}, "max_topic_share"),
                                            ({"max_drop_share": -0.1}, "max_drop_share"),
                                            ({"min_untagged": 0}, "min_untagged"),
                                            ({"force": "yes"}, "force")])
def test_bad_sanity_settings_are_usage_errors(settings, name):
    with pytest.raises(UsageError, match=name):
        PrefilterConfig(topic="skyline", **settings)


def test_recipe_force_and_shares_reach_the_command(tmp_path):
    from curate.cli.prefilter import _config

    recipe = tmp_path / "cars.toml"
    recipe.write_text('name = "cars"\nlabels_from = "skylines"\n\n[prefilter]\nforce = true\nmax_drop_share = 0.5\n')
    nothing = {key: None for key in ("threshold", "folds", "regularisation", "label_issues", "drop_label_issues",
                                     "seed", "force", "mode")}
    config = _config(None, str(recipe), nothing)
    assert config.force and config.max_drop_share == 0.5 and config.topic == "skyline"
    assert _config(None, str(recipe), {**nothing, "folds": 3}).folds == 3  # a flag wins over the recipe
    recipe.write_text('name = "cars"\nlabels_from = "skylines"\n\n[prefilter]\nmax_drop_share = 2\n')
    result = runner.invoke(app, ["prefilter", "--workspace", str(tmp_path / "ws"), "--recipe", str(recipe)])
    assert result.exit_code == 2 and "max_drop_share" in result.output and "Traceback" not in result.output


def test_unknown_topic_message_names_the_status_command_truthfully():
    rows = [{"owner_id": f"o{i % 9}", "tags": ["city"], "image_path": f"i{i}.jpg"} for i in range(40)]
    with pytest.raises(UsageError, match="`curate status` lists the most common tags"):
        prefilter_catalog(make_catalog(rows), np.zeros((40, DIM), np.float32), np.ones(40, bool), np.ones(40, bool),
                          PrefilterConfig(topic="skyline"))


def test_the_report_says_why_nothing_was_dropped():
    from curate.report.data import tags_section
    from curate.report.html_sections import tags

    tagged = np.array([True] * 100 + [False] * 100)
    scores = np.concatenate([np.full(60, 0.9), np.full(40, 0.1), np.full(100, 0.1)])
    result, report = with_scores(tagged, scores + np.random.default_rng(7).normal(0, 0.01, 200))
    section = tags_section(result, report.to_dict(), max_gallery=5)
    pre = section["prefilter"]
    assert pre["counts"]["tagged_dropped"] == pre["counts"]["untagged_dropped"] == 0
    assert pre["doubted_counts"] == {"tagged": 40, "untagged": 100}
    assert "max_drop_share" in pre["sanity"] and "--force" in pre["sanity"]
    page = tags(section)
    assert "Nothing dropped" in page and "Doubted but kept" in page


# ------------------------------------------------------------------ real photos

def embed_files(paths, image_size: int = 128) -> np.ndarray:
    import torch

    from curate.embed import embed_paths
    from curate.vision.backbones import load_backbone

    backbone = load_backbone().resized(image_size)
    vectors = np.zeros((len(paths), backbone.dim), np.float32)
    for indices, features, ok in embed_paths(backbone, paths, torch.device("cpu"), 64, 0):
        assert ok.all()
        vectors[indices] = features
    return vectors


@pytest.fixture(scope="module")
def ferrari_workspace(tmp_path_factory):
    if not (FERRARI / "metadata.csv").is_file():
        pytest.skip(f"real data not found at {FERRARI} (../shared/realdata is absent in this checkout)")
    from curate.embed import EmbedConfig, run_embed
    from curate.ingest.folder import FolderOptions, ingest_folder
    from curate.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("ferrari-prefilter") / "ws")
    with no_fsync():
        ingest_folder(ws, FolderOptions(folder=FERRARI, metadata=FERRARI / "metadata.csv", workers=2))
        run_embed(ws, EmbedConfig(workers=0, image_size=128))
    return ws


def test_ferrari_keeps_every_tagged_photo_even_with_force(ferrari_workspace):
    """98 of 100 real photos carry `ferrari`, and the 2 that do not are each in a fold whose out-of-fold model
    saw tagged photos only (audit AV3: it scored every photo of those folds 1.000). Those folds' photos are
    left unscored, the photos scored are all tagged, so no cut is made, even with --force: the command exits
    0, drops none, and says why in warnings that `curate status` repeats."""
    from curate.stage_reports import load_stage_report
    from curate.workspace import read_catalog

    root = str(ferrari_workspace.root)
    for extra in ([], ["--force", "--no-topic-rescue"]):
        result = runner.invoke(app, ["prefilter", "--workspace", root, "--topic", "ferrari", *extra])
        assert result.exit_code == 0, result.output
        warned = [line for line in result.output.splitlines() if "were not judged on topic" in line]
        assert len(warned) == 1 and "they hold 2 of the 2 photos without the tag 'ferrari'" in warned[0], warned
        assert "only 2 of the 100 photos lack the tag" in warned[0] and "more photographers alone would not" in \
            warned[0], warned  # audit EG F8: the cause, not a photographer
        catalog = read_catalog(ferrari_workspace)
        tagged = catalog["tags"].map(lambda tags: "ferrari" in set(tags))
        assert tagged.sum() == 98 and (catalog["status"] == schema.KEPT).all()
        saved = load_stage_report(ferrari_workspace, "prefilter")
        assert saved["tagged_dropped"] == saved["untagged_dropped"] == 0 and saved["held"] and saved["unforceable"]
        assert (catalog.loc[catalog["topic_score"].isna(), "status"] == schema.KEPT).all()
        held = [line for line in result.output.splitlines() if line.startswith("warning: held: no photo dropped")]
        assert len(held) == 1 and "even with --force" in held[0] and "pass --force" not in held[0]
        # audit AX: a cut among photos of one kind doubts none of them (it flagged real Ferraris, and the
        # export counted them as doubted off topic)
        assert "carries the tag 'ferrari'" in held[0] and "none flagged topic_doubted" in held[0], held[0]
        assert not catalog["topic_doubted"].fillna(False).astype(bool).any() and saved["doubted"] == 0
        assert "kept, doubted" not in result.output  # nor a column of doubted photos in its table (review AY)
    # audit AE: `curate status` lists the prefilter's warnings, the held line among them
    status = json.loads(runner.invoke(app, ["status", "--workspace", root, "--json"]).output)
    said = status["stages"]["prefilter"]["warnings"]
    assert any("were not judged on topic" in line for line in said)
    assert any(line.startswith("held: no photo dropped as off topic: ") for line in said)


def test_real_scenes_still_drop_off_topic_photos_and_hold_a_useless_tag():
    """15-Scene photos: urban classes on topic, natural and indoor ones off (60% of the photos); the
    topic tag on 70% of urban and 5% of other photos, as a scrape's tags are. The prefilter still drops
    the off-topic photos, unlabelled or labelled as a scrape labels them (an urban label, whatever the
    photo shows); with the tag on nearly every photo it drops none; with each photo labelled by its own
    class it holds (the off-topic classes are labels that are not kinds of the topic) and names them."""
    if not SCENES.is_dir():
        pytest.skip(f"real data not found at {SCENES} (../shared/realdata is absent in this checkout)")
    classes = sorted(p.name for p in SCENES.iterdir() if p.is_dir())
    paths = [path for name in classes for path in sorted((SCENES / name).glob("*.jpg"))[:16]]
    on_topic = np.array([path.parent.name in URBAN for path in paths])
    vectors = embed_files(paths)
    n = len(paths)
    rng = np.random.default_rng(0)
    owner = rng.integers(0, 30, n)
    scraped = np.where(on_topic, [path.parent.name for path in paths], rng.choice(URBAN, n))
    own_class = np.array([path.parent.name for path in paths])
    for rates, labels, should_hold in (((0.7, 0.05), None, False), ((0.7, 0.05), scraped, False),
                                       ((0.97, 0.9), None, True), ((0.7, 0.05), own_class, True)):
        tagged = rng.random(n) < np.where(on_topic, *rates)
        catalog = make_catalog([{"owner_id": f"o{owner[i]}", "tags": ["city"] if tagged[i] else ["photo"],
                                 "image_path": f"i{i}.jpg", "label": None if labels is None else labels[i]}
                                for i in range(n)])
        result, report = prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool),
                                           PrefilterConfig(topic="city", label_issues=False))
        dropped = (result["drop_reason"] == "off_topic").to_numpy()
        assert report.held == should_hold, report.held_reasons
        if labels is own_class:
            reason = next(r for r in report.held_reasons if "max_label_drop_share" in r)
            named = [name for name in classes if f"{name} " in reason]
            assert named and not set(named) & set(URBAN), reason
        if should_hold:
            assert not dropped.any() and report.doubted > 0
        else:
            precision = (dropped & ~on_topic).sum() / max(dropped.sum(), 1)
            recall = (dropped & ~on_topic).sum() / (~on_topic).sum()
            assert precision >= 0.85 and recall >= 0.85, (precision, recall, report.threshold_method)
            # the note bounds the on-topic photos among the drops (audit V): at least as many as there are
            estimate = report.cut_estimate
            assert estimate["dropped"] == dropped.sum()
            assert estimate["on_topic_dropped_bound"] >= (dropped & on_topic).sum()
            assert any(note.startswith(f"the cut drops {dropped.sum():,} photos") for note in report.notes)
            # noisy tags put the recovery floor (the tagged photos' 1st percentile) under the cut: every untagged
            # photo the cut keeps is recovered, as before it, none doubted (audit EG F1's floor changes nothing here)
            assert report.recovery_floor < report.threshold and report.untagged_doubted == 0
            kept_untagged = ~tagged & (result["status"] == schema.KEPT).to_numpy()
            assert (result["topic_recovered"].eq(True).to_numpy() == kept_untagged).all()
        assert should_hold != any(note.startswith("the cut drops") for note in report.notes)  # a held cut drops none


def test_real_scenes_without_tags_get_their_wrong_labels_flagged():
    """A labelled folder without tags or photographers (`--label-issues-only`): 96 real 15-Scene
    photos of six classes, 8 of them given another of the six labels. The stage drops nothing and
    flags the wrong labels, suggesting the photo's own class."""
    if not SCENES.is_dir():
        pytest.skip(f"real data not found at {SCENES} (../shared/realdata is absent in this checkout)")
    classes = ["Bedroom", "Coast", "Forest", "Highway", "Kitchen", "TallBuilding"]
    paths = [path for name in classes for path in sorted((SCENES / name).glob("*.jpg"))[:16]]
    vectors = embed_files(paths)
    true = np.array([path.parent.name for path in paths])
    n = len(paths)
    rng = np.random.default_rng(0)
    flipped = np.zeros(n, bool)
    flipped[rng.choice(n, 8, replace=False)] = True
    given = true.copy()
    for i in np.flatnonzero(flipped):
        given[i] = rng.choice([name for name in classes if name != true[i]])
    catalog = make_catalog([{"owner_id": None, "tags": [], "image_path": f"i{i}.jpg", "label": given[i]}
                            for i in range(n)])
    result, report = prefilter_catalog(catalog, vectors, np.ones(n, bool), np.ones(n, bool),
                                       PrefilterConfig(topic=None, label_issues_only=True))
    assert (result["status"] == schema.KEPT).all() and report.scored == n
    flagged = result["is_label_issue"].astype(bool).to_numpy()
    found = flagged & flipped
    assert found.sum() >= 6 and found.sum() >= 0.75 * flagged.sum(), (found.sum(), flagged.sum())
    assert (result["suggested_label"].to_numpy()[found] == true[found]).all()


def test_a_cut_taking_most_photos_asks_about_the_topic_only_when_the_tag_could_tell():
    """Audit AM: on 100 real Flickr Ferraris, 98 tagged `ferrari`, the held line asked "is 'ferrari' the topic of
    this collection (a wrong --topic)?". With the tag on more photos than max_topic_share the topic is plainly
    right (that share is its own reason, which points at --label-issues-only); the question stays for a tag on
    fewer photos, where a wrong --topic is what empties a collection."""
    from curate.prefilter.cut import collection_reasons

    config = PrefilterConfig(topic="ferrari")
    below = np.r_[np.ones(80, bool), np.zeros(20, bool)]  # over max_total_drop_share (75%)
    for share, asks in ((0.98, False), (0.5, True)):
        tagged = np.arange(100) < share * 100
        [reason] = collection_reasons(below, tagged, None, 0.9, config)
        assert reason.startswith("the cut 0.900 would drop 80 of the 100 photos judged")
        assert ("a wrong --topic" in reason) == asks, reason


def test_photographers_joined_by_shared_copies_are_named_with_the_fix():
    """Audit AV4: reposts by other accounts joined 26 photographers into 2 groups, and the prefilter refused
    with "only 2 photographers ... ingest more photographers", untrue, and silent about --dedupe-near."""
    catalog, vectors, _, _ = synthetic(seed=4, owners=12, per_owner=10)
    owners = catalog["owner_id"].to_numpy()
    # one picture reposted by o0..o5 and another by o6..o11: two copy sets join the 12 photographers in 2 groups
    catalog["near_dup_cluster"] = np.where(np.isin(owners, [f"o{i}" for i in range(6)]), "pic-a", "pic-b")
    with pytest.raises(UsageError) as refused:
        prefilter_catalog(catalog, vectors, np.ones(len(catalog), bool), np.ones(len(catalog), bool),
                          PrefilterConfig(topic="skyline", label_issues=False))
    message = str(refused.value)
    assert message.startswith("the 12 photographers of the kept photos are joined into 2 groups, fewer than --folds 5")
    assert "curate filter --dedupe-near" in message and "ingest more photographers" not in message


def test_the_topic_scores_and_the_label_model_share_one_fold_loop():
    """Audit AW9: the two per-fold logistic regressions were one loop written twice; now one, and they differ only
    where a fold's model saw one class (the label model reads it as that class, the topic scores as unscored)."""
    from curate.prefilter.folds import fit_fold_models, out_of_fold_proba

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 5)), np.array([0, 1] * 20)
    fold = np.repeat(np.arange(4), 10)
    both, _ = fit_fold_models(x, y, fold, 2, 1.0, 0, x[:0], np.zeros(0, int))
    np.testing.assert_array_equal(out_of_fold_proba(x, y, fold, 2, 1.0, 0), both)
    y_one = np.where(fold == 3, 0, 1)  # fold 3 holds every 0: folds 0-2 train on both, fold 3 on 1s only
    certain, _ = fit_fold_models(x, y_one, fold, 2, 1.0, 0, x[:0], np.zeros(0, int))
    unscored = out_of_fold_proba(x, y_one, fold, 2, 1.0, 0)
    assert (certain[fold == 3] == [0.0, 1.0]).all() and np.isnan(unscored[fold == 3]).all()
    np.testing.assert_array_equal(certain[fold != 3], unscored[fold != 3])


def test_a_topic_on_too_many_photos_leads_the_held_line_with_what_to_do():
    """Audit CR: on the Ferraris the held line ran to eight clauses, the advice that matters (--label-issues-only for
    a collection gathered by that tag) fifth of them."""
    rng = np.random.default_rng(3)
    tagged = np.arange(200) >= 4  # 98 % carry the tag
    scores = rng.normal(0.6, 0.12, 200).clip(0.01, 0.99)
    _, report = with_scores(tagged, scores, PrefilterConfig(topic="skyline", label_issues=False))
    assert report.held and len(report.held_reasons) >= 2
    assert "--label-issues-only" in report.held_reasons[0]
    # audit EG F7: added to the same command, beside --topic, that advice was refused: it names the command alone
    assert "`curate prefilter --label-issues-only` without --topic" in report.held_reasons[0]
