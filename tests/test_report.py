"""`curate report`: numbers recomputed independently from a hand-built catalog; the CLI's files."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter

import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from curate import schema
from curate.cli.app import app
from curate.report.data import HOW_TO, build_report
from curate.report.html import render_html
from curate.report.run import write_report
from curate.stage_reports import save_stage_report
from curate.workspace import Workspace, write_catalog
from tests.helpers import jpeg_bytes, png_bytes

# (label, owner, status, drop_stage, drop_reason, licence, split, tags, topic_score, recovered)
ROWS = [
    ("a", "o1", "kept", None, None, "4", "train", ["a", "skyline"], 0.9, False),
    ("a", "o1", "kept", None, None, "4", "train", ["a", "skyline"], 0.8, False),
    ("a", "o1", "kept", None, None, "ARR", "train", ["a"], 0.7, True),
    ("a", "o2", "kept", None, None, "ARR", "test", ["a"], 0.95, True),
    ("a", "o3", "dropped", "ingest", "truncated_image", "ARR", None, ["a"], None, None),
    ("a", "o3", "dropped", "filter", "geo_outlier", "4", None, ["a", "skyline"], None, None),
    ("a", "o4", "dropped", "prefilter", "off_topic", None, None, ["a", "skyline"], 0.1, False),
    ("a", "o4", "dropped", "prefilter", "off_topic", "ARR", None, ["a", "skyline"], 0.3, False),
    ("b", "o5", "kept", None, None, "4", "train", ["b", "skyline"], 0.9, False),
    ("b", "o6", "kept", None, None, None, "val", ["b", "skyline"], 0.9, False),
    ("b", "o7", "kept", None, None, "4", "test", ["b", "skyline"], 0.9, False),
    ("b", "o5", "dropped", "filter", "exact_duplicate", "4", None, ["b", "skyline"], None, None),
    ("b", "o8", "dropped", "prefilter", "off_topic", "ARR", None, ["b"], 0.2, False),
    (None, "o9", "dropped", "filter", "ambiguous_label", "ARR", None, ["a", "b", "skyline"], None, None),
    (None, "o9", "dropped", "ingest", "empty_file", None, None, [], None, None),
]


def make_catalog(rows=ROWS) -> pd.DataFrame:
    records = []
    for i, (label, owner, status, stage, reason, licence, split, tags, score, recovered) in enumerate(rows):
        sha = f"{i:02x}" * 32
        records.append({
            "photo_id": f"t:{i}", "source": "t", "source_id": str(i), "owner_id": owner,
            "owner_name": "Olga <Lens>" if owner == "o1" else None, "page_url": PAGE_URLS.get(i),
            "tags": tags, "label": label, "tag_labels": [t for t in tags if t in ("a", "b")],
            "lat": 10.0 + i * 0.001 if i % 5 else None, "lon": 20.0 if i % 5 else None,
            "coord_issue": None if i % 5 else "missing", "license": licence, "url": f"https://x.invalid/{i}",
            "sha256": sha, "image_path": f"images/{sha[:2]}/{sha}.jpg", "status": status,
            "drop_stage": stage, "drop_reason": reason, "split": split,
            "geo_distance_km": float(i) if i % 5 else None, "topic_score": score, "topic_recovered": recovered,
            "exact_dup_group": "t:8" if i in (8, 11) else None,
            "near_dup_cluster": {0: "t:0", 1: "t:0", 2: "t:0", 8: "t:8", 11: "t:8"}.get(i, f"t:{i}"),
            "label_quality": {0: 0.4, 3: 0.1, 9: 0.2}.get(i), "is_label_issue": True if i in (0, 3, 9) else None,
            "suggested_label": {0: "b", 3: "b", 9: "a"}.get(i),
        })
    return schema.to_pandas(schema.conform(pd.DataFrame(records)))


PAGE_URLS = {6: "https://x.invalid/page/6"}  # a dropped off-topic photo, shown in a tags gallery

FILTER_REPORT = {"config": {"max_km": 5.0, "center": "median"},
                 "geo": [{"label": "a", "centre_lat": 10.0, "centre_lon": 20.0},
                         {"label": "b", "centre_lat": 10.0, "centre_lon": 20.0}]}
PREFILTER_REPORT = {"topic": "skyline", "threshold": 0.5, "tagged_kept": 6, "tagged_dropped": 1,
                    "untagged_recovered": 2, "untagged_dropped": 1}
SPLIT_REPORT = {"config": {"val": 0.1, "test": 0.2, "by": "owner", "seed": 0}}
ALL_REPORTS = {"filter": FILTER_REPORT, "prefilter": PREFILTER_REPORT, "split": SPLIT_REPORT}


def test_funnel_counts_per_label_and_reason_and_licences():
    report = build_report(make_catalog(), ALL_REPORTS)["sections"]["overview"]
    funnel = {row["label"]: row for row in report["funnel"] + [report["total"]]}
    for label in ("a", "b", "(no label)", "total"):
        mine = [r for r in ROWS if label == "total" or (r[0] or "(no label)") == label]
        row = funnel[label]
        assert row["ingested"] == len(mine)
        assert row["kept"] == sum(r[2] == "kept" for r in mine)
        assert row["rejected_at_ingest"] == sum(r[3] == "ingest" for r in mine)
        expected = Counter(f"{r[3]}/{r[4]}" for r in mine if r[2] == "dropped")
        assert {k: v for k, v in row["dropped"].items() if v} == dict(expected)
        assert row["ingested"] == row["kept"] + sum(row["dropped"].values())
    # Stages in pipeline order: ingest reasons before filter before prefilter.
    stages = [reason.split("/")[0] for reason in report["reasons"]]
    assert stages == sorted(stages, key=["ingest", "filter", "prefilter"].index)
    licences = {r["license"]: r["photos"] for r in report["licences"]}
    # Flickr's licence id "4" is shown by its name; text no mapping knows ("ARR") stays as given.
    names = {"4": "cc-by-2.0", "ARR": "ARR", None: "unknown"}
    assert licences == dict(Counter(names[r[5]] for r in ROWS if r[2] == "kept"))
    page = render_html(build_report(make_catalog(), ALL_REPORTS))
    assert "cc-by-2.0" in page
    # audit BB: the page's funnel row adds up to the photos it holds (no subtotal column beside the ingest reasons)
    funnel_table = page[page.index("<h3>Funnel</h3>"):page.index("<h3>Licences")]
    total_row = funnel_table[funnel_table.rindex("<tr>"):]
    cells = [int(cell.replace(",", "")) for cell in re.findall(r"<td[^>]*>([\d,]+)</td>", total_row)]
    assert cells[0] == len(ROWS) == sum(cells[1:]), cells


def test_owner_shares_effective_owners_and_alarm():
    section = build_report(make_catalog(), ALL_REPORTS, owner_alarm=0.5, max_gallery=2)["sections"]["photographers"]
    by_label = {e["label"]: e for e in section["labels"]}
    for label in ("a", "b"):
        owners = Counter(r[1] for r in ROWS if r[0] == label and r[2] == "kept")
        total = sum(owners.values())
        entry = by_label[label]
        top_owner, top_photos = owners.most_common(1)[0]
        assert entry["photos"] == total and entry["owners"] == len(owners)
        assert entry["top_share"] == pytest.approx(top_photos / total)
        assert entry["effective_owners"] == pytest.approx(1 / sum((n / total) ** 2 for n in owners.values()))
        assert entry["top_photos"] == top_photos
    # Two labels are no collection to compare with: o1's 3 of 4 photos of "a" is not an alarm.
    assert not section["judged"] and section["alarms"] == 0
    assert not any(e["alarm"] or "gallery" in e for e in section["labels"])


def owners_catalog(top_photos: dict, others: int = 6) -> pd.DataFrame:
    """Kept photos per label: its top owner with `top_photos[label]` photos, then `others` owners of 1."""
    rows = []
    for label, top in top_photos.items():
        rows += [(label, f"{label}-top", "kept", None, None, "4", None, [label], None, None)] * top
        rows += [(label, f"{label}-{i}", "kept", None, None, "4", None, [label], None, None) for i in range(others)]
    return make_catalog(rows)


def robust_z(values: dict) -> dict:
    """The documented rule, recomputed: z of log(top photos) with scale max(1.4826 MAD, 1/sqrt(median))."""
    logs = {k: math.log(v) for k, v in values.items()}
    median = statistics.median(logs.values())
    mad = statistics.median(abs(v - median) for v in logs.values())
    scale = max(1.4826 * mad, 1 / math.sqrt(statistics.median(values.values())))
    return {k: (v - median) / scale for k, v in logs.items()}


def test_owner_alarm_only_where_concentration_is_unusual_for_the_collection():
    tops = {"a": 8, "b": 9, "c": 10, "d": 8, "e": 11, "f": 60}
    section = build_report(owners_catalog(tops), {}, max_gallery=48)["sections"]["photographers"]
    by_label = {e["label"]: e for e in section["labels"]}
    expected = robust_z(tops)
    for label, z in expected.items():
        assert by_label[label]["concentration_z"] == pytest.approx(z)
    assert {label for label, e in by_label.items() if e["alarm"]} == {"f"}
    assert {k for k, z in expected.items() if z > 3.5} == {"f"}
    assert section["alarms"] == 1 and section["labels"][0]["label"] == "f"  # most unusual first
    gallery = by_label["f"]["gallery"]
    assert gallery["total"] == 60 and gallery["shown"] == 12  # at most 12 thumbnails under an alarm
    assert all("gallery" not in e for label, e in by_label.items() if label != "f")
    # The share floor: f's top owner holds 60 of 66 photos (91%); above a 95% floor, no alarm.
    floored = build_report(owners_catalog(tops), {}, owner_alarm=0.95)["sections"]["photographers"]
    assert floored["alarms"] == 0


def test_tags_prefilter_counts_and_galleries_sorted_by_score():
    tags = build_report(make_catalog(), ALL_REPORTS)["sections"]["tags"]
    assert tags["ambiguous"]["total"] == sum(len({t for t in r[7] if t in "ab"}) >= 2 for r in ROWS)
    pre = tags["prefilter"]
    # Recomputed from ROWS (not copied from the stage report, which may be stale): scored rows by tag and score.
    scored = [r for r in ROWS if r[8] is not None]
    on_topic = [r for r in scored if r[8] >= PREFILTER_REPORT["threshold"]]
    off_topic = [r for r in scored if r[8] < PREFILTER_REPORT["threshold"]]
    assert pre["scored"] == len(scored)
    assert pre["counts"] == {"tagged_kept": sum("skyline" in r[7] for r in on_topic),
                             "tagged_dropped": sum("skyline" in r[7] for r in off_topic),
                             "untagged_recovered": sum("skyline" not in r[7] for r in on_topic),
                             "untagged_dropped": sum("skyline" not in r[7] for r in off_topic),
                             "untagged_kept": sum("skyline" not in r[7] for r in on_topic)}
    dropped_scores = sorted(r[8] for r in ROWS if r[4] == "off_topic" and "skyline" in r[7])
    assert [p["topic_score"] for p in pre["tagged_dropped"]["photos"]] == dropped_scores
    recovered = sorted((r[8] for r in ROWS if r[9]), reverse=True)
    assert [p["topic_score"] for p in pre["untagged_recovered"]["photos"]] == recovered


def test_duplicates_largest_first_and_label_issues_by_quality():
    sections = build_report(make_catalog(), ALL_REPORTS)["sections"]
    near = sections["duplicates"]["near"]
    assert near["groups"] == 2 and near["photos"] == 5
    assert [g["size"] for g in near["shown_groups"]] == [3, 2]
    assert sections["duplicates"]["exact"]["groups"] == 1
    issues = sections["label_issues"]
    assert issues["flagged"] == 3
    qualities = [p["label_quality"] for p in issues["gallery"]["photos"]]
    assert qualities == sorted(qualities)
    assert [p["suggested_label"] for p in issues["gallery"]["photos"]] == ["b", "a", "b"]


def test_label_issues_show_each_labels_judged_photos_flags_and_agreement():
    """The long-tail audit: the report listed flags per label with no denominator, so "dog: 10" hid that 10 of
    its 15 photos were flagged. The section now carries the prefilter's per-label table (photos judged,
    flagged and their share, not judged, the model's agreement), and shows it where no photo could be judged
    at all (every label too small) instead of reading "run curate prefilter"."""
    per_label = [{"label": "a", "photos": 40, "issues": 2, "unjudged": 0, "agreement": 0.925},
                 {"label": "dog", "photos": 15, "issues": 0, "unjudged": 15, "agreement": None}]
    reports = {**ALL_REPORTS, "prefilter": {**ALL_REPORTS["prefilter"], "per_label": per_label}}
    section = build_report(make_catalog(), reports)["sections"]["label_issues"]
    assert [row["label"] for row in section["labels"]] == ["a", "dog"]
    page = render_html(build_report(make_catalog(), reports))
    assert "not judged" in page and "model agrees" in page and "92.5%" in page
    assert "2 (5.0%)" in page  # a: 2 flags among its 40 judged photos

    unjudged = make_catalog()
    unjudged["is_label_issue"] = None  # every photo too small a label's to judge
    small = {**reports, "prefilter": {**reports["prefilter"], "per_label": per_label[1:]}}
    section = build_report(unjudged, small)["sections"]["label_issues"]
    assert "absent" not in section and section["flagged"] == 0 and section["labels"][0]["unjudged"] == 15
    assert "absent" in build_report(unjudged, ALL_REPORTS)["sections"]["label_issues"]  # an older report


def test_split_counts_and_leakage():
    catalog = make_catalog()
    splits = build_report(catalog, ALL_REPORTS)["sections"]["splits"]
    for row in splits["per_label"]:
        kept = [r for r in ROWS if r[0] == row["label"] and r[2] == "kept" and r[6]]
        for name in ("train", "val", "test"):
            assert row[f"{name}_photos"] == sum(r[6] == name for r in kept)
            assert row[f"{name}_owners"] == len({r[1] for r in kept if r[6] == name})
    # o1 is only in train, o2 only in test, o5 only in train: clean.
    assert splits["clean"] and splits["leaks"] == []
    leaky = catalog.copy()
    leaky.loc[leaky["photo_id"] == "t:2", "split"] = "test"  # o1 now in train and test
    leaked = build_report(leaky, ALL_REPORTS)["sections"]["splits"]
    assert not leaked["clean"]
    assert any(leak["kind"] == "owner" and leak["key"] == "o1" for leak in leaked["leaks"])
    # photo 2 shares near-duplicate cluster t:0 with photos 0 and 1 (train): that leaks too.
    assert any(leak["kind"] == "near_dup_cluster" and leak["key"] == "t:0" for leak in leaked["leaks"])
    assert "o1" in render_html(build_report(leaky, ALL_REPORTS))


def test_the_shares_each_label_got_and_the_splits_notes_are_on_the_page():
    """Audit BB: every label of a scrape missed its shares (one with no val photo) and only split.json said so."""
    catalog = make_catalog()
    labels = sorted(catalog.loc[catalog["split"].notna() & (catalog["status"] == "kept"), "label"].dropna().unique())
    note = f"1 label(s) could not reach the requested shares within ±5%: {labels[0]} (dominant groups)"
    split_report = {"config": {"val": 0.1, "test": 0.2, "by": "owner", "seed": 0}, "notes": [note],
                    "per_label": [{"label": labels[0], "val_achieved": 0.0, "test_achieved": 0.5,
                                   "within_tolerance": False}]}
    report = build_report(catalog, {**ALL_REPORTS, "split": split_report})
    rows = {row["label"]: row for row in report["sections"]["splits"]["per_label"]}
    assert rows[labels[0]]["val_share"] == 0.0 and rows[labels[0]]["within_tolerance"] is False
    page = " ".join(render_html(report).split())
    assert "val share (asked 10.0%)" in page and "0.0% ✗" in page and "50.0% ✗" in page
    assert f"note: {note}" in page


def test_missing_stages_are_absent_with_how_to():
    catalog = make_catalog().assign(split=None)
    report = build_report(catalog, {"filter": None})
    sections = report["sections"]
    for name, key in (("geography", "geography"), ("duplicates", "duplicates"), ("label_issues", "label_issues"),
                      ("splits", "splits"), ("training", "training")):
        assert sections[name] == {"absent": HOW_TO[key]}
    assert sections["tags"]["prefilter"] == {"absent": HOW_TO["prefilter"]}
    assert "absent" not in sections["overview"] and "absent" not in sections["attribution"]
    page = render_html(report)
    for text in ("curate filter", "curate split", "classify train", "curate prefilter"):
        assert text in page


def test_stage_warnings_and_a_held_prefilter_are_at_the_top_of_the_page():
    """A reader of the report learns that a stage held its drops without the terminal's output (audit 3)."""
    reports = {"filter": {"warnings": ["held: geo drops of chicago kept (21 photos): <spread>"]},
               "prefilter": {"held": True, "held_reasons": ["the cut would drop every photo of dog"]},
               "split": {"warnings": []}, "embed": None}
    report = build_report(make_catalog().assign(split=None), reports)
    assert report["stage_warnings"] == {
        "filter": ["held: geo drops of chicago kept (21 photos): <spread>"],
        "prefilter": ["held: no photo dropped as off topic: the cut would drop every photo of dog"]}
    page = render_html(report)
    assert page.index("geo drops of chicago") < page.index("<nav>")
    assert "&lt;spread&gt;" in page and "every photo of dog" in page
    assert build_report(make_catalog().assign(split=None), {"filter": None})["stage_warnings"] == {}


