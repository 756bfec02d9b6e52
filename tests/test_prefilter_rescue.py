"""Topic rescue (`curate prefilter`, curate/prefilter/rescue.py): a photo the topic cut drops whose
pixels clearly show its label is kept as topic_rescued; off-topic photos (random labels) and on-topic
photos with a wrong label stay dropped; --no-topic-rescue and a held cut keep the old behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from curate import schema
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from curate.report.data import tags_section
from tests.test_split import make_catalog

DIM = 32
NAMES = np.array(["amsterdam", "berlin", "chicago"])


def factories(seed: int = 0, owners: int = 60, per_owner: int = 8, off_topic_classes: bool = False):
    """Catalog + embeddings where one kind of on-topic photo looks off topic to the topic model.

    On-topic photos lie along a topic direction plus their class's direction; a quarter of them
    ("factories", in every class) lack the topic direction and share the off-topic direction
    instead, so a linear topic model on noisy tags scores many of them below the cut. Off-topic
    photos carry a random label, as a photographer's home label in a scrape. Tags: 70% of on-topic,
    10% of off-topic photos. `off_topic_classes`: off-topic photos also show a class's pixels
    (unrelated to their label), so the label model believes a class for them too.
    """
    rng = np.random.default_rng(seed)
    n = owners * per_owner
    owner = np.repeat(np.arange(owners), per_owner)
    on_topic = rng.random(n) < 0.7
    true_class = rng.integers(0, 3, n)
    hard = on_topic & (rng.random(n) < 0.25)
    directions = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0][:5]  # topic, off-topic, 3 classes
    topic = np.where(on_topic & ~hard, 1.0, 0.0)
    vectors = (topic[:, None] * directions[0] + (1.0 - topic)[:, None] * directions[1]
               + np.where(on_topic | off_topic_classes, 1.0, 0.0)[:, None] * directions[2 + true_class]
               + 0.1 * rng.normal(size=(owners, DIM))[owner] + 0.1 * rng.normal(size=(n, DIM)))
    tagged = rng.random(n) < np.where(on_topic, 0.7, 0.1)
    given = np.where(on_topic, true_class, rng.integers(0, 3, n))
    rows = [{"owner_id": f"o{owner[i]}", "label": NAMES[given[i]], "tags": ["skyline"] if tagged[i] else ["city"],
             "image_path": f"images/{i}.jpg"} for i in range(n)]
    return make_catalog(rows), vectors.astype(np.float32), {"on_topic": on_topic, "hard": hard,
                                                     "true_class": NAMES[true_class]}


def run(catalog, vectors, **settings):
    ones = np.ones(len(catalog), bool)
    return prefilter_catalog(catalog, vectors, ones, ones, PrefilterConfig(topic="skyline", **settings))


def off_topic_drops(result):
    return (result["drop_reason"] == "off_topic").to_numpy()


@pytest.fixture(scope="module")
def factory_runs():
    catalog, vectors, truth = factories()
    return catalog, vectors, truth, run(catalog, vectors, topic_rescue=False), run(catalog, vectors)


def test_the_cut_alone_drops_a_kind_of_on_topic_photo(factory_runs):
    """The situation the rescue is for: the topic cut's false drops are a kind of on-topic photo."""
    _, _, truth, (old, old_report), _ = factory_runs
    dropped = off_topic_drops(old)
    assert (dropped & truth["hard"]).sum() >= 0.3 * truth["hard"].sum()
    assert (dropped & truth["on_topic"] & ~truth["hard"]).sum() <= 2
    assert old["topic_rescued"].isna().all() and old_report.topic_rescue == {}


def test_photos_below_the_cut_whose_pixels_show_their_label_are_kept(factory_runs):
    _, _, truth, (old, _), (new, report) = factory_runs
    before, after = off_topic_drops(old), off_topic_drops(new)
    assert (after & truth["hard"]).sum() <= 0.5 * (before & truth["hard"]).sum()
    rescued = new["topic_rescued"].eq(True).to_numpy()
    assert rescued.sum() == report.topic_rescue["rescued"] > 0
    assert (new.loc[rescued, "status"] == schema.KEPT).all() and new.loc[rescued, "drop_reason"].isna().all()
    assert (new.loc[rescued, "topic_score"].astype(float) < report.threshold).all()  # below the cut, kept anyway
    assert truth["on_topic"][rescued].all()
    # the judged ones are exactly the cut's drops with a label; the rest of the catalog is untouched
    judged = new["topic_rescued"].notna().to_numpy()
    assert judged.sum() == report.topic_rescue["off_topic_labelled"] == before.sum()
    same = ~judged
    assert (new.loc[same, "status"].to_numpy() == old.loc[same, "status"].to_numpy()).all()


def test_off_topic_photos_with_a_label_stay_dropped(factory_runs):
    _, _, truth, (old, _), (new, _) = factory_runs
    off = ~truth["on_topic"]
    assert (off_topic_drops(new) & off).sum() >= (off_topic_drops(old) & off).sum() - 1
    assert (new["topic_rescued"].eq(True).to_numpy() & off).sum() <= 1


