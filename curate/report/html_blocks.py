"""The building blocks of the report page (curate.report.html): escaped text, rounded numbers, tables that
scroll in their own box, thumbnails, links, owners by name and galleries, shared by the section renderers
(`curate.report.html_sections`, and the review, look-alikes and collages parts).

Every piece of text goes through `html.escape`.
"""

from __future__ import annotations

from html import escape

TALL_ROWS = 25  # a table with more rows scrolls inside a box of about that height


def e(value) -> str:
    return escape("" if value is None else str(value))


def num(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return e(value)


def pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def table(headers: list[str], rows: list[list], left: int | set = 1, raw_headers: bool = False,
          tall: bool | None = None) -> str:
    """An HTML table (cells are HTML already; headers are escaped unless `raw_headers`) that scrolls
    inside its own box: sideways when wider than the page, and down when `tall` (default: more than
    TALL_ROWS rows), so long tables do not make the page long. `left`: how many first columns, or
    which column indices, hold text (left-aligned)."""
    text = set(range(left)) if isinstance(left, int) else set(left)
    head = "".join(f'<th class="{"l" if i in text else "r"}">{h if raw_headers else e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i in text else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    tall = len(rows) > TALL_ROWS if tall is None else tall
    return f'<div class="scroll{" tall" if tall else ""}"><table><tr>{head}</tr>{body}</table></div>'


def img(src: str | None, alt: str, width: int | None = None) -> str:
    if not src:
        return f'<div class="noimg" title="{e(alt)}"></div>'
    size = f' width="{width}"' if width else ""
    return f'<img src="{e(src)}" alt="{e(alt)}"{size}>'


def link(url: str | None, text: str | None = None) -> str:
    """A source URL as a link showing `text` (default: the URL); http(s) only, anything else stays
    text. Opening it is the reader's choice."""
    shown = url if text is None else text
    if not url or not str(url).lower().startswith(("http://", "https://")):
        return e(shown)
    return f'<a href="{e(url)}" rel="noopener noreferrer nofollow">{e(shown)}</a>'


def owner(owner_id, owner_name=None) -> str:
    """An owner by name when known, the owner id (e.g. a Flickr NSID) in its tooltip."""
    if owner_name and owner_name != owner_id:
        return f'<span title="{e(owner_id)}">{e(owner_name)}</span>'
    return e(owner_id)


def caption_value(photo: dict, field: str) -> str:
    """A gallery caption's value: owners by name, tag_labels as a comma list, numbers rounded."""
    value = photo.get(field)
    if field == "owner_id":
        return owner(value, photo.get("owner_name"))
    if isinstance(value, list):
        return e(", ".join(map(str, value)))
    return num(value)


def thumbnail(p: dict, width: int | None = None) -> str:
    """A photo's thumbnail, a link to its full image (when the report could find it)."""
    picture = img(p.get("thumb"), p.get("photo_id", ""), width)
    return f'<a href="{e(p["href"])}">{picture}</a>' if p.get("href") else picture


def gallery(g: dict, caption_fields: tuple[str, ...] = ("label", "owner_id")) -> str:
    """A gallery: thumbnails linked to the full image; the photo id linked to its page when known."""
    if not g or not g.get("total"):
        return '<p class="note">none</p>'
    figures = []
    for p in g["photos"]:
        caption = "<br>".join(f"{e(f)}: {caption_value(p, f)}" for f in caption_fields if p.get(f) is not None)
        title = link(p.get("page_url"), p.get("photo_id"))
        figures.append(f'<figure>{thumbnail(p)}<figcaption>{title}<br>{caption}</figcaption></figure>')
    more = f'<p class="note">showing {g["shown"]} of {g["total"]}</p>'
    return more + f'<div class="gallery">{"".join(figures)}</div>'


def absent(section: dict) -> str:
    return f'<p class="absent">Not available: {e(section["absent"])}.</p>'