def test_text_is_escaped():
    rows = [("a", "<script>alert(1)</script>", "kept", None, None, "<b>x</b>", None, ["a"], None, None)]
    page = render_html(build_report(make_catalog(rows), {}))
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.fixture
def report_ws(tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    catalog = make_catalog()
    for path in catalog["image_path"].iloc[1:]:  # photo 0's image is missing on purpose
        (ws.root / path).parent.mkdir(parents=True, exist_ok=True)
        (ws.root / path).write_bytes(jpeg_bytes(300, 200))
    write_catalog(ws, catalog)
    for stage, rep in ALL_REPORTS.items():
        save_stage_report(ws, stage, "0" * 64, rep)
    run = ws.root / "runs" / "r1"
    (run / "evaluation").mkdir(parents=True)
    (run / "learning_curves.png").write_bytes(png_bytes())
    (run / "evaluation" / "confusion.png").write_bytes(png_bytes())
    evaluation = {"run": str(run), "split": "test", "photos": 2, "accuracy": 0.5,
                  "most_confused": [{"actual": "a", "predicted": "b", "count": 1}],
                  "per_owner": [{"owner_id": "o2", "photos": 1, "correct": 0, "accuracy": 0.0}],
                  "top_losses": [{"photo_id": "t:3", "owner_id": "o2", "actual": "a", "predicted": "b",
                                  "loss": 2.3, "p_predicted": 0.9, "p_actual": 0.1}],
                  "comparisons": {"uncurated": {"curated_accuracy": 0.5, "uncurated_accuracy": 0.4,
                                                "curation_worth_pp": 10.0, "notes": []}}}
    (run / "evaluation" / "evaluation.json").write_text(json.dumps(evaluation))
    return ws


# What the page loads by itself: src= anywhere, href= on <link>. (Attribution links to photo pages are fine.)
EXTERNAL = re.compile(r"""(?:\bsrc|<link[^>]*\bhref)\s*=\s*["']?\s*([^"'\s>]+)""", re.IGNORECASE)


def test_cli_writes_self_contained_page(report_ws):
    result = CliRunner().invoke(app, ["report", "--workspace", str(report_ws.root), "--max-gallery", "5"])
    assert result.exit_code == 0, result.output
    out = report_ws.root / "report"
    index = out / "index.html"
    assert str(index) in result.output.replace("\n", "")
    page = index.read_text(encoding="utf-8")
    links = EXTERNAL.findall(page)
    assert links
    for link in links:
        assert link.startswith(("#", "data:")) or not re.match(r"^[a-z][a-z0-9+.-]*:|^//", link), link
    images = re.findall(r"<img[^>]*\bsrc=\"([^\"]+)\"", page)
    assert any(src.startswith("thumbs/") for src in images)
    assert any(src.startswith("plots/") for src in images)
    assert any(src.startswith("training/") for src in images)
    for src in images:
        assert (out / src).is_file(), src
    for thumb in (out / "thumbs").iterdir():
        with Image.open(thumb) as image:
            assert image.format == "JPEG" and max(image.size) <= 128
    report = json.loads((out / "report.json").read_text())
    assert report["sections"]["training"]["accuracy"] == 0.5
    assert report["sections"]["training"]["comparisons"]["uncurated"]["curation_worth_pp"] == 10.0
    assert "absent" not in report["sections"]["geography"]
    top_loss = report["sections"]["training"]["top_losses"][0]
    assert top_loss["sha256"] == make_catalog()["sha256"].iloc[3]
    assert top_loss["thumb"] in images
    # Thumbnails link to the full image (relative to the report folder); a known photo page is linked too.
    hrefs = re.findall(r'<a href="([^"]+)"><img src="thumbs/', page)
    assert hrefs and all(href.startswith("../images/") and (out / href).resolve().is_file() for href in hrefs)
    assert '<a href="https://x.invalid/page/6" rel="noopener noreferrer nofollow">t:6</a>' in page
    kept_urls = [f"https://x.invalid/{i}" for i, r in enumerate(ROWS) if r[2] == "kept"]
    assert all(f'<a href="{url}"' in page for url in kept_urls)
    csv = pd.read_csv(out / "attribution.csv")
    assert len(csv) == sum(r[2] == "kept" for r in ROWS) == report["sections"]["attribution"]["total"]
    for section in ("overview", "geography", "photographers", "tags", "duplicates", "label_issues",
                    "splits", "training", "attribution"):
        assert f'id="{section}"' in page


def test_cli_without_catalog_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["report", "--workspace", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "curate ingest" in result.output


def test_cli_rejects_bad_owner_alarm(report_ws):
    result = CliRunner().invoke(app, ["report", "--workspace", str(report_ws.root), "--owner-alarm", "2"])
    assert result.exit_code == 2


def test_big_tables_are_truncated_with_counts():
    catalog = make_catalog()
    kept = int((catalog["status"] == "kept").sum())
    evaluation = {"per_owner": [{"owner_id": f"o{i}", "photos": 2, "correct": i % 3, "accuracy": (i % 3) / 2}
                                for i in range(7)]}
    sections = build_report(catalog, ALL_REPORTS, run_evaluation=evaluation, max_rows=3)["sections"]
    attribution = sections["attribution"]
    assert attribution["total"] == kept and attribution["shown"] == len(attribution["rows"]) == 3
    per_owner = sections["training"]
    assert per_owner["per_owner_total"] == 7 and len(per_owner["per_owner"]) == 3
    assert [r["accuracy"] for r in per_owner["per_owner"]] == [0.0, 0.0, 0.0]  # worst first
    page = render_html(build_report(catalog, ALL_REPORTS, run_evaluation=evaluation, max_rows=3))
    assert f"{kept} kept photos; showing 3" in page and "3 of 7" in page


def test_owner_names_tag_labels_and_headline_figures_on_the_page(report_ws):
    catalog = make_catalog()
    evaluation = json.loads(next((report_ws.root / "runs").glob("*/evaluation/evaluation.json")).read_text())
    page = render_html(build_report(catalog, ALL_REPORTS, run_evaluation=evaluation))
    assert '<span title="o1">Olga &lt;Lens&gt;</span>' in page  # the name, escaped; the id in its tooltip
    assert "tag_labels: a, b" in page and "[" not in re.sub(r"<[^>]+>", "", page.split('id="tags"')[1][:3000])
    # Every headline figure has its sentence: accuracy with its standard error over 2 test photos
    # (sqrt(0.5 * 0.5 / 2) = 35.4 pp) and the one-seed caveat; what curation is worth likewise.
    assert "± 35.4 pp" in page and "one training seed" in page
    worth = re.search(r"<td class=\"l\">curation_worth_pp</td><td[^>]*>([^<]*)</td><td[^>]*>(.*?)</td>", page)
    assert worth and "curated minus uncurated accuracy" in worth.group(2) and "one training seed" in worth.group(2)


def test_geo_legend_counts_agree_with_the_table_and_axes_stay_on_earth(report_ws, monkeypatch):
    from curate.report import plots

    counts, limits = {}, []
    real = plots.geo_scatter_png

    def spy(label, kept_lat, kept_lon, dropped_lat, dropped_lon, centre_lat, centre_lon, max_km,
            outlier_lat=(), outlier_lon=()):
        counts[label] = (len(kept_lat), len(dropped_lat) + len(outlier_lat))
        return real(label, kept_lat, kept_lon, dropped_lat, dropped_lon, centre_lat, centre_lon, max_km,
                    outlier_lat, outlier_lon)

    def png(fig, dpi=None):
        limits.append((fig.axes[0].get_xlim(), fig.axes[0].get_ylim()))
        return b""

    monkeypatch.setattr(plots, "geo_scatter_png", spy)
    monkeypatch.setattr(plots, "figure_png", png)
    save_stage_report(report_ws, "filter", "0" * 64, {**FILTER_REPORT, "config": {"max_km": 40000.0}})
    index, report = write_report(report_ws)
    for row in report["sections"]["geography"]["labels"]:
        assert counts[row["label"]] == (row["kept_with_coordinates"], row["dropped_with_coordinates"])
    assert counts["a"][0] == 3  # photo 0 is kept but has no coordinates: not in the legend, as not in the table
    (x_low, x_high), (y_low, y_high) = limits[0]
    assert -180 <= x_low < x_high <= 180 and -90 <= y_low < y_high <= 90


def test_a_geo_plot_drawn_after_another_label_equals_one_drawn_first():
    """The geography plots reuse one figure per thread from label to label: nothing of the label
    drawn before (its circle, centre, legend entries, cut line, shrunk long title) may show."""
    import threading

    from curate.report import plots

    scatter = ("b", [1.0, 1.01], [2.0, 2.01], [], [], None, None, None)
    histogram = ("b", [0.5, 2.0, float("nan")], None)

    def fresh(draw, args):  # another thread: a figure made for this plot alone
        drawn = []
        thread = threading.Thread(target=lambda: drawn.append(draw(*args)))
        thread.start()
        thread.join()
        return drawn[0]

    expected = fresh(plots.geo_scatter_png, scatter), fresh(plots.distance_histogram_png, histogram)
    plots.geo_scatter_png("a " * 40, [10.0] * 3, [20.0] * 3, [10.1], [20.1], 10.0, 20.0, 5.0, [12.0], [22.0])
    plots.distance_histogram_png("a " * 40, [1.0, 30.0, 9000.0], 5.0)
    assert plots.geo_scatter_png(*scatter) == expected[0]
    assert plots.distance_histogram_png(*histogram) == expected[1]
    assert expected[0].startswith(b"\x89PNG") and expected[0] != fresh(plots.geo_scatter_png, ("c", *scatter[1:]))


def test_accuracy_sentence_without_a_photo_count_says_no_none():
    from curate.report.explain import accuracy_sentence

    sentence = accuracy_sentence(0.5, None, "test")
    assert "None" not in sentence and "±" not in sentence and "one training seed" in sentence
    assert "± 5.0 pp" in accuracy_sentence(0.5, 100, "test")  # sqrt(0.25 / 100) = 0.05


def test_a_label_in_a_script_the_font_lacks_draws_without_warning_lines(tmp_path):
    """A CJK label (北京) in a plot's title: drawn (boxes in the bundled font), no `Glyph … missing from
    font` warning per glyph and plot reaching the terminal, for the report's plots and evaluate's confusion matrix."""
    import warnings

    import numpy as np

    from classify.evaluate_figures import plot_confusion
    from curate.report import plots

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scatter = plots.geo_scatter_png("北京", [39.9, 39.91], [116.4, 116.41], [41.0], [117.0], 39.9, 116.4, 5.0)
        histogram = plots.distance_histogram_png("北京 東京", [0.5, 2.0, 30.0], 5.0)
        confusion = plot_confusion(np.array([[3, 1], [0, 4]]), ["北京", "東京"])
    assert all(png.startswith(b"\x89PNG") for png in (scatter, histogram, confusion))
    assert not [w for w in caught if "missing from font" in str(w.message)]


def test_topic_counts_follow_what_the_cut_did_not_the_rounded_threshold_nor_the_geo_rescue():
    """An engine-parity audit found the report's topic counts off the stage's: geo outliers the prefilter scored
    only to rescue them were counted as judged by the cut (tagged kept 43 for 41), and a photo at 0.88129 beside
    a threshold saved as 0.8813 was counted dropped though the drops were held. The counts follow each photo's
    outcome now; both extra rows below change the tagged-kept count by the one the cut kept."""
    before = build_report(make_catalog(), ALL_REPORTS)["sections"]["tags"]["prefilter"]
    extra = ROWS + [("a", "o10", "kept", None, None, "4", "train", ["a", "skyline"], 0.4999, False),  # kept below
                    ("a", "o11", "kept", None, None, "4", "train", ["a", "skyline"], 0.9, False)]  # geo-rescued
    catalog = make_catalog(extra)
    catalog.loc[len(extra) - 1, "geo_rescued"] = True
    after = build_report(catalog, ALL_REPORTS)["sections"]["tags"]["prefilter"]
    assert after["counts"]["tagged_kept"] == before["counts"]["tagged_kept"] + 1
    assert after["counts"]["tagged_dropped"] == before["counts"]["tagged_dropped"]
    assert after["scored"] == before["scored"] + 1


def test_the_photos_evaluate_left_out_are_said_beside_the_accuracy():
    """Audit AZ: test photos sharing a photographer or a copy with a run's training photos are left out of
    its figures; the page says how many, as for the run's own photos."""
    evaluation = {"run": "runs/r", "split": "test", "photos": 9, "accuracy": 0.5, "left_out_trained_on": 3,
                  "left_out_touching_trained_on": 4}
    report = build_report(make_catalog(), ALL_REPORTS, run_evaluation=evaluation)
    assert report["sections"]["training"]["left_out_touching_trained_on"] == 4
    page = " ".join(render_html(report).split())
    assert "3 test photos were this run's training or validation photos" in page
    assert "4 more test photos share a photographer or a copy with those the run learned from" in page


def test_label_issues_after_a_relabel_count_by_the_label_flagged_and_say_what_was_relabelled(tmp_path):
    """Audit BB: after `--relabel`, the headline counted flags by the current label (Street 5, Suburb 5) while the
    table under it counted by the label flagged (Street 9, Suburb 1), and nothing said 10 of 29 flags had been
    relabelled already. Both engines agree."""
    catalog = make_catalog()
    flagged = catalog.index[catalog["is_label_issue"].fillna(False).astype(bool)]
    moved = flagged[0]
    given = catalog.at[moved, "label"]
    catalog.loc[moved, ["original_label", "label"]] = [given, catalog.at[moved, "suggested_label"]]
    report = build_report(catalog, ALL_REPORTS)
    section = report["sections"]["label_issues"]
    by_given = catalog.loc[flagged, "original_label"].fillna(catalog.loc[flagged, "label"]).value_counts().to_dict()
    assert section["per_label"] == by_given and section["relabelled"] == 1
    page = " ".join(render_html(report).split())
    assert "1 of them the prefilter relabelled to their suggested label (they train under it)" in page

    from curate.workspace import Workspace, write_catalog
    from tests.test_outofcore_report import duckdb_report

    ws = Workspace(tmp_path / "ws")
    write_catalog(ws, catalog)
    got = duckdb_report(ws.catalog_path, tmp_path, ALL_REPORTS)["sections"]["label_issues"]
    assert got["per_label"] == section["per_label"] and got["relabelled"] == 1


def test_the_label_issues_section_explains_and_shows_the_unlike_label_flags():
    """Audit CR: the page explained every label issue as a low model probability and never said that some flags are
    photos unlike their label's photos by other photographers, nor showed their label fit."""
    from curate.report.html_sections import label_issues

    section = {"flagged": 3, "per_label": {"Suburb": 3}, "relabelled": 0,
               "label_model": {"unlike_label": 2}, "labels": [],
               "gallery": {"total": 1, "shown": 1, "photos": [{"photo_id": "t:1", "label": "Suburb",
                                                               "suggested_label": "Suburb", "label_quality": 0.44,
                                                               "label_fit": -4.07}]}}
    page = label_issues(section)
    assert "unlike its label" in page and "(2 of the flags)" in page
    assert "label_fit: -4.1" in page  # (rounded as the page rounds numbers)
