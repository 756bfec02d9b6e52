"""Render the report dict as one self-contained HTML page (inline CSS, no scripts, no CDN).

Every piece of text goes through `html.escape`. Images are relative paths inside the
report folder (thumbs/, plots/, training/), so the folder can be copied anywhere.

This module is the page: its style, the section titles and order, the header, warnings and
navigation (`render_html`). Each section's body is rendered in `curate.report.html_sections`
(and `review`, `lookalikes`), from the building blocks in `curate.report.html_blocks`.
"""

from __future__ import annotations

from curate.report.html_blocks import absent, e
from curate.report.html_sections import (
    attribution,
    copies,
    duplicates,
    geography,
    label_issues,
    overview,
    photographers,
    quality,
    splits,
    tags,
    training,
)
from curate.report.lookalikes import render_lookalikes
from curate.report.review import render_review

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em;
color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
.scroll{overflow-x:auto;max-width:100%} table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.absent{color:#777;font-style:italic} .ok{color:#11772d;font-weight:bold} .bad{color:#b00020;font-weight:bold}
.gallery{display:flex;flex-wrap:wrap;gap:6px} figure{margin:0;width:136px;font-size:.72em;overflow-wrap:anywhere}
figure img{max-width:128px;max-height:128px;display:block} .noimg{width:128px;height:64px;background:#eee}
img{max-width:100%;height:auto} .plots img{margin:4px;border:1px solid #ddd;width:272px}
.geo{display:flex;flex-wrap:wrap;gap:0 1em} .geo h4{margin:.4em 0 0} nav a{margin-right:.8em} .note{color:#555}
.why{color:#555;font-size:.85em} th.r{vertical-align:bottom}
.tall{max-height:34em;overflow-y:auto} .tall th{position:sticky;top:0}
.figures{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start} .figures img{max-width:560px;border:1px solid #ddd}
"""

TITLES = {
    "overview": "1. Overview", "geography": "2. Geography", "photographers": "3. Photographers",
    "tags": "4. Tags", "duplicates": "5. Duplicates", "quality": "6. Image quality", "label_issues": "7. Label issues",
    "review": "7b. Human review",
    "splits": "8. Splits", "copies": "8b. Copies of another collection",
    "lookalikes": "8c. Look-alikes across the split", "training": "9. Training",
    "attribution": "10. Attribution",
}



RENDER = {"overview": overview, "geography": geography, "photographers": photographers, "tags": tags,
          "duplicates": duplicates, "quality": quality, "label_issues": label_issues, "review": render_review,
          "splits": splits, "copies": copies, "lookalikes": render_lookalikes, "training": training,
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
            f"{changes_paragraph(report.get('changes'))}"
            f"{warnings(report.get('warnings') or [])}{stage_warnings(report.get('stage_warnings') or {})}"
            f"<nav>{''.join(nav)}</nav>{''.join(sections)}</body></html>\n")


def changes_paragraph(change: dict | None) -> str:
    """What changed since the report this folder held before (curate.report.changes), above the warnings."""
    from curate.report.changes import line

    text = line(change)
    return f'<p class="note changes">{e(text[0].upper() + text[1:])}.</p>' if text else ""


def stage_warnings(by_stage: dict[str, list[str]]) -> str:
    """What a stage did less than asked, or held (e.g. the geo filter on labels that are not places), above
    the sections."""
    return "".join(f'<p class="bad warning">{e(stage)}: {e(line)}</p>' for stage, lines in by_stage.items()
                   for line in lines)


def warnings(lines: list[str]) -> str:
    """What the report could not show exactly (e.g. plots drawn from a sample out of core), above the
    sections."""
    return "".join(f'<p class="bad warning">warning: {e(line)}</p>' for line in lines)
