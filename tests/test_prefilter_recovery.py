"""`curate prefilter` recovers an untagged photo as on topic (`topic_recovered`) only when it scores like the tagged
photos (the recovery floor: their 1st percentile); an untagged photo above the cut but under the floor is kept,
flagged topic_doubted, never dropped, with a warning naming its photographers (audit EG F1, 2026-12-07: 18 untagged
sandals of a photographer who tags his Ferraris were recovered as Ferraris by a cut between the first of three
clumps of scores and the rest)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from curate import schema
from curate.prefilter.stage import PrefilterConfig, prefilter_catalog
from curate.report.data import build_report
from curate.workspace import Workspace, write_catalog
from tests.test_outofcore_report import duckdb_report
from tests.test_split import make_catalog

TOPIC = "ferrari"


def three_clumps(seed: int = 0):
    """Audit EG's variant D in scores: 8 scattered off-topic photos (8 photographers) at 0.10-0.20 (0.31-0.42 there:
    lower here, so that the three clumps pass the bimodality test by a margin), 18 untagged photos of `sole`, who
    tags his 26 other photos (0.70-0.94) with the topic, at 0.66-0.76, 74 more tagged photos at 0.77-0.94 and 2
    untagged on-topic photos at 0.81 and 0.93. Returns (catalog, scores, truth)."""
    rng = np.random.default_rng(seed)
    rows, scores, truth = [], [], []

    def add(owner, tagged, score, kind):
        rows.append({"owner_id": owner, "owner_name": owner, "tags": [TOPIC] if tagged else ["photo"],
                     "image_path": f"i{len(rows)}.jpg"})
        scores.append(score)
        truth.append(kind)

    for i, score in enumerate(np.linspace(0.10, 0.20, 8)):
        add(f"scatter{i}", False, score, "off")
    for score in rng.uniform(0.66, 0.76, 18):
        add("sole", False, score, "sandal")
    for score in np.r_[0.705, rng.uniform(0.78, 0.94, 25)]:
        add("sole", True, score, "good")
    for i, score in enumerate(np.r_[0.7695, rng.uniform(0.775, 0.94, 73)]):
        add(f"o{i % 12}", True, score, "good")
    for i, score in enumerate((0.808, 0.935)):
        add(f"o{i}", False, score, "good untagged")
    return make_catalog(rows), np.asarray(scores), np.asarray(truth)


def judge(catalog: pd.DataFrame, scores: np.ndarray, **settings):
    n = len(catalog)
    config = PrefilterConfig(topic=TOPIC, label_issues=False, **settings)
    return prefilter_catalog(catalog, np.zeros((n, 0), np.float32), np.zeros(n, bool), np.zeros(n, bool), config,
                             topic_scores=scores)


def flag(result: pd.DataFrame, column: str) -> np.ndarray:
    return result[column].eq(True).to_numpy()


def test_untagged_photos_under_the_tagged_photos_scores_are_doubted_not_recovered():
    catalog, scores, truth = three_clumps()
    result, report = judge(catalog, scores)
    assert report.threshold_method == "otsu" and report.threshold < 0.55 and not report.held  # the cut of audit EG
    dropped = (result["drop_reason"] == "off_topic").to_numpy()
    assert (dropped == (truth == "off")).all()  # the cut drops what it dropped before, and nothing more
    sandal = truth == "sandal"
    assert not flag(result, "topic_recovered")[sandal].any()  # base: all 18 recovered as on topic
    assert flag(result, "topic_doubted")[sandal].all() and (result.loc[sandal, "status"] == schema.KEPT).all()
    recovered = flag(result, "topic_recovered")
    assert (recovered == (truth == "good untagged")).all()  # the real untagged ones still are
    assert not flag(result, "topic_doubted")[~sandal].any()
    assert report.untagged_recovered == 2 and report.untagged_doubted == 18 and report.untagged_dropped == 8
    from curate.prefilter.cut import recovery_floor

    assert report.recovery_floor == round(recovery_floor(scores, np.array([t[0] == TOPIC for t in catalog["tags"]])),
                                          4)
    assert list(report.counts_table()["kept, doubted"]) == [0, 18]
    assert "untagged recovered 2, untagged kept doubted 18 (under the recovery floor 0.7" in report.summary()
    warned = [line for line in report.warnings if line.startswith("18 untagged photos score above the cut")]
    assert len(warned) == 1, report.warnings
    # the owner signal: he tags the topic, so his untagged set is named as such; and a --threshold that drops them
    assert "sole 18 (tagged 26 of their 44 photos judged: a photographer who tags the topic left these untagged)" \
        in warned[0], warned[0]
    threshold = float(warned[0].rsplit("--threshold ", 1)[1].split()[0])
    assert warned[0].endswith(f"--threshold {threshold:.3f} (and 1 tagged photo under it)"), warned[0]  # the 0.705
    forced, _ = judge(catalog, scores, threshold=threshold)
    gone = (forced["drop_reason"] == "off_topic").to_numpy()
    assert gone[sandal].all() and not gone[truth == "good untagged"].any() and gone[truth == "good"].sum() == 1


def test_a_floor_under_the_cut_changes_nothing_and_a_held_cut_claims_nothing():
    """Tags on some off-topic photos pull the tagged photos' 1st percentile under the cut: every untagged photo
    above the cut is recovered, as before, and none is doubted; a held cut has no floor (it recovers none)."""
    rng = np.random.default_rng(1)
    n_on, n_off = 120, 60
    scores = np.r_[rng.uniform(0.6, 0.95, n_on), rng.uniform(0.05, 0.35, n_off)]
    tagged = np.r_[rng.random(n_on) < 0.7, np.arange(n_off) < 4]  # 4 wrongly tagged off-topic photos
    catalog = make_catalog([{"owner_id": f"o{i % 15}", "tags": [TOPIC] if tagged[i] else ["photo"],
                             "image_path": f"i{i}.jpg"} for i in range(len(scores))])
    result, report = judge(catalog, scores)
    assert not report.held and report.recovery_floor < report.threshold
    above = scores >= report.threshold
    assert (flag(result, "topic_recovered") == (~tagged & above)).all()
    assert not flag(result, "topic_doubted").any() and report.untagged_doubted == 0
    assert "kept, doubted" not in report.counts_table()
    assert not any("untagged photos score above the cut" in line for line in report.warnings)
    held, held_report = judge(catalog, scores, max_topic_share=0.1)
    assert held_report.held and held_report.recovery_floor is None and held_report.untagged_doubted == 0
    assert not flag(held, "topic_recovered").any()


def _report_on_both_engines(tmp_path, result, report) -> dict:
    """report.json of `result` with the prefilter's `report` from the DuckDB engine, checked equal to pandas'."""
    from tests.test_outofcore_report import assert_same

    reports = {"prefilter": report.to_dict()}
    ws = Workspace(Path(tempfile.mkdtemp(dir=tmp_path)))
    write_catalog(ws, result)
    got = duckdb_report(ws.catalog_path, tmp_path, reports)
    assert_same(build_report(result, reports), got)
    return got


def test_the_report_counts_doubted_untagged_photos_apart_from_the_recovered_on_both_engines(tmp_path):
    """The report's "untagged recovered" count and gallery leave out the doubted ones (they sit in "Doubted but
    kept"), in pandas and DuckDB alike."""
    catalog, scores, truth = three_clumps()
    result, report = judge(catalog, scores)
    got = _report_on_both_engines(tmp_path, result, report)
    section = got["sections"]["tags"]["prefilter"]
    assert section["counts"]["untagged_recovered"] == 2 and section["counts"]["untagged_kept"] == 20
    assert section["doubted_counts"] == {"tagged": 0, "untagged": 18}
    ids = set(result.loc[truth == "good untagged", schema.PHOTO_ID])
    shown = {photo[schema.PHOTO_ID] for photo in section["untagged_recovered"]["photos"]}
    assert section["untagged_recovered"]["total"] == 2 and shown == ids, shown


