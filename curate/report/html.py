"""Render the report dict as one self-contained HTML page (inline CSS, no scripts, no CDN).

Every piece of text goes through `html.escape`. Images are relative paths inside the
report folder (thumbs/, plots/, training/), so the folder can be copied anywhere.
"""

from __future__ import annotations

from html import escape

from curate.report.review import render_review

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.absent{color:#777;font-style:italic} .ok{color:#11772d;font-weight:bold} .bad{color:#b00020;font-weight:bold}
.gallery{display:flex;flex-wrap:wrap;gap:6px} figure{margin:0;width:136px;font-size:.72em;word-break:break-all}
figure img{max-width:128px;max-height:128px;display:block} .noimg{width:128px;height:64px;background:#eee}
.plots img{margin:4px;border:1px solid #ddd} nav a{margin-right:.8em} .note{color:#555}
"""

TITLES = {
    "overview": "1. Overview", "geography": "2. Geography", "photographers": "3. Photographers",
    "tags": "4. Tags", "duplicates": "5. Duplicates", "quality": "6. Image quality", "label_issues": "7. Label issues", "review": "7b. Human review",
    "splits": "8. Splits", "training": "9. Training", "attribution": "10. Attribution",
}


def e(value) -> str:
    return escape("" if value is None else str(value))


def num(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return e(value)


def pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def table(headers: list[str], rows: list[list], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{e(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def img(src: str | None, alt: str, width: int | None = None) -> str:
    if not src:
        return f'<div class="noimg" title="{e(alt)}"></div>'
    size = f' width="{width}"' if width else ""
    return f'<img src="{e(src)}" alt="{e(alt)}"{size}>'


def link(url: str | None) -> str:
    """A source URL as a link (http(s) only; anything else stays text). Opening it is the reader's choice."""
    if not url or not str(url).lower().startswith(("http://", "https://")):
        return e(url)
    return f'<a href="{e(url)}" rel="noopener noreferrer nofollow">{e(url)}</a>'


def gallery(g: dict, caption_fields: tuple[str, ...] = ("label", "owner_id")) -> str:
    if not g or not g.get("total"):
        return '<p class="note">none</p>'
    figures = []
    for p in g["photos"]:
        caption = "<br>".join(f"{e(f)}: {num(p.get(f))}" for f in caption_fields if p.get(f) is not None)
        figures.append(f'<figure>{img(p.get("thumb"), p.get("photo_id", ""))}'
                       f'<figcaption>{e(p.get("photo_id"))}<br>{caption}</figcaption></figure>')
    more = f'<p class="note">showing {g["shown"]} of {g["total"]}</p>'
    return more + f'<div class="gallery">{"".join(figures)}</div>'


def absent(section: dict) -> str:
    return f'<p class="absent">Not available: {e(section["absent"])}.</p>'


def overview(s: dict) -> str:
    reasons = s["reasons"]
    rows = [[e(r["label"]), num(r["ingested"]), num(r["rejected_at_ingest"]),
             *[num(r["dropped"].get(c, 0)) for c in reasons], num(r["kept"])] for r in s["funnel"] + [s["total"]]]
    funnel = table(["label", "ingested", "rejected at ingest", *reasons, "kept"], rows)
    lic = table(["licence", "kept photos"], [[e(r["license"]), num(r["photos"])] for r in s["licences"]])
    return "<h3>Funnel</h3>" + funnel + "<h3>Licences of kept photos</h3>" + lic


def geography(s: dict) -> str:
    parts = [f'<p>Threshold: {num(s["max_km"])} km from each label\'s {e(s["center"])} centre. '
             "The circle on each scatter is drawn in degrees (approximate).</p>"]
    rows = [[e(r["label"]), num(r["photos"]), num(r["kept_with_coordinates"]), num(r["dropped_with_coordinates"]),
             num(r["geo_outliers"]), num(r["missing_coordinates"]),
             e(", ".join(f"{k}: {v}" for k, v in r["missing_by_issue"].items()))] for r in s["labels"]]
    parts.append(table(["label", "photos", "kept (geotagged)", "dropped (geotagged)", "geo outliers",
                        "missing coordinates", "why missing"], rows))
    for r in s["labels"]:
        plots = img(r.get("scatter_png"), f'{r["label"]} positions') + img(r.get("histogram_png"),
                                                                             f'{r["label"]} distances')
        parts.append(f'<div class="plots"><h4>{e(r["label"])}</h4>{plots}</div>')
    return "".join(parts)


def photographers(s: dict) -> str:
    rows = [[e(r["label"]), num(r["photos"]), num(r["owners"]), f'{r["effective_owners"]:.1f}',
             e(r["top_owner"]), pct(r["top_share"]),
             '<span class="bad">ALARM</span>' if r["alarm"] else '<span class="ok">ok</span>',
             e(", ".join(f'{o["owner_id"]} ({pct(o["share"])})' for o in r["top_owners"]))] for r in s["labels"]]
    parts = [f'<p>Alarm when one owner holds more than {pct(s["owner_alarm"])} of a label\'s kept photos: '
             f'{s["alarms"]} label(s).</p>',
             table(["label", "kept", "owners", "effective owners", "top owner", "top share", "", "top owners"], rows)]
    for r in s["labels"]:
        if r["alarm"]:
            parts.append(f'<h4>{e(r["label"])}: photos of {e(r["top_owner"])} ({pct(r["top_share"])})</h4>'
                         + gallery(r["gallery"], ("status",)))
    return "".join(parts)


def tags(s: dict) -> str:
    parts = ["<h3>Ambiguous photos (tags name 2+ labels)</h3>", gallery(s["ambiguous"], ("tag_labels", "status"))]
    pre = s["prefilter"]
    if "absent" in pre:
        return "".join(parts) + absent(pre)
    c = pre["counts"]
    method = f', {e(pre["method"])}' if pre.get("method") else ""
    parts.append(f'<h3>Topic tag “{e(pre["topic"])}” vs pre-classifier (threshold {num(pre["threshold"])}{method})</h3>')
    if pre.get("bimodality"):
        parts.append(f'<p>{e(pre["bimodality"])}</p>')
    if pre.get("sanity"):
        parts.append(f'<p class="bad">{e(pre["sanity"])}</p>')
    d = pre.get("doubted_counts", {"tagged": 0, "untagged": 0})  # kept below the threshold: drops held
    doubted = d["tagged"] + d["untagged"]
    header = ["", "kept", "dropped"] + (["kept, doubted"] if doubted else [])
    rows = [["tagged", num(c["tagged_kept"]), num(c["tagged_dropped"])],
            ["untagged", num(c["untagged_recovered"] + d["untagged"]), num(c["untagged_dropped"])]]
    if doubted:
        rows[0].append(num(d["tagged"]))
        rows[1].append(num(d["untagged"]))
    parts.append(table(header, rows))
    if doubted:
        parts.append("<h3>Doubted but kept (lowest score first)</h3>" + gallery(pre["doubted"], ("label", "topic_score")))
    parts.append("<h3>Tagged but dropped (lowest score first)</h3>"
                 + gallery(pre["tagged_dropped"], ("label", "topic_score")))
    parts.append("<h3>Untagged but recovered (highest score first)</h3>"
                 + gallery(pre["untagged_recovered"], ("label", "topic_score")))
    return "".join(parts)


def duplicates(s: dict) -> str:
    parts = []
    for key, title in (("exact", "Exact duplicate groups"), ("near", "Near-duplicate clusters")):
        d = s[key]
        parts.append(f'<h3>{title}: {d["groups"]} groups, {d["photos"]} photos (largest first)</h3>')
        for g in d["shown_groups"]:
            parts.append(f'<h4>{e(g["key"])} ({g["size"]} photos)</h4>' + gallery(g, ("label", "status")))
        if len(d["shown_groups"]) < d["groups"]:
            parts.append(f'<p class="note">{d["groups"] - len(d["shown_groups"])} smaller groups not shown</p>')
    return "".join(parts)


def quality(s: dict) -> str:
    """One gallery per image-quality check, worst first."""
    parts = ['<p>Flagged by the filter (column <code>quality_issues</code>); dropped only for the checks '
             'given to <code>--drop-quality</code>.</p>']
    for c in s["checks"]:
        action = f'dropped: {c["dropped"]}' if c["drops"] else "flagged only"
        parts.append(f'<h3>{e(c["check"])}: {c["gallery"]["total"]} photos ({e(action)})</h3>'
                     f'<p class="note">{e(c["meaning"])}; worst first</p>'
                     + gallery(c["gallery"], ("label", f'{c["check"]}_score', "status")))
    return "".join(parts)


def label_issues(s: dict) -> str:
    per = ", ".join(f"{k}: {v}" for k, v in s["per_label"].items())
    return (f'<p>{s["flagged"]} photos flagged ({e(per)}). Lowest label quality first.</p>'
            + gallery(s["gallery"], ("label", "suggested_label", "label_quality")))


def splits(s: dict) -> str:
    rows = [[e(r["label"]), num(r["photos"]),
             *[f'{r[f"{n}_photos"]} / {r[f"{n}_owners"]}' for n in ("train", "val", "test")]] for r in s["per_label"]]
    parts = [table(["label", "photos", "train photos / owners", "val photos / owners", "test photos / owners"], rows)]
    if s["clean"]:
        parts.append('<p class="ok">Leakage check: clean — no owner, near-duplicate cluster or image in two splits.</p>')
    else:
        parts.append(f'<p class="bad">Leakage check: {len(s["leaks"])} leak(s).</p>')
        parts.append(table(["kind", "key", "splits", "photos", "per split"],
                           [[e(r["kind"]), e(r["key"]), e(r["splits"]), num(r["photos"]),
                             e(", ".join(f"{k}: {v}" for k, v in r["photos_per_split"].items()))] for r in s["leaks"]]))
    return "".join(parts)


def training(s: dict) -> str:
    images = s.get("images", {})
    parts = [f'<p>Run {e(s["run"])}: accuracy {pct(s["accuracy"])} on {num(s["photos"])} {e(s["split"])} photos.</p>']
    if s.get("catalog_changed_since_training"):
        parts.append('<p class="bad">The catalog changed since this model was trained.</p>')
    if s.get("headline"):
        parts.append(f'<p><b>{e(s["headline"])}.</b></p>')
    if s.get("sandals_test"):
        sandals = s["sandals_test"]
        rows = [[e(r["what"]), pct(r["value"]) if r["kind"] == "share" else num(r["value"])] for r in sandals["rows"]]
        parts.append("<h3>Sandals test</h3>" + (f'<p>{e(sandals["summary"])}.</p>' if sandals.get("summary") else "")
                     + table(["", "value"], rows))
    parts.append('<div class="plots">' + "".join(img(src, name) for name, src in images.items()) + "</div>")
    parts.append("<h3>Most confused</h3>" + table(["actual", "predicted", "photos"], [
        [e(r["actual"]), e(r["predicted"]), num(r["count"])] for r in s["most_confused"]], left=2))
    parts.append("<h3>Top losses</h3>" + table(
        ["image", "photo", "owner", "actual", "predicted", "loss", "p(predicted)"], [
            [img(r.get("thumb"), r.get("photo_id") or "", 64), e(r.get("photo_id")), e(r.get("owner_id")),
             e(r.get("actual")), e(r.get("predicted")), num(r.get("loss")), pct(r.get("p_predicted"))]
            for r in s["top_losses"]], left=5))
    parts.append(f'<h3>Per photographer (worst first; {len(s["per_owner"])} of {s["per_owner_total"]})</h3>'
                 + table(["owner", "photos", "correct", "accuracy"], [
                     [e(r.get("owner_id")), num(r.get("photos")), num(r.get("correct")), pct(r.get("accuracy"))]
                     for r in s["per_owner"]]))
    for name, comp in s["comparisons"].items():
        rows = [[e(k), num(v)] for k, v in comp.items() if k not in ("notes", "headline")]
        parts.append(f"<h3>Comparison: {e(name)}</h3>" + table(["", "value"], rows)
                     + "".join(f'<p class="note">{e(n)}</p>' for n in comp["notes"]))
    return "".join(parts)


def attribution(s: dict) -> str:
    rows = [[e(r["photo_id"]), e(r["owner"]), e(r["license"]), link(r.get("page_url") or r["url"])] for r in s["rows"]]
    return (f'<p>{s["total"]} kept photos; showing {s["shown"]}. Full table: '
            f'<a href="{e(s["csv"])}">{e(s["csv"])}</a>.</p>'
            + table(["photo", "owner", "licence", "source URL"], rows, left=4))


RENDER = {"overview": overview, "geography": geography, "photographers": photographers, "tags": tags,
          "duplicates": duplicates, "quality": quality, "label_issues": label_issues, "review": render_review, "splits": splits, "training": training,
          "attribution": attribution}


def render_html(report: dict, title: str = "Curation report") -> str:
    """The whole page as one string."""
    sections, nav = [], []
    for key, section in report["sections"].items():
        body = absent(section) if "absent" in section else RENDER[key](section)
        if section.get("stale"):  # the stage re-ran upstream since: its numbers are not current
            body = f'<p class="bad stale">{e(section["stale"])}</p>' + body
        sections.append(f'<section id="{key}"><h2>{e(TITLES[key])}</h2>{body}</section>')
        nav.append(f'<a href="#{key}">{e(TITLES[key])}</a>')
    stages = ", ".join(report["stages_run"]) or "none"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head><body>"
            f"<h1>{e(title)}</h1><p>{report['photos']} photos in the catalog; stage reports found: {e(stages)}. "
            'Numbers: <a href="report.json">report.json</a>.</p>'
            f"<nav>{''.join(nav)}</nav>{''.join(sections)}</body></html>\n")