def test_counts_add_up_with_rescued_photos_kept(factory_runs):
    _, _, _, _, (new, report) = factory_runs
    assert report.tagged_kept + report.tagged_dropped + report.untagged_recovered + report.untagged_dropped \
        == report.scored
    scored = new["topic_score"].notna()
    assert report.tagged_dropped + report.untagged_dropped == int((scored & (new["drop_reason"] == "off_topic")).sum())
    assert f"{report.topic_rescue['rescued']:,} of" in report.summary()


def test_a_factory_with_another_label_stays_dropped():
    """Pixels of one class under another class's label: the label model does not believe the label."""
    catalog, vectors, truth = factories(seed=1)
    hard = np.flatnonzero(truth["hard"])
    true = truth["true_class"][hard]
    catalog.loc[hard, "label"] = NAMES[(np.searchsorted(NAMES, true) + 1) % 3]  # the next class's label
    result, _ = run(catalog, vectors)
    below = hard[result.loc[hard, "topic_rescued"].notna().to_numpy()]
    assert len(below) >= 10
    assert (result.loc[below, "drop_reason"] == "off_topic").all()
    believed = result.loc[below, "suggested_label"].to_numpy() == truth["true_class"][below]
    assert believed.mean() >= 0.8


def test_a_held_cut_rescues_nothing_and_drops_nothing():
    catalog, vectors, _ = factories(seed=2)
    result, report = run(catalog, vectors, max_drop_share=0.01)
    assert report.held and report.topic_rescue == {}
    assert result["topic_rescued"].isna().all() and not off_topic_drops(result).any()


def test_a_rerun_without_the_rescue_drops_them_again(factory_runs):
    catalog, vectors, _, (old, _), (new, _) = factory_runs
    again, _ = run(new, vectors, topic_rescue=False)
    assert (again["status"].to_numpy() == old["status"].to_numpy()).all() and again["topic_rescued"].isna().all()


def test_the_report_counts_rescued_photos_as_kept(factory_runs):
    _, _, _, _, (new, report) = factory_runs
    section = tags_section(new, report.to_dict(), max_gallery=4)["prefilter"]
    counts = section["counts"]
    assert counts["tagged_dropped"] == report.tagged_dropped and counts["untagged_dropped"] == report.untagged_dropped
    assert counts["tagged_kept"] == report.tagged_kept and counts["untagged_recovered"] == report.untagged_recovered


def test_no_rescue_when_the_label_model_vouches_for_off_topic_photos_by_chance():
    """Off-topic photos that show some class's pixels under an unrelated label: a third of them would be
    rescued by chance. The photos believed to be another class give that away, and nothing is kept."""
    catalog, vectors, truth = factories(seed=3, off_topic_classes=True)
    result, report = run(catalog, vectors)
    rescue = report.topic_rescue
    assert rescue["held"] and rescue["rescued"] == 0 and rescue["would_rescue"] > 0
    assert 0 <= rescue["expected_precision"] < 0.8
    assert any(note.startswith("topic rescue held") for note in report.notes)
    assert "labelled photos rescued (pixels agree with the label) (the rescue held: expected precision" in \
        report.summary()  # not "(held: …": the cut was applied, only the rescue held (audit CD LOW-7)
    assert result["topic_rescued"].eq(True).sum() == 0
    old, _ = run(catalog, vectors, topic_rescue=False)
    assert (result["status"].to_numpy() == old["status"].to_numpy()).all()
    # the guard was right: with the bar at 0.5 the rescue keeps photos of which too many are off topic
    loose, loose_report = run(catalog, vectors, topic_rescue_precision=0.5)
    if not loose_report.topic_rescue["held"]:
        assert truth["on_topic"][loose["topic_rescued"].eq(True).to_numpy()].mean() < 0.8


def test_the_rescue_estimates_its_precision_on_factories(factory_runs):
    _, _, truth, _, (new, report) = factory_runs
    rescue = report.topic_rescue
    rescued = new["topic_rescued"].eq(True).to_numpy()
    assert not rescue["held"] and rescue["expected_precision"] >= 0.8
    assert truth["on_topic"][rescued].mean() >= rescue["expected_precision"] - 0.1


def test_the_summary_line_tells_rescued_untagged_photos_from_recovered_ones(factory_runs):
    """Audit BU T1: "untagged recovered 89" beside a catalog marking 78 `topic_recovered` and 11 `topic_rescued`."""
    _, _, _, _, (new, report) = factory_runs
    tags = new["tags"].map(lambda cell: "skyline" in list(cell))
    recovered = int((new["topic_recovered"].eq(True) & ~tags).sum())
    rescued = int((new["topic_rescued"].eq(True) & ~tags).sum())
    assert rescued > 0 and report.untagged_rescued == rescued
    assert report.untagged_recovered == recovered + rescued
    assert (f"untagged recovered {recovered + rescued:,} ({recovered:,} scored on topic, {rescued:,} rescued below "
            "the cut)") in report.summary()