def test_the_report_names_the_photographers_a_working_cut_took_on_both_engines(tmp_path):
    """Audit EG F2: when the cut drops every photo of a photographer (the sandals), the stage only notes it (none of
    theirs is left to look at), so the report never said whose photos the cut took. The tags section says it, in
    pandas and DuckDB alike, and the page shows it."""
    from curate.report.html import render_html

    rng = np.random.default_rng(3)
    rows, scores = [], []
    for i in range(120):
        rows.append({"owner_id": f"o{i % 12}", "tags": [TOPIC] if i % 5 else ["photo"], "image_path": f"i{i}.jpg"})
        scores.append(rng.uniform(0.7, 0.95))
    for i in range(18):
        rows.append({"owner_id": "99@N01", "owner_name": "SoleCollector", "tags": ["shoes"],
                     "image_path": f"s{i}.jpg"})
        scores.append(rng.uniform(0.05, 0.2))
    result, report = judge(make_catalog(rows), np.asarray(scores))
    assert not report.held and (result["drop_reason"] == "off_topic").sum() == 18
    assert report.rejected_owners and report.rejected_owners[0]["kept"] == 0
    assert not any("SoleCollector" in line for line in report.warnings)  # a note: nothing of theirs is kept
    got = _report_on_both_engines(tmp_path, result, report)
    line = got["sections"]["tags"]["prefilter"]["rejected_owners"]
    assert "SoleCollector (99@N01) 18 of 18, none still kept" in line and "--queue off_topic" in line, line
    assert "SoleCollector (99@N01) 18 of 18" in render_html(got)
